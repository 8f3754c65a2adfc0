package cmdblock

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// stopOnEnd is a Recorder whose End of one item stops the execution: the
// stop arrives from inside that item's completion, before the scheduler
// has its result.
type stopOnEnd struct {
	memRecorder
	item string
	in   *Interrupt
}

func (r *stopOnEnd) End(item, outcome string, state json.RawMessage) error {
	err := r.memRecorder.End(item, outcome, state)
	if item == r.item {
		r.in.Advance()
	}
	return err
}

// holdStart is an event sink that holds the scheduler in its emit of one
// item's start until another item has completed: the scheduler then finds
// the stop and that item's result waiting at once, as it does when a stop
// comes while it is busy.
type holdStart struct {
	eventLog
	hold, until string
	holding     chan struct{} // closed once the scheduler is held
	done        chan struct{}
}

func (h *holdStart) Emit(ev progress.Event) {
	h.eventLog.Emit(ev)
	switch {
	case ev.Block != "ensure":
	case ev.Type == progress.ItemStart && ev.Item == h.hold:
		close(h.holding)
		<-h.done
		// The completed item's goroutine sends its result right after
		// this event: let it.
		time.Sleep(200 * time.Microsecond)
	case ev.Type == progress.ItemDone && ev.Item == h.until:
		close(h.done)
	}
}

// TestStopFromAnItemsCompletionStartsNothing: a stop that arrives while an
// item completes (its end record triggers it) starts no further item,
// however the scheduler's select orders the stop and the result. The race
// is forced: the scheduler is held while both become ready, and the run is
// repeated, so a scheduler that starts what a result made ready before it
// looks at the stop fails almost every time.
func TestStopFromAnItemsCompletionStartsNothing(t *testing.T) {
	for range 200 {
		w := newWorld()
		// a and b start at once; a's end stops the run. after_a is made
		// ready by a's result; after_b by b's, later.
		f, its := flowOf(t, w, "a:", "b:", "after_a:a", "after_b:b")
		release := make(chan struct{})
		ev := &holdStart{hold: "b", until: "a", holding: make(chan struct{}), done: make(chan struct{})}
		its["a"].apply = func(context.Context) error { <-ev.holding; return nil }
		its["b"].apply = func(context.Context) error { <-release; return nil }
		in := NewInterrupt(context.Background(), FinishCurrent)
		rec := &stopOnEnd{item: "a", in: in}
		env := &Scope{Flow: f, Execution: "x1", Jobs: 2, Interrupt: in, Events: ev, Recorder: rec}
		go func() { <-in.Stopped(); close(release) }()
		data, out := ensure(env)
		if slices.Contains(w.log, "start:after_a") || slices.Contains(w.log, "start:after_b") {
			t.Fatalf("an item started after the stop: %v (outcome %+v)", w.log, out)
		}
		if !out.Interrupted || !slices.Equal(out.NotStarted, []items.ID{"after_a", "after_b"}) {
			t.Fatalf("outcome %+v, want after_a and after_b not started", out)
		}
		for _, id := range []string{"a", "b"} {
			if st := data.Status[f.Index(items.ID(id))]; st != progress.StatusApplied {
				t.Fatalf("%s ended %s, want applied: items in flight finish", id, st)
			}
		}
	}
}

// timedWorld's items take a few milliseconds each, so that an item started
// before its dependencies ended overlaps them and shows in the log.
type timedWorld struct {
	mu  sync.Mutex
	seq int
	at  map[string]int // "start:ID", "end:ID" -> order
}

func (w *timedWorld) note(s string) {
	w.mu.Lock()
	w.seq++
	w.at[s] = w.seq
	w.mu.Unlock()
}

// TestDependencyOrderWithItemsThatTakeTime: on random graphs whose items
// take 0–3 ms (random), with several jobs, no item starts before all its
// dependencies ended (ensure), or before all its dependents ended (clean),
// and each starts exactly once.
func TestDependencyOrderWithItemsThatTakeTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 12 {
		n := 24
		w := newWorld()
		var specs []string
		deps := make([][]string, n)
		for i := range n {
			id := fmt.Sprintf("i%02d", i)
			for j := range i {
				if rng.IntN(8) == 0 {
					deps[i] = append(deps[i], fmt.Sprintf("i%02d", j))
				}
			}
			specs = append(specs, id+":"+joinComma(deps[i]))
		}
		f, its := flowOf(t, w, specs...)
		for _, op := range []items.Op{items.OpEnsure, items.OpClean} {
			tw := &timedWorld{at: map[string]int{}}
			for id, it := range its {
				pause := time.Duration(rng.IntN(3000)) * time.Microsecond
				it.apply = func(ctx context.Context) error {
					tw.note("start:" + id)
					time.Sleep(pause)
					tw.note("end:" + id)
					return nil
				}
			}
			env, _, _ := newEnv(f, 4, FinishCurrent)
			data := NewData(f)
			what := DiscoverCurrent | DiscoverGoal
			if op == items.OpClean {
				what = DiscoverCurrent | DiscoverClean
			}
			Discover{States: what}.Run(env, data)
			out := Apply{Op: op}.Run(env, data)
			if out.Failed() || out.Interrupted || len(out.Finished) != n {
				t.Fatalf("round %d %s: outcome %+v", round, op, out)
			}
			starts := 0
			for _, s := range w.log {
				if len(s) > 6 && s[:6] == "start:" {
					starts++
				}
			}
			if starts != n {
				t.Errorf("round %d %s: %d applies for %d items: %v", round, op, starts, n, w.log)
			}
			w.log = nil
			for i := range n {
				id := fmt.Sprintf("i%02d", i)
				for _, d := range deps[i] {
					first, then := d, id
					if op == items.OpClean {
						first, then = id, d
					}
					if tw.at["start:"+then] < tw.at["end:"+first] {
						t.Errorf("round %d %s: %s started before %s ended", round, op, then, first)
					}
				}
			}
		}
	}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
