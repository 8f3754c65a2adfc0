package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/plain"
	"github.com/peace-go/peace/progress/tui"
)

// killWait is how long, after the third interrupt, the execution has to
// end and print its outcome before peace exits without it.
const killWait = time.Second

// session is one command's run: the loaded flow, the progress view and the
// CmdCtx, plus the routing of interrupts (signals and keys) to it.
type session struct {
	g       *GlobalOptions
	command string
	flow    *items.Flow
	view    progress.View
	cc      *cmdctx.CmdCtx

	keys      chan struct{} // Ctrl-C pressed in the terminal view
	closeOnce sync.Once
}

// survivePipes makes a closed stdout or stderr (a terminal that has gone,
// a pipe whose reader quit) fail writes instead of killing peace mid-run.
// SIGPIPE is caught, not ignored, so the commands items start still get
// the default.
var survivePipes = sync.OnceFunc(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) })

// open loads the flow and starts the view for command. Nothing is written.
func (g *GlobalOptions) open(command string) (*session, error) {
	survivePipes()
	// Only a run that records anything writes the flow cache.
	flow, err := g.loadFlowCaching(command == string(items.OpEnsure) || command == string(items.OpClean))
	if err != nil {
		return nil, err
	}
	if len(g.Items) > 0 {
		ids := make([]items.ID, len(g.Items))
		for i, id := range g.Items {
			ids[i] = items.ID(id)
		}
		// A clean of an item first cleans what stands on it.
		if flow, err = flow.Subset(ids, strings.HasPrefix(command, "clean")); err != nil {
			return nil, usageError{err}
		}
	}
	s := &session{g: g, command: command, flow: flow, keys: make(chan struct{}, 4)}
	var onRunning func(string)
	if g.DetachedRunner {
		g.Progress = "none" // its record has every event
		onRunning = g.detachedRunner()
	}
	s.view = g.newView(s.keys)
	s.cc, err = cmdctx.New(cmdctx.Options{
		Workspace: g.workspace(), Profile: g.Profile, Flow: flow, Params: flow.Params, Jobs: g.Jobs,
		Events: s.view, LockWait: g.LockTimeout, KeepGoing: g.KeepGoing, OnRunning: onRunning,
	})
	if err != nil {
		s.close()
		return nil, inputError{err}
	}
	return s, nil
}

// loadFlow loads the flow file, through the workspace's flow cache, which
// it does not write.
func (g *GlobalOptions) loadFlow() (*items.Flow, error) { return g.loadFlowCaching(false) }

// loadFlowCaching is loadFlow that, with write, puts the flow in the cache
// when the cache did not have it.
func (g *GlobalOptions) loadFlowCaching(write bool) (*items.Flow, error) {
	path := g.FlowFile
	flow, err := cmdctx.LoadFlow(path, g.Types, items.WithProfile(g.Profile), items.WithParams(g.ParamValues),
		cmdctx.FlowCache(g.workspace(), write))
	var ie *items.InputError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, inputError{fmt.Errorf("%w (write a starter flow with `peace init`, or name one with -f)", err)}
	case err != nil && !errors.As(err, &ie):
		return nil, inputError{err}
	}
	return flow, err
}

// newView picks the progress view on stderr.
func (g *GlobalOptions) newView(keys chan<- struct{}) progress.View {
	io := g.IO
	mode := g.Progress
	if mode == "auto" {
		mode = "plain"
		if io.ErrTTY {
			mode = "tui"
		}
	}
	switch mode {
	case "json":
		return progress.NewJSON(io.ErrOut)
	case "none":
		return plain.NewQuiet(io.ErrOut)
	case "tui":
		v, err := tui.New(io.ErrOut, tui.Options{
			In:      io.In,
			NoColor: !g.color(io.ErrTTY),
			OnInterrupt: func() {
				select {
				case keys <- struct{}{}:
				default:
				}
			},
		})
		if err == nil {
			return v
		}
		fmt.Fprintf(io.ErrOut, "peace: terminal view unavailable (%v); showing plain progress\n", err)
	}
	return plain.New(io.ErrOut)
}

// close ends the view (restoring the terminal); results print after it.
func (s *session) close() {
	s.closeOnce.Do(func() {
		// The run itself is unaffected, but a view that failed (a closed
		// stderr, a terminal that went away) may have shown less than
		// happened: say so where it can still be seen.
		if err := s.view.Close(); err != nil {
			fmt.Fprintf(s.g.IO.ErrOut, "peace: progress view: %v\n", err)
		}
	})
}

// exec runs e to its end while routing interrupts to it through the
// library's interrupt source: signals and the terminal view's Ctrl-C are
// its presses. After the third press it returns at once with
// ExitInterrupted — the journal keeps what was recorded.
func (s *session) exec(ctx context.Context, e *cmdexecution.CmdExecution) (*cmdexecution.Result, error) {
	waitCtx, abandon := context.WithCancel(ctx)
	defer abandon()
	src := s.cc.Interrupts(cmdctx.InterruptOptions{
		Signals: cmdctx.StopSignals, StopTimeout: s.g.StopTimeout,
		// Everything in flight is killed: the execution ends at once and its
		// outcome is printed, unless something holds it up (a daemon that
		// kept its output open): then it is left behind after killWait.
		OnKill: func() { time.AfterFunc(killWait, abandon) },
	})
	defer src.Close()
	keysDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-keysDone:
				return
			case <-s.keys:
				src.Press("Ctrl-C")
			}
		}
	})
	defer func() { close(keysDone); wg.Wait() }()

	id := s.cc.Queue(ctx, e)
	res, err := s.cc.Wait(waitCtx, id)
	if err != nil && waitCtx.Err() != nil && ctx.Err() == nil {
		// The third interrupt: leave the execution behind.
		s.closeWithin(time.Second)
		return nil, outcomeError{ExitInterrupted}
	}
	return res, err
}

// closeWithin closes the view but gives up after d, so a stuck terminal
// never holds the process.
func (s *session) closeWithin(d time.Duration) {
	closed := make(chan struct{})
	go func() { s.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(d):
	}
}

// outcomeCode is the exit code of an execution that ran.
func outcomeCode(r *cmdexecution.Result) error {
	if c := r.ExitCode(); c != 0 {
		return outcomeError{ExitCode(c)}
	}
	return nil
}
