package cmdctx

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/internal/procgroup"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// armedCrash is set by ArmCrashPoints.
var armedCrash atomic.Bool

// DefaultJobs is how many items run at once unless told otherwise. Items are
// mostly I/O-bound (commands, files, downloads), so more than the core count
// pays; 8 keeps a laptop responsive and a CI runner's process table sane.
const DefaultJobs = 8

// Options is what a CmdCtx is built from.
type Options struct {
	Workspace string // directory where state lives
	Profile   string // environment name, "default" when empty
	Flow      *items.Flow
	Jobs      int // items run at once; DefaultJobs when < 1
	// Events receives every progress event; Discard when nil.
	Events progress.Sink
	// LockWait is how long to wait for another run's lock; 0 fails at once.
	LockWait time.Duration
	// Strategy is how executions react to interrupts.
	Strategy cmdblock.Strategy
	// KeepGoing: an item that fails does not stop the items that do not
	// need it.
	KeepGoing bool
	// Slots, when set, bounds the items in flight across every CmdCtx
	// that shares it, on top of Jobs (a server running several profiles).
	Slots *semaphore.Weighted
	// Params are the flow params' values this CmdCtx's executions use;
	// they are kept in each execution's record.
	Params map[string]string
	// OnRunning, when set, is called once an execution that applies holds
	// the lock, its record says running and the process groups an earlier
	// run left running are killed (a detached runner tells the command
	// that started it).
	OnRunning func(id string)
	// Crash, when set, is called at named points for crash tests.
	Crash func(point string)
}

// CmdCtx runs CmdExecutions over one flow, one profile, one workspace.
type CmdCtx struct {
	opts      Options
	store     *state.Store
	emitter   *progress.Emitter
	recorders recorders // the records of running executions

	mu      sync.Mutex
	queue   []*execution
	byID    map[string]*execution
	running bool
}

// New checks opts and returns a CmdCtx.
func New(opts Options) (*CmdCtx, error) {
	if opts.Flow == nil {
		return nil, errors.New("cmdctx: no flow")
	}
	if opts.Profile == "" {
		opts.Profile = "default"
	}
	if !items.ID(opts.Profile).Valid() {
		return nil, fmt.Errorf("profile %q is malformed: want [a-z][a-z0-9_]*", opts.Profile)
	}
	if opts.Jobs < 1 {
		opts.Jobs = DefaultJobs
	}
	if opts.Crash == nil && armedCrash.Load() {
		opts.Crash = state.CrashPoint
	}
	c := &CmdCtx{
		opts:  opts,
		store: state.Open(state.Dir(opts.Workspace, opts.Profile, string(opts.Flow.ID))),
		byID:  map[string]*execution{},
	}
	c.emitter = progress.NewEmitter(progress.Tee(opts.Events, &c.recorders))
	return c, nil
}

// Stored is what is recorded for this flow and profile, as a states
// result: no lock is taken and nothing is written; a journal a killed run
// left behind is replayed in memory only.
func (c *CmdCtx) Stored() (*cmdexecution.Result, error) {
	rec, err := c.store.Load()
	if err != nil {
		return nil, err
	}
	unknown, inProgress := map[string]bool{}, map[string]bool{}
	for _, u := range rec.Unknown {
		unknown[u] = true
	}
	for _, u := range rec.InProgress {
		inProgress[u] = true
	}
	r := &cmdexecution.Result{Command: "status --stored", View: cmdexecution.ViewStates, Outcome: "complete",
		Stored: true, Notices: rec.Notices}
	for _, it := range c.opts.Flow.Items() {
		ir := cmdexecution.ItemResult{ID: string(it.ID()), Type: it.Type(), Unknown: unknown[string(it.ID())],
			InProgress: inProgress[string(it.ID())]}
		if raw, ok := rec.Current[string(it.ID())]; ok && raw != nil {
			ir.State, ir.Known = raw, true
			if st, err := it.DecodeState(raw); err == nil {
				ir.State = st
			}
			ir.Summary = items.Summary(ir.State)
		}
		r.Items = append(r.Items, ir)
	}
	return r, nil
}

// Unlock removes the lock of this flow and profile if its holder is
// provably gone, and says whose it was (nil: there was none).
func (c *CmdCtx) Unlock() (*state.LockInfo, error) { return c.store.Unlock() }

// Flow is the flow this CmdCtx runs.
func (c *CmdCtx) Flow() *items.Flow { return c.opts.Flow }

// Emit sends an event through this CmdCtx's emitter (for notices the caller
// has to give, like a fatal error, in the same stream).
func (c *CmdCtx) Emit(ev progress.Event) { c.emitter.Emit(ev) }

type execution struct {
	id        string
	exec      *cmdexecution.CmdExecution
	interrupt *cmdblock.Interrupt
	done      chan struct{}
	result    *cmdexecution.Result
	err       error
	// watchdog covers the process groups the execution's items start:
	// none outlives this process, and none outlives the execution.
	watchdog procgroup.Watchdog

	mu      sync.Mutex
	journal *state.Journal // while the execution applies
}

func (x *execution) setJournal(j *state.Journal) {
	x.mu.Lock()
	x.journal = j
	x.mu.Unlock()
}

// signal records an interrupt stage in the journal, if one is open.
func (x *execution) signal(stage string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.journal != nil {
		_ = x.journal.Signal(stage) // best effort: the stage is also an event
	}
}

// Queue adds e to the queue and returns its execution ID at once. Queued
// executions run one at a time, in order; ctx bounds this one.
func (c *CmdCtx) Queue(ctx context.Context, e *cmdexecution.CmdExecution) string {
	x := &execution{
		id:        state.NewExecutionID(),
		exec:      e,
		interrupt: cmdblock.NewInterrupt(ctx, c.opts.Strategy),
		done:      make(chan struct{}),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, x)
	c.byID[x.id] = x
	if !c.running {
		c.running = true
		go c.drain(ctx)
	}
	return x.id
}

// drain runs queued executions until the queue is empty; it is the only
// goroutine that runs executions, and it ends when there is nothing left.
func (c *CmdCtx) drain(ctx context.Context) {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		x := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		x.result, x.err = c.run(x)
		x.interrupt.Release()
		close(x.done)
	}
}

// Wait blocks until the execution id has ended (or ctx ends) and returns
// its result.
func (c *CmdCtx) Wait(ctx context.Context, id string) (*cmdexecution.Result, error) {
	c.mu.Lock()
	x, ok := c.byID[id]
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no execution %q", id)
	}
	select {
	case <-x.done:
		c.mu.Lock()
		delete(c.byID, id)
		c.mu.Unlock()
		return x.result, x.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Exec queues e and waits for it.
func (c *CmdCtx) Exec(ctx context.Context, e *cmdexecution.CmdExecution) (*cmdexecution.Result, error) {
	return c.Wait(ctx, c.Queue(ctx, e))
}

// Interrupt advances the interrupt stage of execution id (stop, then
// cancel) and announces the stage. A queued execution that has not started
// yet will not run any block.
func (c *CmdCtx) Interrupt(id string) (cmdblock.Stage, error) {
	c.mu.Lock()
	x, ok := c.byID[id]
	c.mu.Unlock()
	if !ok {
		return cmdblock.Running, fmt.Errorf("no execution %q", id)
	}
	return c.interrupt(x, ""), nil
}

// InterruptAll advances every known execution by one stage and returns the
// furthest stage reached.
func (c *CmdCtx) InterruptAll() cmdblock.Stage { return c.InterruptAllFrom("") }

// InterruptAllFrom is InterruptAll saying where the interrupt came from
// ("SIGTERM", "Ctrl-C"), which the stage's event carries for the views.
func (c *CmdCtx) InterruptAllFrom(from string) cmdblock.Stage {
	c.mu.Lock()
	xs := make([]*execution, 0, len(c.byID))
	for _, x := range c.byID {
		xs = append(xs, x)
	}
	c.mu.Unlock()
	furthest := cmdblock.Running
	for _, x := range xs {
		furthest = max(furthest, c.interrupt(x, from))
	}
	return furthest
}

// KillAll is the last stage of an interrupt: SIGKILL to every process
// group in flight, in every execution, and no new one runs. The journal
// keeps the record consistent; the caller exits.
func (c *CmdCtx) KillAll() {
	c.mu.Lock()
	xs := make([]*execution, 0, len(c.byID))
	for _, x := range c.byID {
		xs = append(xs, x)
	}
	c.mu.Unlock()
	for _, x := range xs {
		c.killExecution(x)
	}
}

// killExecution is the last stage for one execution: SIGKILL to every
// process group it has in flight, and its items' contexts cancelled.
func (c *CmdCtx) killExecution(x *execution) {
	// Cancelled first, so that what the kill ends reads as interrupted,
	// not as a command that failed on its own.
	for x.interrupt.Stage() < cmdblock.Cancelling {
		before := x.interrupt.Stage()
		if c.interrupt(x, "") == before {
			break
		}
	}
	x.signal("kill")
	x.watchdog.Kill()
}

func (c *CmdCtx) interrupt(x *execution, from string) cmdblock.Stage {
	before := x.interrupt.Stage()
	stage, inFlight := x.interrupt.Advance()
	if stage == before {
		return stage
	}
	ev := progress.Event{Execution: x.id, Stage: stage.String(), InFlight: inFlight, Message: from}
	ev.Type = progress.InterruptReceived
	if stage == cmdblock.Cancelling {
		ev.Type = progress.CancelRequested
	}
	c.emitter.Emit(ev)
	x.signal(stage.String())
	return stage
}

// workspaceAbs is the workspace as an absolute path, for events.
func (c *CmdCtx) workspaceAbs() string {
	if abs, err := filepath.Abs(c.opts.Workspace); err == nil {
		return abs
	}
	return c.opts.Workspace
}
