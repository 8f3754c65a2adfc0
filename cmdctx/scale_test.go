package cmdctx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// wideFlow is n counters; item i depends on i-1 and i-7 when they exist,
// so the graph has chains and fan-in as well as breadth.
func wideFlow(tb testing.TB, cs []*counter) *items.Flow {
	flow := items.NewFlow("wide")
	for i, c := range cs {
		var deps []items.ID
		for _, back := range []int{1, 7} {
			if i-back >= 0 && i%5 != 0 {
				deps = append(deps, items.ID(fmt.Sprintf("c%d", i-back)))
			}
		}
		if err := flow.Add(items.Typed[int](items.ID(fmt.Sprintf("c%d", i)), "counter", c), deps...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := flow.Validate(); err != nil {
		tb.Fatal(err)
	}
	return flow
}

// TestManyItemsInterruptedUnderLoad runs 400 items at -j 64, stops and then
// cancels mid-run, and checks that every item the outcome calls applied is
// recorded, no other state is but one discovered before an apply that never
// ran, and no goroutine outlives the execution. Run
// it with -race.
func TestManyItemsInterruptedUnderLoad(t *testing.T) {
	before := runtime.NumGoroutine()
	cs := make([]*counter, 400)
	gate := make(chan struct{})
	for i := range cs {
		cs[i] = &counter{}
		if i%3 == 0 {
			cs[i].gate = gate // a third of the items wait until released or cancelled
		}
	}
	flow := wideFlow(t, cs)
	ev := &events{}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: t.TempDir(), Flow: flow, Jobs: 64, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	exec := ensure()
	exec.Blocks = []cmdblock.Block{cmdblock.Apply{Op: items.OpEnsure}} // as the command line runs it
	id := cc.Queue(context.Background(), exec)
	deadline := time.Now().Add(10 * time.Second)
	for len(ev.of(progress.ItemStart)) < 40 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cc.Interrupt(id)
	time.Sleep(20 * time.Millisecond)
	cc.Interrupt(id)
	res, err := cc.Wait(context.Background(), id)
	close(gate)
	if err != nil {
		t.Fatal(err)
	}
	o := res.CmdOutcome
	if o.Verdict() != "interrupted" {
		t.Fatalf("outcome %s", o.Verdict())
	}
	rec, err := cc.Store().Load()
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for i, it := range flow.Items() {
		st := o.Status[i]
		raw, recorded := rec.Current[string(it.ID())]
		switch st {
		case progress.StatusApplied:
			applied++
			if string(raw) != "1" {
				t.Errorf("%s applied but recorded %q", it.ID(), raw)
			}
		case progress.StatusInterrupted:
			// Cancelled in its apply, its state is not known; cancelled
			// before its apply ran (while waiting for a slot after its
			// begin record), it is the state discovered before.
			if recorded && (cs[i].applying.Load() > 0 || string(raw) != "0") {
				t.Errorf("%s interrupted (applies entered: %d) but recorded %q", it.ID(), cs[i].applying.Load(), raw)
			}
		case progress.StatusNotStarted:
			// Never reached: not even discovered, so nothing is recorded.
			if recorded {
				t.Errorf("%s never started but recorded %q", it.ID(), raw)
			}
		default:
			t.Errorf("%s: status %s", it.ID(), st)
		}
	}
	if applied == 0 || len(o.IDs(flow, progress.StatusNotStarted)) == 0 {
		t.Errorf("applied %d, not started %d: the interrupt did not land mid-run", applied, len(o.IDs(flow, progress.StatusNotStarted)))
	}
	// Every in-flight item is named when the stop arrived.
	if stops := ev.of(progress.InterruptReceived); len(stops) != 1 || len(stops[0].InFlight) == 0 {
		t.Errorf("stop events %+v", stops)
	}
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// BenchmarkEnsureNothingToDo is the whole library path of a no-op ensure —
// lock, recover, discover, apply check, fold, unlock — over n in-process
// items, with the peak resident memory of the process.
func BenchmarkEnsureNothingToDo(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			cs := make([]*counter, n)
			for i := range cs {
				cs[i] = &counter{value: 1}
			}
			flow := wideFlow(b, cs)
			cc, err := cmdctx.New(cmdctx.Options{Workspace: b.TempDir(), Flow: flow, Jobs: cmdctx.DefaultJobs})
			if err != nil {
				b.Fatal(err)
			}
			exec := ensure()
			exec.Blocks = []cmdblock.Block{cmdblock.Apply{Op: items.OpEnsure}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				res, err := cc.Exec(context.Background(), exec)
				if err != nil || res.Outcome != "complete" {
					b.Fatal(err, res.Outcome)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
			b.ReportMetric(peakRSSMiB(), "MiB-peak-RSS")
		})
	}
}

// peakRSSMiB is the process's peak resident set (VmHWM), in MiB.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkNoop100k is a no-op ensure of 100,000 in-process items — lock,
// recover, discover, apply check, fold, unlock — over a store that records
// them all. It reports the process's peak resident memory during the
// no-op runs (the flow included; the target: under 100 MB, 1 KB per item),
// the peak of the live heap per item, sampled, and what a run allocates
// per item. Run it alone, so the peak is its own:
//
//	go test -run '^$' -bench 'Noop100k' -benchtime 3x ./cmdctx/
func BenchmarkNoop100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100,000 items: not with -short")
	}
	const n = 100_000
	cs := make([]*counter, n)
	recorded := make(map[string]json.RawMessage, n)
	for i := range cs {
		cs[i] = &counter{value: 1}
		recorded[fmt.Sprintf("c%d", i)] = json.RawMessage("1")
	}
	flow := wideFlow(b, cs)
	cc, err := cmdctx.New(cmdctx.Options{Workspace: b.TempDir(), Flow: flow, Jobs: cmdctx.DefaultJobs})
	if err != nil {
		b.Fatal(err)
	}
	if err := cc.Store().Fold(recorded, recorded); err != nil {
		b.Fatal(err)
	}
	recorded = nil
	exec := ensure()
	exec.Blocks = []cmdblock.Block{cmdblock.Apply{Op: items.OpEnsure}}

	runtime.GC()
	// From here on, the peak resident set is the no-op runs'.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset: %v", err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := sampleHeap()
	b.ResetTimer()
	for range b.N {
		res, err := cc.Exec(context.Background(), exec)
		if err != nil || res.Outcome != "complete" {
			b.Fatal(err, res.Outcome)
		}
	}
	b.StopTimer()
	heap := peak()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rss := peakRSSMiB()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
	b.ReportMetric(rss, "MiB-peak-RSS")
	b.ReportMetric(rss*(1<<20)/n, "peak-RSS-B/item")
	b.ReportMetric(float64(heap)/n, "peak-heap-B/item")
	b.ReportMetric(float64(before.HeapAlloc)/n, "flow-heap-B/item") // live before the runs: the flow and the test's items
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*n), "alloc-B/item")
	runtime.KeepAlive(cc)
}

// sampleHeap samples the live heap every few milliseconds until the
// returned function is called, which returns the largest sample.
func sampleHeap() (stop func() uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}
