package progress

import (
	"sync"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a Sink that keeps what it gets.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// scenarioItems is the flow the scenario runs: build and upload depend on
// greeting, which depends on out_dir; extra depends on upload.
var scenarioItems = []string{"out_dir", "greeting", "build", "upload", "extra"}

var scenarioDeps = map[string][]string{
	"greeting": {"out_dir"},
	"build":    {"greeting"},
	"upload":   {"greeting"},
	"extra":    {"upload"},
}

// scenario emits an ensure that is stopped and then cancelled: two items
// finish, two are in flight when Ctrl-C is pressed twice, one never
// starts. tick is called whenever a view would see its clock move on its
// own (the plain view's heartbeat); it may be nil.
func scenario(e *Emitter, clock *fakeClock, tick func()) {
	const x = "ex1"
	step := func(d time.Duration) {
		clock.Add(d)
		if tick != nil {
			tick()
		}
	}
	e.Emit(Event{Type: ExecutionStart, Execution: x, Command: "ensure", Flow: "hello",
		Profile: "default", Workspace: "/work/hello/.peace", Items: scenarioItems, Deps: scenarioDeps})
	e.Emit(Event{Type: ItemUnknown, Execution: x, Item: "upload"})
	e.Emit(Event{Type: BlockStart, Execution: x, Block: "ensure"})
	e.Emit(Event{Type: ItemStart, Execution: x, Block: "ensure", Item: "out_dir"})
	step(300 * time.Millisecond)
	e.Emit(Event{Type: ItemDone, Execution: x, Block: "ensure", Item: "out_dir", Status: StatusApplied})
	e.Emit(Event{Type: ItemStart, Execution: x, Block: "ensure", Item: "greeting"})
	step(100 * time.Millisecond)
	e.Emit(Event{Type: ItemDone, Execution: x, Block: "ensure", Item: "greeting", Status: StatusUnchanged})

	e.Emit(Event{Type: ItemStart, Execution: x, Block: "ensure", Item: "build"})
	e.Emit(Event{Type: ItemStart, Execution: x, Block: "ensure", Item: "upload"})
	build := e.ItemTracker(x, "ensure", "build")
	upload := e.ItemTracker(x, "ensure", "upload")
	build.SetLimit(Steps(5))
	upload.SetLimit(Bytes(10 << 20))
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
	e.Emit(Event{Type: InterruptReceived, Execution: x, Stage: "stop", InFlight: []string{"build", "upload"}})
	step(500 * time.Millisecond)
	build.Message("Step 4/5")
	build.Advance(1)
	build.Message("Step 5/5")
	build.Advance(1)
	e.Emit(Event{Type: ItemDone, Execution: x, Block: "ensure", Item: "build", Status: StatusApplied})
	step(400 * time.Millisecond)
	e.Emit(Event{Type: CancelRequested, Execution: x, Stage: "cancel", InFlight: []string{"upload"}})
	step(100 * time.Millisecond)
	e.Emit(Event{Type: ItemInterrupted, Execution: x, Block: "ensure", Item: "upload"})
	e.Emit(Event{Type: BlockEnd, Execution: x, Block: "ensure"})
	e.Emit(Event{Type: ExecutionEnd, Execution: x, Outcome: "interrupted", Statuses: map[string]Status{
		"out_dir": StatusApplied, "greeting": StatusUnchanged, "build": StatusApplied,
		"upload": StatusInterrupted, "extra": StatusNotStarted,
	}})
}
