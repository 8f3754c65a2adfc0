package cmdblock

import (
	"encoding/json"
	"fmt"

	"golang.org/x/sync/semaphore"

	"github.com/peace-go/peace/internal/proc"
	"github.com/peace-go/peace/internal/procgroup"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Block is one pass over the items of a flow. Run reads what earlier blocks
// left in data and adds its own results.
type Block interface {
	Name() string
	Run(env *Scope, data *Data) Outcome
}

// Recorder makes applied states durable. *state.Journal implements it.
type Recorder interface {
	// Begin is durable before it returns: the item's apply is about to start.
	Begin(item string) error
	// End is durable before it returns: the apply returned with outcome
	// ("applied", "failed", "interrupted") and the state it reached (nil when
	// not known).
	End(item, outcome string, state json.RawMessage) error
}

// SyncRecorder is a Recorder that also takes the directory fsyncs an
// apply left to its end record (see durable.DirSyncs): EndSynced fsyncs
// each of dirs before the record is written, and records of items
// finishing together share them. (P1)
type SyncRecorder interface {
	EndSynced(item, outcome string, state json.RawMessage, dirs []string) error
}

// GroupRecorder is a Recorder that also names the process groups an
// item's apply starts, between its Begin and End. Group reaches the file
// before it returns (a process death keeps it), so the next command can
// kill a group left alive (P2).
type GroupRecorder interface {
	Group(item string, pgid int, start string) error
}

// Scope is what every block of one execution shares: the flow, the
// execution ID, the job limits, the interrupt, where events and applied
// states go.
type Scope struct {
	Flow      *items.Flow
	Execution string // execution ID, stamped on events
	Jobs      int    // items run at once; < 1 means 1
	// KeepGoing: an item that fails does not stop the items that do not
	// need it (make -k); those that do never start.
	KeepGoing bool
	// Slots, when set, also bounds the items in flight across every
	// execution that shares it (a server running several at once).
	Slots     *semaphore.Weighted
	Interrupt *Interrupt
	Events    progress.Sink
	// Tracker returns the progress handle of one item in one block. Nil: no
	// item progress is reported.
	Tracker func(block, item string) progress.Tracker
	// Recorder records applies; nil for blocks that apply nothing.
	Recorder Recorder
	// Watchdog covers every process group an item starts: none outlives
	// this process. Nil: groups are not covered (tests of single blocks).
	Watchdog *procgroup.Watchdog
	// Crash, when set, is called at named points around each apply
	// ("begin:ID", "apply:ID") so tests can kill the process there.
	Crash func(point string)
}

func (env *Scope) emit(ev progress.Event) {
	ev.Execution = env.Execution
	env.Events.Emit(ev)
}

func (env *Scope) tracker(block string, id items.ID) progress.Tracker {
	if env.Tracker == nil {
		return progress.NoTracker
	}
	return env.Tracker(block, string(id))
}

// groups is what items tell of the process groups they start: the
// watchdog covers each, and for an apply the journal names it (P2).
type groups struct {
	env  *Scope
	item string
	rec  Recorder // nil outside an apply
}

func (g groups) Started(pgid int) (ended func(), err error) {
	ended = func() {}
	if g.env.Watchdog != nil {
		if ended, err = g.env.Watchdog.Register(pgid); err != nil {
			return nil, err
		}
	}
	if gr, ok := g.rec.(GroupRecorder); ok {
		if err := gr.Group(g.item, pgid, proc.Start(pgid)); err != nil {
			ended()
			return nil, fmt.Errorf("record process group: %w", err)
		}
	}
	return ended, nil
}

func (env *Scope) crash(point string) {
	if env.Crash != nil {
		env.Crash(point)
	}
}

// Data is what blocks of one execution pass to each other. Every slice is
// indexed like Flow.Items(), so concurrent items each write their own slot.
// Clean, Diff and Built, which few executions need, are nil until a block
// that sets them runs: each block makes the slices it sets (Prepare)
// before its items start, and a block of a program's own must do so too.
type Data struct {
	Stored  []items.State // last recorded state, nil when none
	Unknown []bool        // begun in an earlier run that never ended

	Current []items.State
	Goal    []items.State
	Clean   []items.State
	Diff    []items.Diff

	// Found is set for an item whose Current (and Goal or Clean, as the
	// block asked) was discovered in this execution.
	Found []bool
	// Applied is set for an item whose apply returned in this execution;
	// Current then holds the state it reached.
	Applied []bool
	// Lost is set when an item's apply did not return a state (it failed or
	// was cancelled): its current state is no longer known.
	Lost []bool

	// Built holds, for an item whose params refer to other items' states
	// (an *items.Deferred in the flow), the item as this execution built
	// it once those states were known; nil otherwise.
	Built []items.Item
	// AfterApply is set for an item whose states are known only after
	// apply, in a preview: a state its params refer to, or one its
	// discovery needs, comes from an item that would change first.
	AfterApply []bool
	// MayChange is set, in a preview, for an item that may change
	// although its own states do not say so: it depends on an item that
	// would change or may change.
	MayChange []bool

	// Status is the latest status of each item in this execution, "" when
	// no block has reached it.
	Status []progress.Status
	// Err is the latest error of each item in this execution.
	Err []error
}

// NewData returns Data sized for flow, with Clean, Diff and Built not made
// yet (see Data).
func NewData(flow *items.Flow) *Data {
	n := flow.Len()
	return &Data{
		Stored:  make([]items.State, n),
		Unknown: make([]bool, n),
		Current: make([]items.State, n),
		Goal:    make([]items.State, n),
		Found:   make([]bool, n),
		Applied: make([]bool, n),
		Lost:    make([]bool, n),
		Status:  make([]progress.Status, n),
		Err:     make([]error, n),

		AfterApply: make([]bool, n),
		MayChange:  make([]bool, n),
	}
}

// Prepare makes, before a block's items start, the slices it may set that
// are not made yet: Clean with clean, Diff with diff, and Built when an
// item of flow is built from other items' states. Slices already made are
// kept.
func (d *Data) Prepare(flow *items.Flow, clean, diff bool) {
	n := flow.Len()
	if clean && d.Clean == nil {
		d.Clean = make([]items.State, n)
	}
	if diff && d.Diff == nil {
		d.Diff = make([]items.Diff, n)
	}
	if d.Built == nil {
		for _, it := range flow.Items() {
			if _, ok := it.(*items.Deferred); ok {
				d.Built = make([]items.Item, n)
				break
			}
		}
	}
}

// built is Built[i], nil when Built is not made.
func (d *Data) built(i int) items.Item {
	if d.Built == nil {
		return nil
	}
	return d.Built[i]
}

// Outcome is what became of one block's pass.
type Outcome struct {
	Block string
	// Interrupted is set when an interrupt stopped the pass before every
	// item had run.
	Interrupted bool
	Finished    []items.ID // items whose work returned (applied, unchanged, failed…)
	InFlight    []items.ID // items running when the stop arrived
	NotStarted  []items.ID
	Errors      map[items.ID]error
}

// Failed reports whether an item failed in this pass.
func (o Outcome) Failed() bool { return len(o.Errors) > 0 }
