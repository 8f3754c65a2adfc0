package plain

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

func TestPlainScenario(t *testing.T) {
	clock := progresstest.NewClock()
	var out bytes.Buffer
	v := newView(&out, clock.Now)
	e := progress.NewEmitter(v)
	e.SetClock(clock.Now)
	progresstest.Scenario(e, clock, v.tick)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	progresstest.RequireNoEscapes(t, out.String())
	golden.RequireEqual(t, out.Bytes())
}

func TestPlainLines(t *testing.T) {
	tests := []struct {
		name string
		ev   progress.Event
		want string
	}{
		{"fatal", progress.Event{Type: progress.Fatal, Message: "unknown flag --jbos", Code: 2}, "[  0.0s] error: unknown flag --jbos\n"},
		{"lock wait", progress.Event{Type: progress.LockWait, Message: "held by pid 12 on ci-3 since 10:04"}, "[  0.0s] lock: held by pid 12 on ci-3 since 10:04\n"},
		{"notice", progress.Event{Type: progress.Notice, Message: "torn journal tail\x1b[0m ignored"}, "[  0.0s] notice: torn journal tail ignored\n"},
		{"stop nothing in flight", progress.Event{Type: progress.InterruptReceived, Stage: "stop"}, "[  0.0s] stop: no items in flight; no new items will start\n"},
		{"stop one", progress.Event{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"a"}}, "[  0.0s] stop: finishing 1 item in flight (a) — press Ctrl-C again to cancel them\n"},
		{"stop on SIGTERM", progress.Event{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"a"}, Message: "SIGTERM"}, "[  0.0s] stop: finishing 1 item in flight (a) on SIGTERM — a second SIGTERM cancels them\n"},
		{"stop on SIGINT", progress.Event{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"a"}, Message: "SIGINT"}, "[  0.0s] stop: finishing 1 item in flight (a) on SIGINT — press Ctrl-C again to cancel them\n"},
		{"stop by ID", progress.Event{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"a"}, Message: "interrupt x1"}, "[  0.0s] stop: finishing 1 item in flight (a) on interrupt x1 — an interrupt with --cancel cancels them\n"},
		{"output line", progress.Event{Type: progress.ItemOutput, Block: "ensure", Item: "a", Line: "\x1b[31merror:\x1b[0m bad\r"}, "[  0.0s] ensure   a > error: bad\n"},
		{"cancel", progress.Event{Type: progress.CancelRequested, Stage: "cancel", InFlight: []string{"a", "b"}}, "[  0.0s] cancel: cancelling a, b\n"},
		{"failed multi-line", progress.Event{Type: progress.ItemFailed, Block: "ensure", Item: "a", Error: "exit status 1\nstderr:\r\n  no such file"}, "[  0.0s] ensure   a failed: exit status 1; stderr:; no such file\n"},
		{"done without block", progress.Event{Type: progress.ItemDone, Item: "a", Status: progress.StatusWouldApply}, "[  0.0s] -        a would apply\n"},
		{"complete", progress.Event{Type: progress.ExecutionEnd, Outcome: "complete", Statuses: map[string]progress.Status{"a": progress.StatusUnchanged, "b": progress.StatusUnchanged, "c": "odd"}}, "[  0.0s] done in 0.0s: 2 unchanged, 1 odd\n"},
		{"failed run", progress.Event{Type: progress.ExecutionEnd, Outcome: "failed", Statuses: map[string]progress.Status{"a": progress.StatusFailed}}, "[  0.0s] failed after 0.0s: 1 failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := progresstest.NewClock()
			var out bytes.Buffer
			v := newView(&out, clock.Now)
			v.Emit(tt.ev)
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got  %q\nwant %q", out.String(), tt.want)
			}
		})
	}
}

// TestPlainMessagesNeverLost checks the rate limit on messages: at most one
// line a second per item, but the last message before the item ends is
// always written, and one held back is written once its second is over.
func TestPlainMessagesNeverLost(t *testing.T) {
	clock := progresstest.NewClock()
	var out bytes.Buffer
	v := newView(&out, clock.Now)
	v.Emit(progress.Event{Type: progress.ItemStart, Block: "ensure", Item: "a", Time: clock.Now()})
	for i := range 50 {
		v.Emit(progress.Event{Type: progress.ItemMessage, Item: "a", Message: fmt.Sprintf("m%d", i), Time: clock.Now()})
		clock.Add(10 * time.Millisecond)
	}
	// 0.5s in: m0 written, m49 held back.
	v.tick()
	clock.Add(600 * time.Millisecond)
	v.tick() // the second is over: m49 is written now
	v.Emit(progress.Event{Type: progress.ItemMessage, Item: "a", Message: "last", Time: clock.Now()})
	v.Emit(progress.Event{Type: progress.ItemDone, Block: "ensure", Item: "a", Status: progress.StatusApplied, Time: clock.Now()})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"[  0.0s] ensure   a running\n" +
		"[  0.0s] ensure   a running: m0\n" +
		"[  1.1s] ensure   a running: m49\n" +
		"[  1.1s] ensure   a running: last\n" +
		"[  1.1s] ensure   a applied\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestPlainHeartbeat(t *testing.T) {
	clock := progresstest.NewClock()
	var out bytes.Buffer
	v := newView(&out, clock.Now)
	v.Emit(progress.Event{Type: progress.ItemStart, Block: "ensure", Item: "slow", Time: clock.Now()})
	v.Emit(progress.Event{Type: progress.ItemLimit, Item: "slow", Limit: &progress.Limit{Kind: progress.LimitBytes, Total: 10 << 20}})
	for range 25 {
		clock.Add(time.Second)
		v.Emit(progress.Event{Type: progress.ItemProgress, Item: "slow", Delta: 200 << 10, Done: 0})
		v.tick()
	}
	v.Emit(progress.Event{Type: progress.ItemProgress, Item: "slow", Delta: 1, Done: 3 << 20})
	clock.Add(5 * time.Second)
	v.tick()
	v.Emit(progress.Event{Type: progress.ItemDone, Block: "ensure", Item: "slow", Status: progress.StatusApplied, Time: clock.Now()})
	clock.Add(20 * time.Second)
	v.tick() // no heartbeat for a finished item
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"[  0.0s] ensure   slow running\n" +
		"[ 10.0s] ensure   slow still running (10.0s, 0 B / 10.0 MiB)\n" +
		"[ 20.0s] ensure   slow still running (20.0s, 0 B / 10.0 MiB)\n" +
		"[ 30.0s] ensure   slow still running (30.0s, 3.0 MiB / 10.0 MiB)\n" +
		"[ 30.0s] ensure   slow applied\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestPlainConcurrent emits from 32 goroutines into the real view (with
// its ticker) and checks every transition made it out, each on its own
// line.
func TestPlainConcurrent(t *testing.T) {
	var out progresstest.Buffer
	v := New(&out)
	e := progress.NewEmitter(v)
	const goroutines, each = 32, 20
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("item_%d_%d", g, i)
				e.Emit(progress.Event{Type: progress.ItemStart, Block: "ensure", Item: id})
				tr := e.ItemTracker("x", "ensure", id)
				tr.SetLimit(progress.Steps(3))
				tr.Advance(3)
				tr.Message("working \x1b[1mhard\x1b[0m")
				e.Emit(progress.Event{Type: progress.ItemDone, Block: "ensure", Item: id, Status: progress.StatusApplied})
			}
		}()
	}
	wg.Wait()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	progresstest.RequireNoEscapes(t, got)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if want := goroutines * each * 3; len(lines) != want {
		t.Fatalf("got %d lines, want %d", len(lines), want)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "[") || strings.Count(l, "[") != 1 {
			t.Fatalf("torn line %q", l)
		}
	}
}

func TestPlainIgnoresEventsAfterClose(t *testing.T) {
	var out bytes.Buffer
	v := newView(&out, progresstest.NewClock().Now)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v.Emit(progress.Event{Type: progress.Notice, Message: "late"})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q after Close", out.String())
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, fmt.Errorf("disk full")
}

func TestViewsReportWriteErrors(t *testing.T) {
	for name, v := range map[string]progress.View{
		"plain": newView(&failingWriter{}, time.Now),
		"quiet": NewQuiet(&failingWriter{}),
	} {
		v.Emit(progress.Event{Type: progress.Notice, Message: "x"})
		if err := v.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: Close = %v, want the write error", name, err)
		}
	}
}

// TestPlainEndFlushesInFlowOrder holds back a message for each of many
// items and ends the execution: the held-back lines come out in the order
// of the flow's items, the same in every run.
func TestPlainEndFlushesInFlowOrder(t *testing.T) {
	clock := progresstest.NewClock()
	var out bytes.Buffer
	v := newView(&out, clock.Now)
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("item_%c", 'z'-i)) // not in ID order
	}
	v.Emit(progress.Event{Type: progress.ExecutionStart, Command: "ensure", Items: ids, Time: clock.Now()})
	for _, id := range ids {
		v.Emit(progress.Event{Type: progress.ItemStart, Block: "ensure", Item: id, Time: clock.Now()})
		v.Emit(progress.Event{Type: progress.ItemMessage, Item: id, Message: "first", Time: clock.Now()})
		v.Emit(progress.Event{Type: progress.ItemMessage, Item: id, Message: "held back", Time: clock.Now()})
	}
	v.Emit(progress.Event{Type: progress.ExecutionEnd, Outcome: "interrupted", Time: clock.Now()})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); strings.HasSuffix(line, "running: held back") && len(f) > 3 {
			got = append(got, f[3])
		}
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("held-back messages flushed in the order\n%v\nwant\n%v", got, ids)
	}
}
