package cmdblock

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Two executions sharing Slots never have more items in flight together
// than it allows, though each alone could run more.
func TestSharedSlotsBoundEveryExecution(t *testing.T) {
	w := newWorld() // one world: its peak counts both executions
	slots := semaphore.NewWeighted(2)
	var wg sync.WaitGroup
	for range 2 {
		f, its := flowOf(t, w, "a:", "b:", "c:", "d:", "e:")
		for _, it := range its {
			it.apply = func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil }
		}
		env, _, _ := newEnv(f, 5, FinishCurrent)
		env.Slots = slots
		wg.Go(func() {
			if _, o := ensure(env); len(o.Finished) != 5 {
				t.Errorf("finished %v, want all 5", o.Finished)
			}
		})
	}
	wg.Wait()
	if w.peak > 2 {
		t.Errorf("%d items in flight at once across executions, want at most 2", w.peak)
	}
	if w.peak < 2 {
		t.Errorf("peak %d: the shared slots were never both used", w.peak)
	}
	if !slots.TryAcquire(2) {
		t.Error("a slot was not given back")
	}
}

// slowEnds is a memRecorder whose end records take until released.
type slowEnds struct {
	*memRecorder
	hold chan struct{} // closed: ends go through
}

func (r *slowEnds) End(item, outcome string, state json.RawMessage) error {
	<-r.hold
	return r.memRecorder.End(item, outcome, state)
}

// An item waiting for its end record to be durable holds no job slot: the
// next item applies meanwhile. It is reported done, and what needs it
// starts, only once the record is.
func TestEndRecordWaitsWithoutASlot(t *testing.T) {
	w := newWorld()
	f, its := flowOf(t, w, "a:", "b:", "d:", "c:a")
	env, ev, mem := newEnv(f, 2, FinishCurrent)
	rec := &slowEnds{memRecorder: mem, hold: make(chan struct{})}
	env.Recorder = rec
	bApplied, dApplied := make(chan struct{}), make(chan struct{})
	// a's apply returns only once b's has begun: both then wait for their
	// end records, and only a free slot lets d apply meanwhile.
	its["a"].apply = func(context.Context) error { <-bApplied; return nil }
	its["b"].apply = func(context.Context) error { close(bApplied); return nil }
	its["d"].apply = func(context.Context) error { close(dApplied); return nil }
	its["c"].apply = func(context.Context) error {
		if !ev.has(progress.ItemDone, "a") {
			t.Error("c started before a was reported done")
		}
		return nil
	}
	data := NewData(f)
	Discover{States: DiscoverCurrent | DiscoverGoal}.Run(env, data)
	done := make(chan Outcome)
	go func() { done <- Apply{Op: items.OpEnsure}.Run(env, data) }()

	select {
	case <-dApplied:
	case <-time.After(10 * time.Second):
		close(rec.hold)
		t.Fatal("d never applied while a and b waited for their end records")
	}
	if ev.has(progress.ItemDone, "a") || ev.has(progress.ItemDone, "b") {
		t.Error("an item was reported done before its end record")
	}
	if ev.has(progress.ItemStart, "c") {
		t.Error("c started before the end record of a, which it needs")
	}
	close(rec.hold)
	if o := <-done; len(o.Finished) != 4 || o.Failed() {
		t.Fatalf("finished %v, errors %v", o.Finished, o.Errors)
	}
}

// heldBegins is a recorder whose begin records take until hold is closed.
type heldBegins struct {
	*memRecorder
	in   chan struct{}
	hold chan struct{}
}

func (r *heldBegins) Begin(item string) error {
	close(r.in)
	<-r.hold
	return r.memRecorder.Begin(item)
}

// An item that gave its slot back while its begin record was made durable,
// and finds every shared slot taken by another execution's long item, is
// cancelled with its execution: the block returns at once, the item's
// apply never runs, and its end record says interrupted (nothing unknown).
func TestCancelReachesAnItemWaitingForASharedSlot(t *testing.T) {
	w := newWorld()
	slots := semaphore.NewWeighted(1)
	fa, _ := flowOf(t, w, "a1:")
	envA, _, memA := newEnv(fa, 2, FinishCurrent)
	envA.Slots = slots
	rec := &heldBegins{memRecorder: memA, in: make(chan struct{}), hold: make(chan struct{})}
	envA.Recorder = rec
	dataA := NewData(fa)
	Discover{States: DiscoverCurrent | DiscoverGoal}.Run(envA, dataA)
	doneA := make(chan Outcome, 1)
	go func() { doneA <- Apply{Op: items.OpEnsure}.Run(envA, dataA) }()
	<-rec.in // a1 waits for its begin record, its slot given back

	fb, itsB := flowOf(t, w, "b1:")
	envB, _, _ := newEnv(fb, 1, FinishCurrent)
	envB.Slots = slots
	bApplying, bRelease := make(chan struct{}), make(chan struct{})
	itsB["b1"].apply = func(context.Context) error { close(bApplying); <-bRelease; return nil }
	doneB := make(chan struct{})
	go func() { ensure(envB); close(doneB) }()
	defer func() { close(bRelease); <-doneB }()
	<-bApplying // b1 holds the only shared slot

	close(rec.hold) // a1's begin is durable; it waits for a slot
	envA.Interrupt.Advance()
	envA.Interrupt.Advance() // cancel
	select {
	case <-doneA:
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled execution still waits for another execution's slot")
	}
	if got := w.get("a1"); got != "" {
		t.Errorf("a1 applied after its cancel: %q", got)
	}
	if dataA.Status[0] != progress.StatusInterrupted {
		t.Errorf("a1 %s, want interrupted", dataA.Status[0])
	}
	memA.mu.Lock()
	records := append([]string(nil), memA.records...)
	memA.mu.Unlock()
	if want := []string{"begin:a1", "end:a1:interrupted:"}; !slices.Equal(records, want) {
		t.Errorf("records %q, want %q", records, want)
	}
}

// failingEnds is a recorder whose end records fail, as a failed directory
// fsync or a broken journal makes them.
type failingEnds struct{ *memRecorder }

func (failingEnds) End(string, string, json.RawMessage) error { return errors.New("disk gone") }

// An applied state whose end record failed is not the item's: the item is
// failed and lost (discovered again), and nothing would fold the state.
func TestAppliedStateOnlyOnceRecorded(t *testing.T) {
	w := newWorld()
	f, _ := flowOf(t, w, "a:")
	env, _, mem := newEnv(f, 2, FinishCurrent)
	env.Recorder = failingEnds{mem}
	data, _ := ensure(env)
	if data.Status[0] != progress.StatusFailed {
		t.Errorf("a %s, want failed", data.Status[0])
	}
	if !data.Lost[0] || data.Applied[0] || data.Current[0] == items.State("on") {
		t.Errorf("a lost %v, applied %v, current %v: its unrecorded state was kept", data.Lost[0], data.Applied[0], data.Current[0])
	}
}
