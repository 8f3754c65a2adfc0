// Package progresstest holds what the tests of the event protocol and of
// its views share: a clock moved by hand, a sink that keeps events, a
// writer safe to read while written, and one scenario every view renders.
package progresstest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peace-go/peace/progress"
)

// Clock is a clock tests move by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at a fixed time.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Recorder is a Sink that keeps what it gets.
type Recorder struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *Recorder) Emit(ev progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// All is every event received so far.
func (r *Recorder) All() []progress.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]progress.Event(nil), r.events...)
}

// Recorded runs emit against an Emitter on clock and returns what it
// emitted.
func Recorded(clock *Clock, emit func(e *progress.Emitter)) []progress.Event {
	var rec Recorder
	e := progress.NewEmitter(&rec)
	e.SetClock(clock.Now)
	emit(e)
	return rec.All()
}

// Buffer is a bytes.Buffer safe for a writer and a reader at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RequireNoEscapes fails t if out holds an escape code or a carriage
// return.
func RequireNoEscapes(t testing.TB, out string) {
	t.Helper()
	if i := strings.IndexByte(out, 0x1b); i >= 0 {
		t.Errorf("output has an escape code at byte %d: %q", i, out[max(0, i-20):min(len(out), i+20)])
	}
	if i := strings.IndexByte(out, '\r'); i >= 0 {
		t.Errorf("output has a carriage return at byte %d: %q", i, out[max(0, i-20):min(len(out), i+20)])
	}
}

// scenarioItems is the flow Scenario runs: build and upload depend on
// greeting, which depends on out_dir; extra depends on upload.
var scenarioItems = []string{"out_dir", "greeting", "build", "upload", "extra"}

var scenarioDeps = map[string][]string{
	"greeting": {"out_dir"},
	"build":    {"greeting"},
	"upload":   {"greeting"},
	"extra":    {"upload"},
}

// Scenario emits an ensure that is stopped and then cancelled: two items
// finish, two are in flight when Ctrl-C is pressed twice, one never
// starts. tick is called whenever a view would see its clock move on its
// own (the plain view's heartbeat); it may be nil.
func Scenario(e *progress.Emitter, clock *Clock, tick func()) {
	const x = "ex1"
	step := func(d time.Duration) {
		clock.Add(d)
		if tick != nil {
			tick()
		}
	}
	type Event = progress.Event
	e.Emit(Event{Type: progress.ExecutionStart, Execution: x, Command: "ensure", Flow: "hello",
		Profile: "default", Workspace: "/work/hello/.peace", Items: scenarioItems, Deps: scenarioDeps})
	e.Emit(Event{Type: progress.ItemUnknown, Execution: x, Item: "upload"})
	e.Emit(Event{Type: progress.BlockStart, Execution: x, Block: "ensure"})
	e.Emit(Event{Type: progress.ItemStart, Execution: x, Block: "ensure", Item: "out_dir"})
	step(300 * time.Millisecond)
	e.Emit(Event{Type: progress.ItemDone, Execution: x, Block: "ensure", Item: "out_dir", Status: progress.StatusApplied})
	e.Emit(Event{Type: progress.ItemStart, Execution: x, Block: "ensure", Item: "greeting"})
	step(100 * time.Millisecond)
	e.Emit(Event{Type: progress.ItemDone, Execution: x, Block: "ensure", Item: "greeting", Status: progress.StatusUnchanged})

	e.Emit(Event{Type: progress.ItemStart, Execution: x, Block: "ensure", Item: "build"})
	e.Emit(Event{Type: progress.ItemStart, Execution: x, Block: "ensure", Item: "upload"})
	build := e.ItemTracker(x, "ensure", "build")
	upload := e.ItemTracker(x, "ensure", "upload")
	build.SetLimit(progress.Steps(5))
	upload.SetLimit(progress.Bytes(10 << 20))
	build.Message("Step 1/5")
	build.Advance(1)
	step(200 * time.Millisecond)
	// Two messages within the second: the plain view holds the newer back.
	build.Message("Step 2/5")
	build.Advance(1)
	build.Message("Step 3/5 \x1b[32mcompiling\x1b[0m\rStep 3/5 linking")
	build.Advance(1)
	upload.Advance(3 << 20)
	upload.Message("sending part 1")
	step(time.Second)
	for range 10 {
		upload.Advance(100 << 10)
		step(time.Second)
	}
	e.Emit(Event{Type: progress.InterruptReceived, Execution: x, Stage: "stop", InFlight: []string{"build", "upload"}})
	step(500 * time.Millisecond)
	build.Message("Step 4/5")
	build.Advance(1)
	build.Message("Step 5/5")
	build.Advance(1)
	e.Emit(Event{Type: progress.ItemDone, Execution: x, Block: "ensure", Item: "build", Status: progress.StatusApplied})
	step(400 * time.Millisecond)
	e.Emit(Event{Type: progress.CancelRequested, Execution: x, Stage: "cancel", InFlight: []string{"upload"}})
	step(100 * time.Millisecond)
	e.Emit(Event{Type: progress.ItemInterrupted, Execution: x, Block: "ensure", Item: "upload"})
	e.Emit(Event{Type: progress.BlockEnd, Execution: x, Block: "ensure"})
	e.Emit(Event{Type: progress.ExecutionEnd, Execution: x, Outcome: "interrupted", Statuses: map[string]progress.Status{
		"out_dir": progress.StatusApplied, "greeting": progress.StatusUnchanged, "build": progress.StatusApplied,
		"upload": progress.StatusInterrupted, "extra": progress.StatusNotStarted,
	}})
}

// BenchAdvance measures what an item pays to report progress through
// sink: one Advance (an ItemProgress event) per iteration.
func BenchAdvance(b *testing.B, sink progress.Sink) {
	e := progress.NewEmitter(sink)
	e.Emit(progress.Event{Type: progress.ExecutionStart, Items: []string{"a"}})
	e.Emit(progress.Event{Type: progress.ItemStart, Item: "a"})
	tr := e.ItemTracker("x", "ensure", "a")
	tr.SetLimit(progress.Bytes(1 << 40))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tr.Advance(32 << 10)
	}
}
