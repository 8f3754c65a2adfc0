package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/graph"
	"github.com/peace-go/peace/progress"
)

// maxBody bounds a request body: the API's bodies are a few hundred bytes.
const maxBody = 64 << 10

// stageWait bounds how long an interrupt waits for the execution to
// announce the stage with its items in flight.
const stageWait = 5 * time.Second

// apiError is an error as the API returns it.
type apiError struct {
	Status int    `json:"-"`
	Msg    string `json:"error"`
	Code   string `json:"code"`
	// Field names the part of the request body that is wrong.
	Field string `json:"field,omitempty"`
	// Execution is the live execution that holds the lock (409).
	Execution string `json:"execution,omitempty"`
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func fieldError(field, format string, args ...any) *apiError {
	e := errorf(http.StatusBadRequest, "bad_request", "%s: %s", field, fmt.Sprintf(format, args...))
	e.Field = field
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = toAPIError(err)
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="peace"`)
	}
	writeJSON(w, ae.Status, ae)
}

// toAPIError maps the library's errors to statuses.
func toAPIError(err error) *apiError {
	var unknown *cmdctx.UnknownExecutionError
	var locked *cmdctx.LockedError
	var corrupt *cmdctx.CorruptError
	var version *cmdctx.VersionError
	switch {
	case errors.As(err, &unknown):
		return errorf(http.StatusNotFound, "not_found", "no execution %q", unknown.ID)
	case errors.As(err, &locked):
		e := errorf(http.StatusConflict, "locked", "%s", err.Error())
		e.Execution = locked.Holder.Execution
		return e
	case errors.As(err, &corrupt), errors.As(err, &version):
		return errorf(http.StatusInternalServerError, "state", "%s", err.Error())
	}
	return errorf(http.StatusInternalServerError, "internal", "%s", err.Error())
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/executions", s.handle(s.listExecutions))
	api.HandleFunc("POST /api/v1/executions", s.handle(s.startExecution))
	api.HandleFunc("GET /api/v1/executions/{id}", s.handle(s.getExecution))
	api.HandleFunc("GET /api/v1/executions/{id}/events", s.events)
	api.HandleFunc("POST /api/v1/executions/{id}/interrupt", s.handle(s.interrupt))
	api.HandleFunc("GET /api/v1/executions/{id}/outcome", s.outcome)
	api.HandleFunc("GET /api/v1/executions/{id}/logs/{item}", s.logs)
	api.HandleFunc("GET /api/v1/graph", s.handle(s.graph))
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no such API call: %s %s", r.Method, r.URL.Path))
	})

	root := http.NewServeMux()
	root.Handle("/api/", s.authorized(api))
	root.Handle("/", pageHandler())
	return s.checkHost(root)
}

// checkHost refuses requests whose Host is not an address of this server
// (DNS rebinding: another site's name pointed at 127.0.0.1).
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts[strings.ToLower(r.Host)] {
			writeError(w, errorf(http.StatusForbidden, "forbidden_host", "host %q is not this server's address", r.Host))
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// authorized lets through requests that carry the token, compared in
// constant time.
func (s *Server) authorized(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeError(w, errorf(http.StatusUnauthorized, "unauthorized",
				"missing or wrong token: send Authorization: Bearer TOKEN (the token is in %s)", TokenFile))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// handle adapts a handler that returns a status and a value, or an error.
func (s *Server) handle(fn func(*http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, v, err := fn(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = toAPIError(err)
			}
			if ae.Status >= 500 {
				s.opts.Logf("%s %s: %v", r.Method, r.URL.Path, err)
			}
			writeError(w, ae)
			return
		}
		writeJSON(w, status, v)
	}
}

// decodeBody decodes the JSON body of r into v, naming the field that is
// wrong. An empty body leaves v as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "body: larger than %d bytes", maxBody)
	case errors.As(err, &syntax):
		e := errorf(http.StatusBadRequest, "bad_request", "body: malformed JSON at byte %d: %v", syntax.Offset, err)
		e.Field = "body"
		return e
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fieldError(field, "want %s, got %s", typ.Type, typ.Value)
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldError(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		e := errorf(http.StatusBadRequest, "bad_request", "body: JSON cut short")
		e.Field = "body"
		return e
	case err != nil:
		e := errorf(http.StatusBadRequest, "bad_request", "body: %v", err)
		e.Field = "body"
		return e
	}
	if dec.More() {
		e := errorf(http.StatusBadRequest, "bad_request", "body: more than one JSON value")
		e.Field = "body"
		return e
	}
	return nil
}

// StartRequest is the body of POST /api/v1/executions.
type StartRequest struct {
	Command string            `json:"command"`
	Profile string            `json:"profile"`
	DryRun  bool              `json:"dry_run"`
	Params  map[string]string `json:"params"`
	Items   []string          `json:"items"`
}

var commands = []string{"ensure", "clean", "status", "diff"}

// recipe checks req against the flow and returns its execution.
func (s *Server) recipe(req *StartRequest) (*cmdexecution.CmdExecution, error) {
	if req.Command == "" {
		return nil, fieldError("command", "required: one of %s", strings.Join(commands, ", "))
	}
	if req.Profile == "" {
		req.Profile = "default"
	}
	if !items.ID(req.Profile).Valid() {
		return nil, fieldError("profile", "%q is malformed: want [a-z][a-z0-9_]*", req.Profile)
	}
	switch req.Command {
	case "ensure":
		return cmdexecution.Ensure(req.DryRun), nil
	case "clean":
		return cmdexecution.Clean(req.DryRun), nil
	case "status", "diff":
		if req.DryRun {
			return nil, fieldError("dry_run", "%s changes nothing: only ensure and clean have a dry run", req.Command)
		}
		if req.Command == "status" {
			return cmdexecution.Status(), nil
		}
		return cmdexecution.Diff(), nil
	}
	return nil, fieldError("command", "%q: want one of %s", req.Command, strings.Join(commands, ", "))
}

// selectItems is flow cut down to ids and what they need, and for a clean
// also what needs them, as --item does on the command line; no ids: the
// whole flow. An ID not in the flow is an error naming items[i].
func selectItems(flow *items.Flow, ids []string, command string) (*items.Flow, error) {
	if len(ids) == 0 {
		return flow, nil
	}
	sel := make([]items.ID, len(ids))
	for i, id := range ids {
		if flow.Item(items.ID(id)) == nil {
			return nil, fieldError(fmt.Sprintf("items[%d]", i), "flow %q has no item %q%s", flow.ID, id,
				items.DidYouMean(id, idStrings(flow)))
		}
		sel[i] = items.ID(id)
	}
	// A clean of an item first cleans what stands on it.
	sub, err := flow.Subset(sel, command == "clean")
	if err != nil {
		return nil, fieldError("items", "%v", err)
	}
	return sub, nil
}

// startExecution queues the execution and answers once it runs (it holds
// the lock: 202) or could not (409 with the holder's ID).
func (s *Server) startExecution(r *http.Request) (int, any, error) {
	var req StartRequest
	if err := decodeBody(nil, r, &req); err != nil {
		return 0, nil, err
	}
	e, err := s.recipe(&req)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.profile(req.Profile)
	if err != nil {
		return 0, nil, fieldError("profile", "%v", err)
	}
	// An execution with params or items of its own runs in a CmdCtx of its
	// own over the flow so loaded and cut; it shares the profile's
	// workspace (its lock and records), the server's slots and the
	// profile's events.
	flow, cc := p.flow, p.cc
	if len(req.Params) > 0 {
		if flow, err = s.loadFlow(p, req.Params); err != nil {
			return 0, nil, fieldError("params", "%v", err)
		}
	}
	if flow, err = selectItems(flow, req.Items, req.Command); err != nil {
		return 0, nil, err
	}
	if flow != p.flow {
		if cc, err = s.ccOver(p, flow, req.Params); err != nil {
			return 0, nil, err
		}
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return 0, nil, errorf(http.StatusServiceUnavailable, "stopping", "the server is stopping: it starts no new execution")
	}
	s.live.Add(1)
	group := s.group
	s.mu.Unlock()

	p.mu.Lock()
	for p.active != "" {
		holder := p.runs[p.active]
		p.mu.Unlock()
		// An execution whose record has ended is all but gone: its
		// goroutine is about to let the profile go.
		if e, _, _, err := s.lookup(holder.id); err == nil && e.State.Ended() {
			select {
			case <-holder.done:
				p.mu.Lock()
				continue
			case <-time.After(5 * time.Second):
			}
		}
		s.live.Done()
		ae := errorf(http.StatusConflict, "locked", "profile %s is busy with execution %s", p.name, holder.id)
		ae.Execution = holder.id
		return 0, nil, ae
	}
	id := cc.Queue(s.base, e)
	var mem *memExec
	if !e.Applies() {
		mem = newMemExec(id, e.Command, string(s.flow.ID), p.name, p.ccWorkspace(s), idStrings(flow))
		for k, v := range req.Params {
			mem.e.Params[k] = v
		}
	}
	x := newRun(id, p, cc, mem)
	p.runs[id] = x
	p.active = id
	p.mu.Unlock()
	s.mu.Lock()
	s.runs[id] = x
	s.mu.Unlock()

	group.Go(func() error {
		defer s.live.Done()
		x.res, x.err = cc.Wait(context.Background(), id)
		if mem != nil {
			mem.finish(x.res, x.err)
		}
		p.mu.Lock()
		if p.active == id {
			p.active = ""
		}
		p.mu.Unlock()
		close(x.done)
		return nil
	})

	select {
	case <-x.started:
	case <-x.done:
	case <-r.Context().Done():
		return 0, nil, r.Context().Err()
	}
	if !x.ran.Load() {
		<-x.done // it ended before it ran: the lock, or bad state
	}
	select {
	case <-x.done:
		if x.err != nil && x.res == nil {
			// It never ran: no record was left, forget it.
			s.mu.Lock()
			delete(s.runs, id)
			s.mu.Unlock()
			p.mu.Lock()
			delete(p.runs, id)
			p.mu.Unlock()
			return 0, nil, x.err
		}
	default:
	}
	ex, _, _, err := s.lookup(id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, ex, nil
}

// ccWorkspace is the workspace as executions name it (absolute).
func (p *profile) ccWorkspace(s *Server) string {
	if abs, err := absPath(s.opts.Workspace); err == nil {
		return abs
	}
	return s.opts.Workspace
}

func idStrings(flow *items.Flow) []string {
	ids := make([]string, 0, flow.Len())
	for _, it := range flow.Items() {
		ids = append(ids, string(it.ID()))
	}
	return ids
}

// lookup finds execution id: one in memory, or a record of any profile.
func (s *Server) lookup(id string) (*cmdctx.Execution, *profile, *run, error) {
	s.mu.Lock()
	x := s.runs[id]
	s.mu.Unlock()
	if x != nil && x.mem != nil {
		e := x.mem.snapshot()
		return &e, x.p, x, nil
	}
	var names []string
	if x != nil {
		names = append(names, x.p.name)
	}
	names = append(names, s.profileNames()...)
	for _, name := range names {
		p, err := s.profile(name)
		if err != nil {
			continue
		}
		e, err := p.cc.Execution(id)
		var unknown *cmdctx.UnknownExecutionError
		if errors.As(err, &unknown) {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		return e, p, x, nil
	}
	return nil, nil, nil, &cmdctx.UnknownExecutionError{ID: id}
}

func (s *Server) listExecutions(r *http.Request) (int, any, error) {
	p, err := s.profile("default")
	if err != nil {
		return 0, nil, err
	}
	execs, notices, err := p.cc.Executions(true)
	if err != nil {
		return 0, nil, err
	}
	for _, n := range notices {
		s.opts.Logf("%s", n)
	}
	s.mu.Lock()
	for _, x := range s.runs {
		if x.mem != nil {
			execs = append(execs, x.mem.snapshot())
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(execs, func(a, b cmdctx.Execution) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if execs == nil {
		execs = []cmdctx.Execution{}
	}
	return http.StatusOK, map[string]any{"executions": execs}, nil
}

func (s *Server) getExecution(r *http.Request) (int, any, error) {
	e, _, _, err := s.lookup(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e, nil
}

// InterruptRequest is the body of POST .../interrupt.
type InterruptRequest struct {
	Stage string `json:"stage"`
}

// InterruptResponse is what a 202 to an interrupt says.
type InterruptResponse struct {
	Execution string   `json:"execution"`
	Stage     string   `json:"stage"`
	InFlight  []string `json:"in_flight"`
}

func (s *Server) interrupt(r *http.Request) (int, any, error) {
	req := InterruptRequest{Stage: "stop"}
	if err := decodeBody(nil, r, &req); err != nil {
		return 0, nil, err
	}
	var stage cmdctx.ControlStage
	switch req.Stage {
	case "stop", "":
		stage, req.Stage = cmdctx.StageStop, "stop"
	case "cancel":
		stage = cmdctx.StageCancel
	case "kill":
		stage = cmdctx.StageKill
	default:
		return 0, nil, fieldError("stage", "%q: want stop, cancel or kill", req.Stage)
	}
	id := r.PathValue("id")
	e, p, x, err := s.lookup(id)
	if err != nil {
		return 0, nil, err
	}
	if !e.State.Live() {
		return s.finished(e, p, x)
	}
	if x != nil && x.mem != nil {
		return s.interruptMem(x, stage)
	}
	e, err = p.cc.InterruptByID(id, stage)
	if err != nil {
		var nl *cmdctx.NotListeningError
		if errors.As(err, &nl) {
			return 0, nil, errorf(http.StatusConflict, "lost", "execution %s is lost: %v", id, err)
		}
		return 0, nil, err
	}
	if !e.State.Live() {
		return s.finished(e, p, x)
	}
	inFlight := s.announced(r.Context(), p, e, stage)
	return http.StatusAccepted, InterruptResponse{Execution: id, Stage: req.Stage, InFlight: inFlight}, nil
}

// announced waits (bounded) for the event in which the execution
// announces the stage, and returns the items in flight it names.
func (s *Server) announced(ctx context.Context, p *profile, e *cmdctx.Execution, stage cmdctx.ControlStage) []string {
	ctx, cancel := context.WithTimeout(ctx, stageWait)
	defer cancel()
	errFound := errors.New("found")
	inFlight := []string{}
	_, _ = p.cc.Follow(ctx, e.ID, e.LastSeq+1, func(ev progress.Event) error {
		switch {
		case ev.Type == progress.InterruptReceived && stage == cmdctx.StageStop,
			ev.Type == progress.CancelRequested && stage != cmdctx.StageStop,
			ev.Type == progress.ItemInterrupted && stage == cmdctx.StageKill,
			ev.Type == progress.ExecutionEnd:
			if ev.InFlight != nil {
				inFlight = ev.InFlight
			}
			return errFound
		}
		return nil
	})
	return inFlight
}

// interruptMem advances an execution kept in memory to stage.
func (s *Server) interruptMem(x *run, stage cmdctx.ControlStage) (int, any, error) {
	cc := x.cc
	want := cmdctxStage(stage)
	for {
		before := x.mem.snapshot().State
		if stageRank(before) >= want {
			break
		}
		if _, err := cc.Interrupt(x.id); err != nil {
			break // ended meanwhile
		}
		if x.mem.snapshot().State == before {
			break // interrupts ignored
		}
	}
	e := x.mem.snapshot()
	if !e.State.Live() {
		return s.finished(&e, x.p, x)
	}
	inFlight := []string{}
	for _, id := range idStrings(s.flow) {
		if e.Items[id] == "running" {
			inFlight = append(inFlight, id)
		}
	}
	return http.StatusAccepted, InterruptResponse{Execution: x.id, Stage: string(stage), InFlight: inFlight}, nil
}

// cmdctxStage is how far stage takes an execution: stop 1, cancel and
// kill 2 (a kill cancels every item in flight).
func cmdctxStage(stage cmdctx.ControlStage) int {
	if stage == cmdctx.StageStop {
		return 1
	}
	return 2
}

func stageRank(s cmdctx.ExecState) int {
	switch s {
	case "stopping":
		return 1
	case "cancelling":
		return 2
	case "queued", "running":
		return 0
	}
	return 3
}

// finished answers an interrupt of an execution that has ended: its
// outcome (200).
func (s *Server) finished(e *cmdctx.Execution, p *profile, x *run) (int, any, error) {
	doc, err := s.outcomeOf(e, p, x)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, json.RawMessage(doc), nil
}

// outcomeOf is the result of a finished execution.
func (s *Server) outcomeOf(e *cmdctx.Execution, p *profile, x *run) ([]byte, error) {
	if x != nil && x.mem != nil {
		doc, ended := x.mem.result()
		switch {
		case !ended:
			return nil, errorf(http.StatusNotFound, "running", "execution %s is %s: it has no outcome yet", e.ID, e.State)
		case doc == nil:
			return nil, errorf(http.StatusNotFound, "no_outcome", "execution %s failed before it ran: it has no outcome", e.ID)
		}
		return doc, nil
	}
	doc, err := p.cc.Outcome(e.ID)
	switch {
	case errors.Is(err, cmdctx.ErrNoOutcome) && e.State == "lost":
		return nil, errorf(http.StatusNotFound, "lost", "execution %s is lost: its process (pid %d on %s) is gone without finishing; the next command recovers its items", e.ID, e.PID, e.Host)
	case errors.Is(err, cmdctx.ErrNoOutcome):
		return nil, errorf(http.StatusNotFound, "running", "execution %s is %s: it has no outcome yet", e.ID, e.State)
	case err != nil:
		return nil, err
	}
	return doc, nil
}

func (s *Server) outcome(w http.ResponseWriter, r *http.Request) {
	e, p, x, err := s.lookup(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if e.State.Live() {
		writeError(w, errorf(http.StatusNotFound, "running", "execution %s is %s: it has no outcome yet", e.ID, e.State))
		return
	}
	doc, err := s.outcomeOf(e, p, x)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	id, item := r.PathValue("id"), r.PathValue("item")
	e, p, x, err := s.lookup(id)
	if err != nil {
		writeError(w, err)
		return
	}
	var data []byte
	if x != nil && x.mem != nil {
		var ok bool
		if data, ok = x.mem.log(item); !ok {
			err = fs.ErrNotExist
		}
	} else {
		data, err = p.cc.Log(e.ID, item)
	}
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, errorf(http.StatusNotFound, "no_log", "execution %s has no log of %q: it printed nothing, or never ran", e.ID, item))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(data)
}

func (s *Server) graph(r *http.Request) (int, any, error) {
	name := r.URL.Query().Get("profile")
	if name == "" {
		name = "default"
	}
	if !items.ID(name).Valid() {
		return 0, nil, fieldError("profile", "%q is malformed: want [a-z][a-z0-9_]*", name)
	}
	p, err := s.profile(name)
	if err != nil {
		return 0, nil, err
	}
	g, err := Graph(p.cc, p.flow, name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, g, nil
}

// Graph is flow's graph with what cc has recorded of each item: the graph
// `peace graph --status` prints and the page draws.
func Graph(cc *cmdctx.CmdCtx, flow *items.Flow, profile string) (*graph.Graph, error) {
	res, err := cc.Stored()
	if err != nil {
		return nil, err
	}
	rec := map[string]graph.Recorded{}
	for _, it := range res.Items {
		switch {
		case it.InProgress:
			rec[it.ID] = graph.Recorded{Status: graph.StatusInProgress, Summary: it.Summary}
		case it.Unknown:
			rec[it.ID] = graph.Recorded{Status: graph.StatusUnknown, Summary: it.Summary}
		case it.Known:
			rec[it.ID] = graph.Recorded{Status: graph.StatusRecorded, Summary: it.Summary}
		}
	}
	return graph.Build(flow).WithStatus(profile, rec), nil
}
