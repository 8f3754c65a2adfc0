package cmdctx_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// counter is an item whose world is an in-memory number; its goal is 1.
type counter struct {
	mu    sync.Mutex
	value int
	gate  chan struct{} // when set, Apply waits for it (or the context)
	// applying counts the Apply calls entered: an item whose start event
	// was sent may still be waiting for its begin record.
	applying atomic.Int32
}

func (c *counter) get() int { c.mu.Lock(); defer c.mu.Unlock(); return c.value }

func (c *counter) Current(context.Context, items.TypedFnCtx[int]) (int, error) { return c.get(), nil }
func (c *counter) Goal(context.Context, items.TypedFnCtx[int]) (int, error)    { return 1, nil }
func (c *counter) Clean(context.Context, items.TypedFnCtx[int]) (int, error)   { return 0, nil }
func (c *counter) Diff(a, b int) items.Diff                                    { return items.Diff{Equal: a == b} }
func (c *counter) ApplyCheck(_ context.Context, _ items.TypedFnCtx[int], a, b int) (items.ApplyCheck, error) {
	if a == b {
		return items.NotRequired, nil
	}
	return items.Required(progress.Steps(1)), nil
}
func (c *counter) Apply(ctx context.Context, _ items.TypedFnCtx[int], _, b int) (int, error) {
	c.applying.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	c.mu.Lock()
	c.value = b
	c.mu.Unlock()
	return b, nil
}
func (c *counter) ApplyDry(_ context.Context, _ items.TypedFnCtx[int], _, b int) (int, error) {
	return b, nil
}

type events struct {
	mu sync.Mutex
	ev []progress.Event
}

func (e *events) Emit(ev progress.Event) { e.mu.Lock(); e.ev = append(e.ev, ev); e.mu.Unlock() }
func (e *events) of(t progress.Type) []progress.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []progress.Event
	for _, ev := range e.ev {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

func setup(t *testing.T, cs ...*counter) (*cmdctx.CmdCtx, *events, string) {
	t.Helper()
	flow := items.NewFlow("counters")
	for i, c := range cs {
		id := items.ID([]string{"a", "b", "c", "d"}[i])
		var deps []items.ID
		if i > 0 {
			deps = []items.ID{items.ID([]string{"a", "b", "c", "d"}[i-1])}
		}
		if err := flow.Add(items.Typed[int](id, "counter", c), deps...); err != nil {
			t.Fatal(err)
		}
	}
	if err := flow.Validate(); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	ev := &events{}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: ws, Flow: flow, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	return cc, ev, ws
}

func ensure() *cmdexecution.CmdExecution {
	return &cmdexecution.CmdExecution{
		Command: "ensure",
		Blocks: []cmdblock.Block{
			cmdblock.Discover{States: cmdblock.DiscoverCurrent | cmdblock.DiscoverGoal},
			cmdblock.Apply{Op: items.OpEnsure},
		},
		Records: true,
	}
}

func TestExecRecordsAppliedStates(t *testing.T) {
	a, b := &counter{}, &counter{}
	cc, ev, _ := setup(t, a, b)
	res, err := cc.Exec(context.Background(), ensure())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "complete" || a.get() != 1 || b.get() != 1 {
		t.Fatalf("outcome %+v, a=%d b=%d", res.Outcome, a.get(), b.get())
	}
	rec, err := cc.Store().Load()
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Current["a"]) != "1" || string(rec.Current["b"]) != "1" {
		t.Errorf("recorded %v", rec.Current)
	}
	if string(rec.Goal["a"]) != "1" {
		t.Errorf("recorded goals %v", rec.Goal)
	}
	ends := ev.of(progress.ExecutionEnd)
	if len(ends) != 1 || ends[0].Outcome != "complete" || ends[0].Statuses["b"] != progress.StatusApplied {
		t.Errorf("execution end events %+v", ends)
	}
}

func TestQueuedExecutionsRunInOrderWithDistinctIDs(t *testing.T) {
	a := &counter{gate: make(chan struct{})}
	cc, ev, _ := setup(t, a)
	ctx := context.Background()
	first := cc.Queue(ctx, ensure())
	second := cc.Queue(ctx, ensure())
	if first == second {
		t.Fatalf("two executions share ID %s", first)
	}
	close(a.gate)
	r1, err1 := cc.Wait(ctx, first)
	r2, err2 := cc.Wait(ctx, second)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if r1.CmdOutcome.Status[0] != progress.StatusApplied || r2.CmdOutcome.Status[0] != progress.StatusUnchanged {
		t.Errorf("first %v, second %v", r1.CmdOutcome.Status, r2.CmdOutcome.Status)
	}
	starts := ev.of(progress.ExecutionStart)
	if len(starts) != 2 || starts[0].Execution != first || starts[1].Execution != second {
		t.Errorf("starts %+v", starts)
	}
}

func TestInterruptByID(t *testing.T) {
	a, b := &counter{gate: make(chan struct{})}, &counter{}
	cc, ev, _ := setup(t, a, b)
	ctx := context.Background()
	id := cc.Queue(ctx, ensure())
	if _, err := cc.Interrupt("nope"); err == nil {
		t.Error("interrupting an unknown execution: no error")
	}
	// Wait until a is applying (its start event comes before its begin
	// record is durable: a cancel then would keep its apply from running),
	// then stop, then cancel.
	waitFor(t, "a to apply", func() bool { return a.applying.Load() > 0 })
	if st, err := cc.Interrupt(id); err != nil || st != cmdblock.Stopping {
		t.Fatalf("first interrupt: %v %v", st, err)
	}
	if st, _ := cc.Interrupt(id); st != cmdblock.Cancelling {
		t.Fatalf("second interrupt: %v", st)
	}
	res, err := cc.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	o := res.CmdOutcome
	if o.Verdict() != "interrupted" || o.Status[0] != progress.StatusInterrupted || o.Status[1] != progress.StatusNotStarted {
		t.Errorf("outcome %v %v", o.Verdict(), o.Status)
	}
	stops := ev.of(progress.InterruptReceived)
	if len(stops) != 1 || len(stops[0].InFlight) != 1 || stops[0].InFlight[0] != "a" {
		t.Errorf("interrupt events %+v", stops)
	}
	if len(ev.of(progress.CancelRequested)) != 1 {
		t.Errorf("no cancel event")
	}
	// The cancelled item's state is no longer known; a is rediscovered next time.
	rec, _ := cc.Store().Load()
	if _, ok := rec.Current["a"]; ok {
		t.Errorf("a's state recorded after it was cancelled: %s", rec.Current["a"])
	}
}

func TestInterruptedBeforeStartRunsNoBlock(t *testing.T) {
	a := &counter{gate: make(chan struct{})}
	cc, _, _ := setup(t, a)
	ctx := context.Background()
	first := cc.Queue(ctx, ensure())
	second := cc.Queue(ctx, ensure())
	if _, err := cc.Interrupt(second); err != nil {
		t.Fatal(err)
	}
	close(a.gate)
	if _, err := cc.Wait(ctx, first); err != nil {
		t.Fatal(err)
	}
	res, err := cc.Wait(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CmdOutcome.Blocks) != 0 || len(res.CmdOutcome.BlocksNotRun) != 2 || res.Outcome != "interrupted" {
		t.Errorf("outcome %+v", res.CmdOutcome)
	}
}

func TestLockHeldIsAnError(t *testing.T) {
	a := &counter{}
	cc, _, _ := setup(t, a)
	lock, _, err := cc.Store().Lock(context.Background(), "test holder", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	_, err = cc.Exec(context.Background(), ensure())
	var locked *state.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("got %v, want a LockedError", err)
	}
	if a.get() != 0 {
		t.Error("applied while another run held the lock")
	}
}
