package cmdblock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// world is an in-process world the test items act on: item ID -> value.
type world struct {
	mu      sync.Mutex
	values  map[string]string
	log     []string // "start:ID", "end:ID" in the order they happened
	running int
	peak    int
}

func newWorld() *world { return &world{values: map[string]string{}} }

func (w *world) note(s string, delta int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = append(w.log, s)
	w.running += delta
	w.peak = max(w.peak, w.running)
}

func (w *world) get(id string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.values[id]
}

// testItem's state is its value in the world; goal is "on", clean is "".
type testItem struct {
	id    string
	w     *world
	apply func(ctx context.Context) error // runs inside Apply; nil: nothing
	fail  error                           // Current fails with it
}

func (t *testItem) Current(context.Context, items.TypedFnCtx[string]) (string, error) {
	if t.fail != nil {
		return "", t.fail
	}
	return t.w.get(t.id), nil
}
func (t *testItem) Goal(context.Context, items.TypedFnCtx[string]) (string, error)  { return "on", nil }
func (t *testItem) Clean(context.Context, items.TypedFnCtx[string]) (string, error) { return "", nil }
func (t *testItem) Diff(a, b string) items.Diff                                     { return items.Diff{Equal: a == b} }
func (t *testItem) ApplyCheck(_ context.Context, _ items.TypedFnCtx[string], c, g string) (items.ApplyCheck, error) {
	if c == g {
		return items.NotRequired, nil
	}
	return items.Required(progress.Unknown()), nil
}
func (t *testItem) Apply(ctx context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	t.w.note("start:"+t.id, 1)
	defer t.w.note("end:"+t.id, -1)
	if t.apply != nil {
		if err := t.apply(ctx); err != nil {
			return "", err
		}
	}
	t.w.mu.Lock()
	t.w.values[t.id] = g
	t.w.mu.Unlock()
	return g, nil
}
func (t *testItem) ApplyDry(_ context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	return g, nil
}

// flowOf builds a flow from "id:dep,dep" specs.
func flowOf(t *testing.T, w *world, specs ...string) (*items.Flow, map[string]*testItem) {
	t.Helper()
	f := items.NewFlow("test")
	its := map[string]*testItem{}
	for _, s := range specs {
		id, deps, _ := cutString(s, ":")
		it := &testItem{id: id, w: w}
		its[id] = it
		var ds []items.ID
		for _, d := range splitNonEmpty(deps, ",") {
			ds = append(ds, items.ID(d))
		}
		if err := f.Add(items.Typed[string](items.ID(id), "test", it), ds...); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return f, its
}

func cutString(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for s != "" {
		var part string
		part, s, _ = cutString(s, sep)
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// memRecorder records begin/end in order and checks each end follows a begin.
type memRecorder struct {
	mu      sync.Mutex
	records []string
	events  *eventLog
}

func (r *memRecorder) Begin(item string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, "begin:"+item)
	return nil
}

func (r *memRecorder) End(item, outcome string, state json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events != nil && r.events.has(progress.ItemDone, item) {
		return fmt.Errorf("%s reported done before its end record", item)
	}
	r.records = append(r.records, fmt.Sprintf("end:%s:%s:%s", item, outcome, state))
	return nil
}

func (r *memRecorder) Group(item string, pgid int, start string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, fmt.Sprintf("group:%s", item))
	return nil
}

type eventLog struct {
	mu     sync.Mutex
	events []progress.Event
}

func (l *eventLog) Emit(ev progress.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) has(typ progress.Type, item string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if ev.Type == typ && ev.Item == item && ev.Block != "discover" {
			return true
		}
	}
	return false
}

func newEnv(f *items.Flow, jobs int, s Strategy) (*Scope, *eventLog, *memRecorder) {
	ev := &eventLog{}
	rec := &memRecorder{events: ev}
	return &Scope{
		Flow: f, Execution: "x1", Jobs: jobs, Interrupt: NewInterrupt(context.Background(), s),
		Events: ev, Recorder: rec,
	}, ev, rec
}

func ensure(env *Scope) (*Data, Outcome) {
	data := NewData(env.Flow)
	Discover{States: DiscoverCurrent | DiscoverGoal}.Run(env, data)
	return data, Apply{Op: items.OpEnsure}.Run(env, data)
}

func TestEnsureRunsDependenciesFirst(t *testing.T) {
	w := newWorld()
	// d depends on b and c, which depend on a; e is independent.
	f, _ := flowOf(t, w, "a:", "b:a", "c:a", "d:b,c", "e:")
	env, _, rec := newEnv(f, 4, FinishCurrent)
	data, out := ensure(env)
	if out.Interrupted || out.Failed() || len(out.NotStarted) > 0 {
		t.Fatalf("outcome %+v", out)
	}
	pos := func(s string) int { return slices.Index(w.log, s) }
	for _, dep := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}} {
		if pos("end:"+dep[0]) > pos("start:"+dep[1]) {
			t.Errorf("%s started before its dependency %s ended: %v", dep[1], dep[0], w.log)
		}
	}
	for i := range f.Items() {
		if data.Status[i] != progress.StatusApplied {
			t.Errorf("item %d status %s", i, data.Status[i])
		}
	}
	if len(rec.records) != 10 {
		t.Errorf("records %v", rec.records)
	}
	// Second run: nothing to do.
	data, _ = ensure(env)
	for i := range f.Items() {
		if data.Status[i] != progress.StatusUnchanged {
			t.Errorf("rerun: item %d status %s", i, data.Status[i])
		}
	}
}

func TestItemStartsWhenItsLastDependencyEnds(t *testing.T) {
	// slow blocks a while; fast's dependent must not wait for slow (no
	// level-by-level scheduling).
	w := newWorld()
	f, its := flowOf(t, w, "slow:", "fast:", "after_fast:fast")
	release := make(chan struct{})
	its["slow"].apply = func(ctx context.Context) error { <-release; return nil }
	its["after_fast"].apply = func(ctx context.Context) error { close(release); return nil }
	env, _, _ := newEnv(f, 4, FinishCurrent)
	done := make(chan struct{})
	go func() { ensure(env); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("after_fast waited for slow: the scheduler runs level by level")
	}
}

func TestJobsLimitConcurrency(t *testing.T) {
	for _, jobs := range []int{1, 3} {
		w := newWorld()
		var specs []string
		for i := range 12 {
			specs = append(specs, fmt.Sprintf("i%d:", i))
		}
		f, its := flowOf(t, w, specs...)
		for _, it := range its {
			it.apply = func(ctx context.Context) error { time.Sleep(5 * time.Millisecond); return nil }
		}
		env, _, _ := newEnv(f, jobs, FinishCurrent)
		ensure(env)
		if w.peak > jobs {
			t.Errorf("-j %d: %d items ran at once", jobs, w.peak)
		}
		if jobs > 1 && w.peak < 2 {
			t.Errorf("-j %d: items never overlapped", jobs)
		}
	}
}

func TestStopLetsInFlightFinishAndStartsNothing(t *testing.T) {
	w := newWorld()
	f, its := flowOf(t, w, "a:", "b:", "c:a", "d:b")
	env, _, rec := newEnv(f, 2, FinishCurrent)
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	for _, id := range []string{"a", "b"} {
		its[id].apply = func(ctx context.Context) error {
			started <- struct{}{}
			<-release
			return nil
		}
	}
	go func() {
		<-started
		<-started
		stage, inFlight := env.Interrupt.Advance()
		if stage != Stopping || !slices.Equal(inFlight, []string{"a", "b"}) {
			t.Errorf("stage %v in flight %v", stage, inFlight)
		}
		close(release)
	}()
	data, out := ensure(env)
	if !out.Interrupted || !slices.Equal(out.NotStarted, []items.ID{"c", "d"}) {
		t.Fatalf("outcome %+v", out)
	}
	if data.Status[f.Index("a")] != progress.StatusApplied || w.get("c") != "" {
		t.Errorf("a %s, c %q", data.Status[f.Index("a")], w.get("c"))
	}
	if !slices.Contains(rec.records, `end:a:applied:"on"`) {
		t.Errorf("a's applied state not recorded: %v", rec.records)
	}
}

func TestCancelInterruptsInFlight(t *testing.T) {
	w := newWorld()
	f, its := flowOf(t, w, "slow:", "next:slow")
	started := make(chan struct{})
	its["slow"].apply = func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return fmt.Errorf("slow: %w", ctx.Err())
	}
	env, _, rec := newEnv(f, 2, FinishCurrent)
	go func() {
		<-started
		env.Interrupt.Advance()
		env.Interrupt.Advance()
	}()
	data, out := ensure(env)
	if !slices.Equal(out.InFlight, []items.ID{"slow"}) || !slices.Equal(out.NotStarted, []items.ID{"next"}) {
		t.Fatalf("outcome %+v", out)
	}
	if !data.Lost[0] || data.Status[0] != progress.StatusInterrupted {
		t.Errorf("slow: lost %v status %s", data.Lost[0], data.Status[0])
	}
	if !slices.Equal(rec.records, []string{"begin:slow", "end:slow:interrupted:"}) {
		t.Errorf("records %v", rec.records)
	}
}

func TestFirstErrorStopsNewStartsButDiscoveryCarriesOn(t *testing.T) {
	w := newWorld()
	f, its := flowOf(t, w, "bad:", "x:bad", "y:")
	its["bad"].apply = func(context.Context) error { return errors.New("boom") }
	env, _, _ := newEnv(f, 1, FinishCurrent)
	data, out := ensure(env)
	if out.Errors["bad"] == nil || !slices.Contains(out.NotStarted, "x") {
		t.Fatalf("outcome %+v", out)
	}
	if data.Status[f.Index("bad")] != progress.StatusFailed {
		t.Errorf("bad: %s", data.Status[f.Index("bad")])
	}

	its["bad"].fail = errors.New("cannot look")
	data = NewData(f)
	dout := Discover{States: DiscoverCurrent}.Run(env, data)
	if len(dout.Errors) != 1 || !data.Found[f.Index("x")] || !data.Found[f.Index("y")] {
		t.Errorf("discovery stopped at an error: %+v found %v", dout, data.Found)
	}
}

func TestCleanRunsDependentsFirst(t *testing.T) {
	w := newWorld()
	f, _ := flowOf(t, w, "a:", "b:a", "c:b")
	env, _, _ := newEnv(f, 4, FinishCurrent)
	ensure(env)
	w.log = nil
	env, _, _ = newEnv(f, 4, FinishCurrent)
	data := NewData(f)
	Discover{States: DiscoverCurrent | DiscoverClean}.Run(env, data)
	out := Apply{Op: items.OpClean}.Run(env, data)
	if out.Failed() || !slices.Equal(w.log, []string{"start:c", "end:c", "start:b", "end:b", "start:a", "end:a"}) {
		t.Errorf("clean order %v (%+v)", w.log, out)
	}
}

func TestStrategies(t *testing.T) {
	for name, tc := range map[string]struct {
		s       Strategy
		applied int
		stopped bool
	}{
		"ignore":      {IgnoreInterrupts, 4, false},
		"poll next 2": {PollNextN(2), 3, true},
		"finish":      {FinishCurrent, 1, true},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			f, its := flowOf(t, w, "a:", "b:a", "c:b", "d:c")
			env, _, _ := newEnv(f, 1, tc.s)
			its["a"].apply = func(context.Context) error { env.Interrupt.Advance(); return nil }
			data, out := ensure(env)
			n := 0
			for _, st := range data.Status {
				if st == progress.StatusApplied {
					n++
				}
			}
			if n != tc.applied || out.Interrupted != tc.stopped {
				t.Errorf("applied %d, interrupted %v: %+v", n, out.Interrupted, out)
			}
		})
	}
}

func TestNoGoroutineOutlivesTheBlock(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorld()
	var specs []string
	for i := range 200 {
		specs = append(specs, fmt.Sprintf("i%d:", i))
	}
	f, its := flowOf(t, w, specs...)
	for _, it := range its {
		it.apply = func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
				return nil
			}
		}
	}
	env, _, _ := newEnv(f, 64, FinishCurrent)
	its["i10"].apply = func(context.Context) error { env.Interrupt.Advance(); env.Interrupt.Advance(); return nil }
	ensure(env)
	env.Interrupt.Release()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
}

func TestDiffReportsTheDiscoveryError(t *testing.T) {
	w := newWorld()
	f, its := flowOf(t, w, "a:", "b:")
	its["a"].fail = errors.New("connection refused")
	env, _, _ := newEnv(f, 2, FinishCurrent)
	data := NewData(f)
	Discover{States: DiscoverCurrent | DiscoverGoal}.Run(env, data)
	out := Diff{}.Run(env, data)
	if err := out.Errors["a"]; err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("diff error of a: %v", err)
	}
	if data.Diff[f.Index("b")].Equal || out.Errors["b"] != nil {
		t.Errorf("b: %+v %v", data.Diff[f.Index("b")], out.Errors["b"])
	}
}
