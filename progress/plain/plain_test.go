package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func requireNoEscapes(t *testing.T, out string) {
	t.Helper()
	if i := strings.IndexByte(out, 0x1b); i >= 0 {
		t.Errorf("output has an escape code at byte %d: %q", i, out[max(0, i-20):min(len(out), i+20)])
	}
	if i := strings.IndexByte(out, '\r'); i >= 0 {
		t.Errorf("output has a carriage return at byte %d: %q", i, out[max(0, i-20):min(len(out), i+20)])
	}
}

func TestPlainScenario(t *testing.T) {
	clock := newFakeClock()
	var out bytes.Buffer
	v := newPlain(&out, clock.Now)
	e := NewEmitter(v)
	e.SetClock(clock.Now)
	scenario(e, clock, v.tick)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	requireNoEscapes(t, out.String())
	golden.RequireEqual(t, out.Bytes())
}

func TestPlainLines(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"fatal", Event{Type: Fatal, Message: "unknown flag --jbos", Code: 2}, "[  0.0s] error: unknown flag --jbos\n"},
		{"lock wait", Event{Type: LockWait, Message: "held by pid 12 on ci-3 since 10:04"}, "[  0.0s] lock: held by pid 12 on ci-3 since 10:04\n"},
		{"notice", Event{Type: Notice, Message: "torn journal tail\x1b[0m ignored"}, "[  0.0s] notice: torn journal tail ignored\n"},
		{"stop nothing in flight", Event{Type: InterruptReceived, Stage: "stop"}, "[  0.0s] stop: no items in flight; no new items will start\n"},
		{"stop one", Event{Type: InterruptReceived, Stage: "stop", InFlight: []string{"a"}}, "[  0.0s] stop: finishing 1 item in flight (a) — press Ctrl-C again to cancel them\n"},
		{"cancel", Event{Type: CancelRequested, Stage: "cancel", InFlight: []string{"a", "b"}}, "[  0.0s] cancel: cancelling a, b\n"},
		{"failed multi-line", Event{Type: ItemFailed, Block: "ensure", Item: "a", Error: "exit status 1\nstderr:\r\n  no such file"}, "[  0.0s] ensure   a failed: exit status 1; stderr:; no such file\n"},
		{"done without block", Event{Type: ItemDone, Item: "a", Status: StatusWouldApply}, "[  0.0s] -        a would apply\n"},
		{"complete", Event{Type: ExecutionEnd, Outcome: "complete", Statuses: map[string]Status{"a": StatusUnchanged, "b": StatusUnchanged, "c": "odd"}}, "[  0.0s] done in 0.0s: 2 unchanged, 1 odd\n"},
		{"failed run", Event{Type: ExecutionEnd, Outcome: "failed", Statuses: map[string]Status{"a": StatusFailed}}, "[  0.0s] failed after 0.0s: 1 failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			var out bytes.Buffer
			v := newPlain(&out, clock.Now)
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
	clock := newFakeClock()
	var out bytes.Buffer
	v := newPlain(&out, clock.Now)
	v.Emit(Event{Type: ItemStart, Block: "ensure", Item: "a", Time: clock.Now()})
	for i := range 50 {
		v.Emit(Event{Type: ItemMessage, Item: "a", Message: fmt.Sprintf("m%d", i), Time: clock.Now()})
		clock.Add(10 * time.Millisecond)
	}
	// 0.5s in: m0 written, m49 held back.
	v.tick()
	clock.Add(600 * time.Millisecond)
	v.tick() // the second is over: m49 is written now
	v.Emit(Event{Type: ItemMessage, Item: "a", Message: "last", Time: clock.Now()})
	v.Emit(Event{Type: ItemDone, Block: "ensure", Item: "a", Status: StatusApplied, Time: clock.Now()})
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
	clock := newFakeClock()
	var out bytes.Buffer
	v := newPlain(&out, clock.Now)
	v.Emit(Event{Type: ItemStart, Block: "ensure", Item: "slow", Time: clock.Now()})
	v.Emit(Event{Type: ItemLimit, Item: "slow", Limit: &Limit{Kind: LimitBytes, Total: 10 << 20}})
	for range 25 {
		clock.Add(time.Second)
		v.Emit(Event{Type: ItemProgress, Item: "slow", Delta: 200 << 10, Done: 0})
		v.tick()
	}
	v.Emit(Event{Type: ItemProgress, Item: "slow", Delta: 1, Done: 3 << 20})
	clock.Add(5 * time.Second)
	v.tick()
	v.Emit(Event{Type: ItemDone, Block: "ensure", Item: "slow", Status: StatusApplied, Time: clock.Now()})
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
	var out syncBuffer
	v := NewPlain(&out)
	e := NewEmitter(v)
	const goroutines, each = 32, 20
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("item_%d_%d", g, i)
				e.Emit(Event{Type: ItemStart, Block: "ensure", Item: id})
				tr := e.ItemTracker("x", "ensure", id)
				tr.SetLimit(Steps(3))
				tr.Advance(3)
				tr.Message("working \x1b[1mhard\x1b[0m")
				e.Emit(Event{Type: ItemDone, Block: "ensure", Item: id, Status: StatusApplied})
			}
		}()
	}
	wg.Wait()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	requireNoEscapes(t, got)
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
	v := newPlain(&out, newFakeClock().Now)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v.Emit(Event{Type: Notice, Message: "late"})
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
	for name, v := range map[string]View{
		"plain": newPlain(&failingWriter{}, time.Now),
		"json":  newJSON(&failingWriter{}, time.Now),
	} {
		v.Emit(Event{Type: Notice, Message: "x"})
		if err := v.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: Close = %v, want the write error", name, err)
		}
	}
}

// TestPlainEndFlushesInFlowOrder holds back a message for each of many
// items and ends the execution: the held-back lines come out in the order
// of the flow's items, the same in every run.
func TestPlainEndFlushesInFlowOrder(t *testing.T) {
	clock := newFakeClock()
	var out bytes.Buffer
	v := newPlain(&out, clock.Now)
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("item_%c", 'z'-i)) // not in ID order
	}
	v.Emit(Event{Type: ExecutionStart, Command: "ensure", Items: ids, Time: clock.Now()})
	for _, id := range ids {
		v.Emit(Event{Type: ItemStart, Block: "ensure", Item: id, Time: clock.Now()})
		v.Emit(Event{Type: ItemMessage, Item: id, Message: "first", Time: clock.Now()})
		v.Emit(Event{Type: ItemMessage, Item: id, Message: "held back", Time: clock.Now()})
	}
	v.Emit(Event{Type: ExecutionEnd, Outcome: "interrupted", Time: clock.Now()})
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
