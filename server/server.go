package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// DefaultListen is where the server listens unless told otherwise:
// loopback only.
const DefaultListen = "127.0.0.1:7433"

// TokenFile is the name of the token file in the workspace.
const TokenFile = "serve.token"

// Options are what a Server is built from.
type Options struct {
	// Flow is the flow as loaded without a profile: its graph, and what
	// every profile runs when Load is nil.
	Flow *items.Flow
	// Load, when set, loads the flow for a profile with params set for one
	// execution (nil: the profile's own values). Its error is the client's
	// to fix (400).
	Load      func(profile string, params map[string]string) (*items.Flow, error)
	Workspace string
	// Listen is the address to listen on (DefaultListen when empty).
	Listen string
	// Jobs bounds the items in flight across every execution the server
	// runs, and within each (cmdctx.DefaultJobs when < 1).
	Jobs int
	// Logf, when set, is told what the server has to say (a notice, a
	// request that failed on the server's side).
	Logf func(format string, args ...any)
}

// Server serves one flow's executions over HTTP. Build it with New, run it
// with Serve; it is also the cmdctx.Target that signals stop.
type Server struct {
	opts    Options
	flow    *items.Flow // as loaded without a profile
	slots   *semaphore.Weighted
	token   string
	ln      net.Listener
	hosts   map[string]bool
	handler http.Handler

	// base bounds every execution the server starts; cancelled only by a
	// kill, or when Serve returns.
	base       context.Context
	cancelBase context.CancelFunc
	// streams bounds the event streams: they end when the server does.
	streams       context.Context
	cancelStreams context.CancelFunc

	mu       sync.Mutex
	profiles map[string]*profile
	runs     map[string]*run // executions this server started, by ID
	group    *errgroup.Group // the goroutines that wait for executions
	stopping bool
	stopped  chan struct{} // closed by the first Stop
	live     sync.WaitGroup
}

var _ cmdctx.Target = (*Server)(nil)

// New listens on opts.Listen and reads (or makes) the workspace's token.
// Nothing is served until Serve.
func New(opts Options) (*Server, error) {
	if opts.Flow == nil {
		return nil, errors.New("server: no flow")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Jobs < 1 {
		opts.Jobs = cmdctx.DefaultJobs
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	token, err := LoadToken(opts.Workspace, opts.Logf)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: opts, flow: opts.Flow, token: token,
		slots:    semaphore.NewWeighted(int64(opts.Jobs)),
		profiles: map[string]*profile{}, runs: map[string]*run{},
		group: &errgroup.Group{}, stopped: make(chan struct{}),
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	s.ln = ln
	s.hosts = allowedHosts(opts.Listen, ln.Addr())
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.streams, s.cancelStreams = context.WithCancel(context.Background())
	s.handler = s.routes()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the web page's address with the token in its fragment: the one
// place the token is shown.
func (s *Server) URL() string {
	port := s.ln.Addr().(*net.TCPAddr).Port
	host := "127.0.0.1"
	if h, _, err := net.SplitHostPort(s.opts.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		host = h
	}
	return fmt.Sprintf("http://%s/#token=%s", net.JoinHostPort(host, fmt.Sprint(port)), s.token)
}

// Handler is the server's HTTP handler (the page and the API, behind the
// host and token checks).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves until ctx ends or a Stop has let every execution end, then
// shuts down. After ctx ends, executions still running are stopped as a
// Stop does and waited for.
func (s *Server) Serve(ctx context.Context) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.streams },
		ErrorLog:          nil,
	}
	var g errgroup.Group
	g.Go(func() error {
		if err := hs.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-ctx.Done():
			s.Stop("server shutdown")
		case <-s.stopped:
		}
		// Every execution ends by the rules of stopping; then the event
		// streams end after their last event, and the server goes.
		s.live.Wait()
		s.mu.Lock()
		group := s.group
		s.mu.Unlock()
		_ = group.Wait()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			// Streams of executions run elsewhere would follow them on.
			time.Sleep(500 * time.Millisecond)
			s.cancelStreams()
		}()
		err := hs.Shutdown(shutdown)
		s.cancelStreams()
		s.cancelBase()
		if err != nil {
			_ = hs.Close()
		}
		return nil
	})
	return g.Wait()
}

// Stop is the first stage of stopping the server: no new execution
// starts, and each running one is stopped (its items in flight finish).
// Serve returns once they have ended.
func (s *Server) Stop(from string) {
	s.mu.Lock()
	first := !s.stopping
	s.stopping = true
	ps := s.profileList()
	s.mu.Unlock()
	if first {
		close(s.stopped)
		s.opts.Logf("stopping: no new execution starts; executions running finish their items in flight (again to cancel them)")
	}
	for _, cc := range ps {
		cc.InterruptAllFrom(from)
	}
}

// Cancel is the second stage: the items in flight are cancelled.
func (s *Server) Cancel(from string) {
	s.mu.Lock()
	ps := s.profileList()
	s.mu.Unlock()
	for _, cc := range ps {
		cc.InterruptAllFrom(from)
	}
}

// Kill is the last stage: every command in flight is killed and Serve
// returns at once.
func (s *Server) Kill() {
	s.mu.Lock()
	ps := s.profileList()
	s.mu.Unlock()
	for _, cc := range ps {
		cc.KillAll()
	}
	s.cancelBase()
	s.cancelStreams()
}

// Notice says something about stopping.
func (s *Server) Notice(msg string) { s.opts.Logf("%s", msg) }

// Stopping reports whether a Stop has been asked for.
func (s *Server) Stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// profileList is every CmdCtx the server has made: the profiles' and
// those of executions run with params of their own.
func (s *Server) profileList() []*cmdctx.CmdCtx {
	seen := map[*cmdctx.CmdCtx]bool{}
	var ccs []*cmdctx.CmdCtx
	add := func(cc *cmdctx.CmdCtx) {
		if !seen[cc] {
			seen[cc] = true
			ccs = append(ccs, cc)
		}
	}
	for _, p := range s.profiles {
		add(p.cc)
	}
	for _, x := range s.runs {
		add(x.cc)
	}
	return ccs
}

// profile is one profile's CmdCtx and the executions the server started
// in it.
type profile struct {
	name string
	flow *items.Flow // loaded for the profile
	cc   *cmdctx.CmdCtx

	// mu is held while an execution is queued and registered, and by Emit
	// before it looks one up, so no event of it goes unseen.
	mu     sync.Mutex
	runs   map[string]*run
	active string // the live execution the server started here
}

// profile returns the profile name's CmdCtx, made on first use.
func (s *Server) profile(name string) (*profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.profiles[name]; ok {
		return p, nil
	}
	p := &profile{name: name, runs: map[string]*run{}}
	flow, cc, err := s.newCmdCtx(p, nil)
	if err != nil {
		return nil, err
	}
	p.flow, p.cc = flow, cc
	s.profiles[name] = p
	return p, nil
}

// newCmdCtx loads the flow for p with params and makes a CmdCtx over it
// (see ccOver).
func (s *Server) newCmdCtx(p *profile, params map[string]string) (*items.Flow, *cmdctx.CmdCtx, error) {
	flow, err := s.loadFlow(p, params)
	if err != nil {
		return nil, nil, err
	}
	cc, err := s.ccOver(p, flow, params)
	if err != nil {
		return nil, nil, err
	}
	return flow, cc, nil
}

// loadFlow loads the flow for p with params.
func (s *Server) loadFlow(p *profile, params map[string]string) (*items.Flow, error) {
	flow := s.flow
	if s.opts.Load != nil {
		var err error
		if flow, err = s.opts.Load(p.name, params); err != nil {
			return nil, &loadError{err}
		}
	} else if len(params) > 0 {
		for _, name := range slices.Sorted(maps.Keys(params)) {
			return nil, &loadError{fmt.Errorf("flow %q has no param %q", flow.ID, name)}
		}
	}
	return flow, nil
}

// ccOver makes a CmdCtx of p over flow (the profile's, or one loaded for
// an execution's params, or a subset of either) whose items share the
// server's slots, so the items in flight across every execution stay
// within Jobs, and whose events go to p. Every CmdCtx of a profile shares
// its workspace, so its lock and records too.
func (s *Server) ccOver(p *profile, flow *items.Flow, params map[string]string) (*cmdctx.CmdCtx, error) {
	cc, err := cmdctx.New(cmdctx.Options{
		Workspace: s.opts.Workspace, Profile: p.name, Flow: flow, Jobs: s.opts.Jobs,
		Events: p, Strategy: cmdblock.FinishCurrent, Params: params, Slots: s.slots,
	})
	if err != nil {
		return nil, &loadError{err}
	}
	return cc, nil
}

// loadError: the flow could not be loaded for a profile and its params.
type loadError struct{ err error }

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// Emit routes an event of one of the profile's executions to it.
func (p *profile) Emit(ev progress.Event) {
	p.mu.Lock()
	r := p.runs[ev.Execution]
	p.mu.Unlock()
	if r != nil {
		r.emit(ev)
	}
}

// profileNames are the profiles of the workspace that have state of this
// flow, and those the server has used, sorted.
func (s *Server) profileNames() []string {
	names := map[string]bool{}
	entries, _ := os.ReadDir(s.opts.Workspace)
	for _, ent := range entries {
		if !ent.IsDir() || strings.HasPrefix(ent.Name(), ".") || !items.ID(ent.Name()).Valid() {
			continue
		}
		if fi, err := os.Stat(filepath.Join(s.opts.Workspace, ent.Name(), string(s.flow.ID))); err == nil && fi.IsDir() {
			names[ent.Name()] = true
		}
	}
	s.mu.Lock()
	for n := range s.profiles {
		names[n] = true
	}
	s.mu.Unlock()
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// LoadToken reads the token of `peace serve` from the workspace, or makes
// one (mode 0600) when there is none. A token file others can read is
// made private again, with a notice.
func LoadToken(workspace string, logf func(string, ...any)) (string, error) {
	path := filepath.Join(workspace, TokenFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(data))
		if len(tok) < 32 {
			return "", fmt.Errorf("%s: the token is too short (want 32 characters or more); remove the file to make a new one", path)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("%s: make it private: %w", path, err)
			}
			if logf != nil {
				logf("%s could be read by others; it is private (0600) now", path)
			}
		}
		return tok, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read the token: %w", err)
	}
	if err := os.MkdirAll(workspace, 0o755); err != nil {
		return "", fmt.Errorf("workspace: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadToken(workspace, logf) // made meanwhile by another server
	}
	if err != nil {
		return "", fmt.Errorf("write the token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write the token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("write the token: %w", err)
	}
	return tok, f.Close()
}

// allowedHosts are the Host headers the server answers: the listen
// address as given and as bound, and localhost and 127.0.0.1 with the
// port. Anything else may be a page of another site that made its name
// point here (DNS rebinding).
func allowedHosts(listen string, addr net.Addr) map[string]bool {
	port := fmt.Sprint(addr.(*net.TCPAddr).Port)
	hosts := map[string]bool{
		addr.String():                       true,
		net.JoinHostPort("localhost", port): true,
		net.JoinHostPort("127.0.0.1", port): true,
	}
	if h, p, err := net.SplitHostPort(listen); err == nil && p == port && h != "" {
		hosts[net.JoinHostPort(h, port)] = true
	}
	return hosts
}
