package cmdblock

import (
	"context"
	"encoding/json"
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
