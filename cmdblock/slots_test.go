package cmdblock

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
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
