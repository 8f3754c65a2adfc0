package progress_test

import (
	"sync"
	"testing"
	"time"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

func TestEmitterStampsSeqAndTime(t *testing.T) {
	clock := progresstest.NewClock()
	var rec progresstest.Recorder
	e := progress.NewEmitter(&rec)
	e.SetClock(clock.Now)
	e.Emit(progress.Event{Type: progress.BlockStart, Seq: 99})
	clock.Add(time.Second)
	e.Emit(progress.Event{Type: progress.BlockEnd})
	got := rec.All()
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2", len(got))
	}
	if got[0].Seq != 1 || got[1].Seq != 2 {
		t.Errorf("seqs = %d, %d; want 1, 2", got[0].Seq, got[1].Seq)
	}
	if d := got[1].Time.Sub(got[0].Time); d != time.Second {
		t.Errorf("time between events = %v, want 1s", d)
	}
}

// TestEmitterOrderAcrossGoroutines checks that Seq increases by one in the
// order sinks see events, however many goroutines emit at once.
func TestEmitterOrderAcrossGoroutines(t *testing.T) {
	var a, b progresstest.Recorder
	e := progress.NewEmitter(progress.Tee(&a, nil, &b))
	const goroutines, each = 32, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := e.ItemTracker("x", "ensure", string(rune('a'+g%26))+"item")
			for range each {
				tr.Advance(1)
			}
		}()
	}
	wg.Wait()
	for name, r := range map[string]*progresstest.Recorder{"first": &a, "second": &b} {
		got := r.All()
		if len(got) != goroutines*each {
			t.Fatalf("%s sink got %d events, want %d", name, len(got), goroutines*each)
		}
		for i, ev := range got {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s sink: event %d has seq %d", name, i, ev.Seq)
			}
		}
	}
}

func TestItemTracker(t *testing.T) {
	var rec progresstest.Recorder
	e := progress.NewEmitter(&rec)
	tr := e.ItemTracker("x1", "ensure", "build")
	tr.SetLimit(progress.Bytes(100))
	tr.Advance(30)
	tr.Advance(0) // no change, no event
	tr.Advance(12)
	tr.Message("half way")
	want := []progress.Event{
		{Type: progress.ItemLimit, Limit: &progress.Limit{Kind: progress.LimitBytes, Total: 100}},
		{Type: progress.ItemProgress, Delta: 30, Done: 30},
		{Type: progress.ItemProgress, Delta: 12, Done: 42},
		{Type: progress.ItemMessage, Message: "half way"},
	}
	got := rec.All()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.Type || g.Delta != w.Delta || g.Done != w.Done || g.Message != w.Message {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
		if g.Execution != "x1" || g.Block != "ensure" || g.Item != "build" {
			t.Errorf("event %d is for %q/%q/%q", i, g.Execution, g.Block, g.Item)
		}
		if (w.Limit == nil) != (g.Limit == nil) || (w.Limit != nil && *w.Limit != *g.Limit) {
			t.Errorf("event %d limit = %v, want %v", i, g.Limit, w.Limit)
		}
	}
}

// TestItemTrackerConcurrentAdvance checks that totals reach the sink in
// increasing order when one item advances from many goroutines.
func TestItemTrackerConcurrentAdvance(t *testing.T) {
	var rec progresstest.Recorder
	tr := progress.NewEmitter(&rec).ItemTracker("x", "ensure", "download")
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				tr.Advance(2)
			}
		}()
	}
	wg.Wait()
	var last int64
	for _, ev := range rec.All() {
		if ev.Done != last+2 {
			t.Fatalf("done went from %d to %d", last, ev.Done)
		}
		last = ev.Done
	}
	if last != 32*100*2 {
		t.Errorf("final done = %d, want %d", last, 32*100*2)
	}
}
