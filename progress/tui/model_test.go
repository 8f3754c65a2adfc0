package progress

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func asciiStyles() tuiStyles { return newTUIStyles(false) }

// testModel is a model with colours off and a clock that stands still
// unless the test moves it.
func testModel(clock *fakeClock, onInterrupt func()) *tuiModel {
	m := newTUIModel(asciiStyles(), clock.Now, onInterrupt)
	m.width, m.height = 100, 0
	return m
}

// send applies events one by one through Update, as the program would.
func send(m *tuiModel, evs ...Event) {
	for _, ev := range evs {
		m.Update(eventsMsg{ev})
	}
}

func start(items []string, deps map[string][]string) Event {
	return Event{Type: ExecutionStart, Execution: "x", Command: "ensure", Flow: "f", Profile: "dev",
		Workspace: "/w", Items: items, Deps: deps}
}

func labels(m *tuiModel) string {
	var parts []string
	for _, r := range m.rows {
		l := r.id + "=" + m.rowLabel(r)
		if on := m.waitingOn(r); r.phase == phasePending && len(on) > 0 {
			l += "(" + strings.Join(on, ",") + ")"
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, " ")
}

func TestTUIUpdateRowStates(t *testing.T) {
	items := []string{"a", "b", "c", "d"}
	deps := map[string][]string{"b": {"a"}, "c": {"a", "b"}}
	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"before anything", []Event{start(items, deps)},
			"a=queued b=waiting(a) c=waiting(a,b) d=queued"},
		{"running", []Event{start(items, deps), {Type: ItemStart, Item: "a"}},
			"a=running b=waiting(a) c=waiting(a,b) d=queued"},
		{"a done frees b", []Event{start(items, deps), {Type: ItemStart, Item: "a"}, {Type: ItemDone, Item: "a", Status: StatusApplied}},
			"a=applied b=queued c=waiting(b) d=queued"},
		{"failed dep keeps waiting", []Event{start(items, deps), {Type: ItemStart, Item: "a"}, {Type: ItemFailed, Item: "a", Error: "boom"}},
			"a=failed b=waiting(a) c=waiting(a,b) d=queued"},
		{"interrupted", []Event{start(items, deps), {Type: ItemStart, Item: "d"}, {Type: ItemInterrupted, Item: "d"}},
			"a=queued b=waiting(a) c=waiting(a,b) d=interrupted"},
		{"unknown from recovery", []Event{start(items, deps), {Type: ItemUnknown, Item: "a"}},
			"a=unknown b=waiting(a) c=waiting(a,b) d=queued"},
		{"end: not started from statuses", []Event{start(items, deps), {Type: ItemStart, Item: "a"},
			{Type: ItemDone, Item: "a", Status: StatusUnchanged},
			{Type: ExecutionEnd, Outcome: "interrupted", Statuses: map[string]Status{"a": StatusUnchanged, "b": StatusNotStarted, "c": StatusNotStarted, "d": StatusNotStarted}}},
			"a=unchanged b=not started c=not started d=not started"},
		{"end: running row takes its outcome", []Event{start(items, deps), {Type: ItemStart, Item: "d"},
			{Type: ExecutionEnd, Outcome: "interrupted", Statuses: map[string]Status{"d": StatusInterrupted}}},
			"a=queued b=waiting(a) c=waiting(a,b) d=interrupted"},
		{"new block: finished rows pending again", []Event{start(items, deps),
			{Type: BlockStart, Execution: "x", Block: "discover"},
			{Type: ItemStart, Item: "a"}, {Type: ItemDone, Item: "a", Status: StatusDiscovered},
			{Type: ItemStart, Item: "d"}, {Type: ItemFailed, Item: "d", Error: "no"},
			{Type: BlockStart, Execution: "x", Block: "ensure"}},
			"a=queued b=waiting(a) c=waiting(a,b) d=failed"},
		{"clean waits on dependents", []Event{start(items, deps), {Type: BlockStart, Execution: "x", Block: "clean"}},
			"a=waiting(b,c) b=waiting(c) c=queued d=queued"},
		{"rows keyed by ID across executions", []Event{start(items, deps),
			{Type: ItemStart, Item: "a"}, {Type: ItemDone, Item: "a", Status: StatusApplied},
			{Type: ExecutionEnd, Execution: "x", Outcome: "complete", Statuses: map[string]Status{"a": StatusApplied}},
			{Type: ExecutionStart, Execution: "y", Command: "ensure", Items: []string{"a", "e"}},
			{Type: ItemStart, Item: "e"}},
			"a=applied b=queued c=waiting(b) d=queued e=running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel(newFakeClock(), nil)
			send(m, tt.events...)
			if got := labels(m); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestTUIUpdateNewBlockForgetsOld checks that a row pending in a new block
// shows nothing of the block before: no elapsed time, no message, also
// once the outcome calls it not started.
func TestTUIUpdateNewBlockForgetsOld(t *testing.T) {
	clock := newFakeClock()
	m := testModel(clock, nil)
	send(m, start([]string{"a", "b"}, map[string][]string{"b": {"a"}}),
		Event{Type: BlockStart, Execution: "x", Block: "discover"},
		Event{Type: ItemStart, Item: "b", Time: clock.Now()},
		Event{Type: ItemMessage, Item: "b", Message: "discovered goal"},
		Event{Type: ItemDone, Item: "b", Status: StatusDiscovered, Time: clock.Now().Add(300 * time.Millisecond)},
		Event{Type: BlockStart, Execution: "x", Block: "ensure"})
	words := func() string {
		return strings.Join(strings.Fields(ansi.Strip(m.rowLine(m.byID["b"], m.columns(100, m.rows)))), " ")
	}
	if line, want := words(), "○ b waiting on a"; line != want {
		t.Errorf("pending row %q, want %q", line, want)
	}
	send(m, Event{Type: ExecutionEnd, Outcome: "interrupted", Statuses: map[string]Status{"a": StatusNotStarted, "b": StatusNotStarted}})
	if line, want := words(), "- b not started"; line != want {
		t.Errorf("final row %q, want %q", line, want)
	}
}

func TestTUIUpdateProgress(t *testing.T) {
	clock := newFakeClock()
	m := testModel(clock, nil)
	send(m, start([]string{"dl"}, nil), Event{Type: ItemStart, Item: "dl", Time: clock.Now()})
	send(m,
		Event{Type: ItemLimit, Item: "dl", Limit: &Limit{Kind: LimitBytes, Total: 10 << 20}},
		Event{Type: ItemProgress, Item: "dl", Delta: 3 << 20, Done: 3 << 20},
		Event{Type: ItemMessage, Item: "dl", Message: "GET \x1b[1mhttps://example.test/a\x1b[0m\r\n200"},
	)
	clock.Add(1500 * time.Millisecond)
	line := ansi.Strip(m.rowLine(m.byID["dl"], m.columns(100, m.rows)))
	for _, want := range []string{"▸ dl ███░░░░░░░░░ 3.0 MiB / 10.0 MiB 1.5s", "GET https://example.test/a; 200"} {
		if !strings.Contains(line, want) {
			t.Errorf("row %q lacks %q", line, want)
		}
	}
	// The row keeps its exact final state once ended.
	send(m, Event{Type: ItemProgress, Item: "dl", Delta: 7 << 20, Done: 10 << 20},
		Event{Type: ItemDone, Item: "dl", Status: StatusApplied, Time: clock.Now()})
	clock.Add(time.Hour)
	line = ansi.Strip(m.rowLine(m.byID["dl"], m.columns(100, m.rows)))
	for _, want := range []string{"✓ dl applied      10.0 MiB / 10.0 MiB 1.5s"} {
		if !strings.Contains(line, want) {
			t.Errorf("final row %q lacks %q", line, want)
		}
	}
}

func TestTUIUpdateFooter(t *testing.T) {
	items := []string{"build", "upload", "extra"}
	begin := []Event{start(items, nil), {Type: ItemStart, Item: "build"}, {Type: ItemStart, Item: "upload"}}
	tests := []struct {
		name   string
		events []Event
		want   string
	}{
		{"running", nil, "Ctrl-C: stop after the items in flight"},
		{"stop", []Event{{Type: InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}}},
			"stopping: 2 in flight (build, upload) — Ctrl-C again to cancel them"},
		{"stop, one finished since", []Event{{Type: InterruptReceived, Stage: "stop"}, {Type: ItemDone, Item: "build", Status: StatusApplied}},
			"stopping: 1 in flight (upload) — Ctrl-C again to cancel them"},
		{"stop, all finished since", []Event{{Type: InterruptReceived, Stage: "stop"},
			{Type: ItemDone, Item: "build", Status: StatusApplied}, {Type: ItemDone, Item: "upload", Status: StatusApplied}},
			"stopping: nothing left in flight"},
		{"cancel", []Event{{Type: InterruptReceived, Stage: "stop"}, {Type: CancelRequested, Stage: "cancel"}},
			"cancelling… build, upload — Ctrl-C again to quit at once"},
		{"summary after a stop", []Event{{Type: InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}},
			{Type: ItemDone, Item: "build", Status: StatusApplied},
			{Type: ItemDone, Item: "upload", Status: StatusApplied},
			{Type: ExecutionEnd, Outcome: "interrupted", Statuses: map[string]Status{"build": StatusApplied, "upload": StatusApplied, "extra": StatusNotStarted}}},
			"interrupted after 0.0s: 2 applied, 1 not started\nstopped: nothing new started; let build, upload finish"},
		// A cancel over within one frame is still named at the end.
		{"summary after a cancel", []Event{{Type: InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}},
			{Type: ItemDone, Item: "build", Status: StatusApplied},
			{Type: CancelRequested, Stage: "cancel", InFlight: []string{"upload"}},
			{Type: ItemInterrupted, Item: "upload"},
			{Type: ExecutionEnd, Outcome: "interrupted", Statuses: map[string]Status{"build": StatusApplied, "upload": StatusInterrupted, "extra": StatusNotStarted}}},
			"interrupted after 0.0s: 1 applied, 1 interrupted, 1 not started\nstopped, then cancelled: upload"},
		{"fatal", []Event{{Type: Fatal, Message: "flow.yaml:3:4: unknown type", Code: 2}}, "error: flow.yaml:3:4: unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel(newFakeClock(), nil)
			send(m, begin...)
			send(m, tt.events...)
			if got := m.footer(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			frame := m.frame()
			want := tt.want[strings.LastIndexByte(tt.want, '\n')+1:]
			if last := frame[strings.LastIndexByte(frame, '\n')+1:]; last != want {
				t.Errorf("last line of the frame is %q", last)
			}
		})
	}
}

func TestTUIUpdateNoticesAndLock(t *testing.T) {
	m := testModel(newFakeClock(), nil)
	send(m, Event{Type: LockWait, Message: "held by pid 7 on ci since 10:00"})
	if !strings.Contains(m.frame(), "lock: held by pid 7 on ci since 10:00") {
		t.Errorf("lock wait not shown:\n%s", m.frame())
	}
	send(m, start([]string{"a"}, nil))
	for i := range 5 {
		send(m, Event{Type: Notice, Message: fmt.Sprintf("notice %d", i)})
	}
	frame := m.frame()
	if strings.Contains(frame, "lock:") {
		t.Errorf("lock wait still shown once the execution started:\n%s", frame)
	}
	if strings.Contains(frame, "notice 1") || !strings.Contains(frame, "notice: notice 2") || !strings.Contains(frame, "notice: notice 4") {
		t.Errorf("want the last %d notices:\n%s", maxNotices, frame)
	}
}

// TestTUIUpdateResize checks a resize: every line fits the new width, and
// a frame never grows taller than the terminal.
func TestTUIUpdateResize(t *testing.T) {
	m := testModel(newFakeClock(), nil)
	var items []string
	for i := range 250 {
		items = append(items, fmt.Sprintf("item_with_a_long_name_%03d", i))
	}
	send(m, start(items, nil))
	for _, id := range items[:200] {
		send(m, Event{Type: ItemStart, Item: id}, Event{Type: ItemDone, Item: id, Status: StatusApplied})
	}
	send(m, Event{Type: ItemStart, Item: items[200]}, Event{Type: ItemMessage, Item: items[200], Message: strings.Repeat("long message ", 20)})
	for _, size := range [][2]int{{120, 40}, {80, 24}, {40, 10}, {20, 3}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		frame := m.frame()
		lines := strings.Split(frame, "\n")
		if len(lines) > size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > size[0] {
				t.Errorf("%dx%d: line %q is %d wide", size[0], size[1], l, w)
			}
		}
		if size[1] >= 10 && !strings.Contains(frame, "_200 ") {
			t.Errorf("%dx%d: the running row is not shown:\n%s", size[0], size[1], frame)
		}
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	frame := m.frame()
	if !strings.Contains(frame, "… 200 more rows: 200 applied") && !strings.Contains(frame, "more rows: 200 applied") {
		t.Errorf("finished rows not collapsed:\n%s", frame)
	}
	if !strings.Contains(frame, "▸ item_with_a_long_name_200 ⠋ running") {
		t.Errorf("running row missing:\n%s", frame)
	}
}

func TestTUIUpdateCtrlC(t *testing.T) {
	presses := 0
	m := testModel(newFakeClock(), func() { presses++ })
	ctrlC := tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	if _, cmd := m.Update(ctrlC); cmd != nil || presses != 1 {
		t.Fatalf("first press: cmd %v, %d presses", cmd, presses)
	}
	send(m, Event{Type: InterruptReceived, Stage: "stop"})
	if _, cmd := m.Update(ctrlC); cmd != nil || presses != 2 {
		t.Fatalf("second press: cmd %v, %d presses", cmd, presses)
	}
	send(m, Event{Type: CancelRequested, Stage: "cancel"})
	// With Caps Lock on, as a terminal with the kitty keyboard protocol
	// reports it.
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl | tea.ModCapsLock})
	if cmd == nil {
		t.Fatal("third press while cancelling: no quit")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatalf("third press: cmd gives %T, want tea.QuitMsg", cmd())
	}
	if presses != 2 || !m.quitOnInterrupt {
		t.Errorf("third press: %d presses, quitOnInterrupt %v; want the view to quit first", presses, m.quitOnInterrupt)
	}
	if !strings.HasSuffix(m.frame(), "quitting at once: what was in flight is discovered again on the next run\n") {
		t.Errorf("last frame does not say it quits at once:\n%s", m.frame())
	}
	if _, cmd := m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"}); cmd != nil {
		t.Errorf("other keys do nothing, got a cmd")
	}
}

func TestTUIUpdatePanicQuits(t *testing.T) {
	m := testModel(newFakeClock(), func() { panic("boom") })
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	if m.panicked != "boom" || len(m.stack) == 0 {
		t.Fatalf("panic not kept: %v", m.panicked)
	}
	if cmd == nil {
		t.Fatal("no quit after a panic")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatalf("cmd gives %T, want tea.QuitMsg", cmd())
	}
}

func TestTUIColours(t *testing.T) {
	m := newTUIModel(newTUIStyles(true), newFakeClock().Now, nil)
	send(m, start([]string{"a"}, nil), Event{Type: ItemStart, Item: "a"}, Event{Type: ItemDone, Item: "a", Status: StatusApplied})
	if !strings.Contains(m.frame(), "\x1b[32m") {
		t.Errorf("with colour: applied row not green: %q", m.frame())
	}
	plain := testModel(newFakeClock(), nil)
	send(plain, start([]string{"a"}, nil), Event{Type: ItemStart, Item: "a"}, Event{Type: ItemDone, Item: "a", Status: StatusApplied})
	if strings.ContainsRune(plain.frame(), 0x1b) {
		t.Errorf("no colour: escape codes in %q", plain.frame())
	}
}

// TestTUIRepaintsOnInterrupt: a stop, a cancel and the end redraw the whole
// frame, since a Ctrl-C the terminal echoed may have written over it; other
// events redraw only what changed.
func TestTUIRepaintsOnInterrupt(t *testing.T) {
	m := testModel(newFakeClock(), nil)
	if _, cmd := m.Update(eventsMsg{start([]string{"a"}, nil), {Type: ItemStart, Item: "a"}}); cmd != nil {
		t.Errorf("a start asks for a command: %v", cmd())
	}
	for _, ev := range []Event{{Type: InterruptReceived, Stage: "stop"}, {Type: CancelRequested, Stage: "cancel"}} {
		_, cmd := m.Update(eventsMsg{{Type: ItemMessage, Item: "a", Message: "x"}, ev})
		if cmd == nil || cmd() != tea.ClearScreen() {
			t.Errorf("%s: no full repaint", ev.Type)
		}
	}
	_, cmd := m.Update(closeMsg{})
	if cmd == nil {
		t.Fatal("close: no command")
	}
	// A sequence (its message type is bubbletea's own): the repaint, then
	// the quit.
	seq := reflect.ValueOf(cmd())
	if seq.Kind() != reflect.Slice || seq.Len() != 2 {
		t.Fatalf("close: %#v, want a repaint and then a quit", cmd())
	}
	first, _ := seq.Index(0).Interface().(tea.Cmd)
	last, _ := seq.Index(1).Interface().(tea.Cmd)
	if first == nil || first() != tea.ClearScreen() {
		t.Errorf("close does not repaint first")
	}
	if last == nil {
		t.Fatal("close: no last command")
	}
	if _, ok := last().(tea.QuitMsg); !ok {
		t.Errorf("close does not quit last")
	}
}
