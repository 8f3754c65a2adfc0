package tui

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

func asciiStyles() styles { return newStyles(false) }

// testModel is a model with colours off and a clock that stands still
// unless the test moves it.
func testModel(clock *progresstest.Clock, onInterrupt func()) *model {
	m := newModel(asciiStyles(), clock.Now, onInterrupt)
	m.width, m.height = 100, 0
	return m
}

// send applies events one by one through Update, as the program would.
func send(m *model, evs ...progress.Event) {
	for _, ev := range evs {
		m.Update(eventsMsg{ev})
	}
}

func start(items []string, deps map[string][]string) progress.Event {
	return progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Flow: "f", Profile: "dev",
		Workspace: "/w", Items: items, Deps: deps}
}

func labels(m *model) string {
	var parts []string
	for _, r := range m.ledger.Rows() {
		l := r.ID + "=" + m.ledger.Label(r)
		if on := m.ledger.WaitingOn(r); r.Phase == progress.PhasePending && len(on) > 0 {
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
		events []progress.Event
		want   string
	}{
		{"before anything", []progress.Event{start(items, deps)},
			"a=queued b=waiting(a) c=waiting(a,b) d=queued"},
		{"running", []progress.Event{start(items, deps), {Type: progress.ItemStart, Item: "a"}},
			"a=running b=waiting(a) c=waiting(a,b) d=queued"},
		{"a done frees b", []progress.Event{start(items, deps), {Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemDone, Item: "a", Status: progress.StatusApplied}},
			"a=applied b=queued c=waiting(b) d=queued"},
		{"failed dep keeps waiting", []progress.Event{start(items, deps), {Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemFailed, Item: "a", Error: "boom"}},
			"a=failed b=waiting(a) c=waiting(a,b) d=queued"},
		{"interrupted", []progress.Event{start(items, deps), {Type: progress.ItemStart, Item: "d"}, {Type: progress.ItemInterrupted, Item: "d"}},
			"a=queued b=waiting(a) c=waiting(a,b) d=interrupted"},
		{"unknown from recovery", []progress.Event{start(items, deps), {Type: progress.ItemUnknown, Item: "a"}},
			"a=unknown b=waiting(a) c=waiting(a,b) d=queued"},
		{"end: not started from statuses", []progress.Event{start(items, deps), {Type: progress.ItemStart, Item: "a"},
			{Type: progress.ItemDone, Item: "a", Status: progress.StatusUnchanged},
			{Type: progress.ExecutionEnd, Outcome: "interrupted", Statuses: map[string]progress.Status{"a": progress.StatusUnchanged, "b": progress.StatusNotStarted, "c": progress.StatusNotStarted, "d": progress.StatusNotStarted}}},
			"a=unchanged b=not started c=not started d=not started"},
		{"end: running row takes its outcome", []progress.Event{start(items, deps), {Type: progress.ItemStart, Item: "d"},
			{Type: progress.ExecutionEnd, Outcome: "interrupted", Statuses: map[string]progress.Status{"d": progress.StatusInterrupted}}},
			"a=queued b=waiting(a) c=waiting(a,b) d=interrupted"},
		{"new block: finished rows pending again", []progress.Event{start(items, deps),
			{Type: progress.BlockStart, Execution: "x", Block: "discover"},
			{Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemDone, Item: "a", Status: progress.StatusDiscovered},
			{Type: progress.ItemStart, Item: "d"}, {Type: progress.ItemFailed, Item: "d", Error: "no"},
			{Type: progress.BlockStart, Execution: "x", Block: "ensure"}},
			"a=queued b=waiting(a) c=waiting(a,b) d=failed"},
		{"clean waits on dependents", []progress.Event{start(items, deps), {Type: progress.BlockStart, Execution: "x", Block: "clean"}},
			"a=waiting(b,c) b=waiting(c) c=queued d=queued"},
		{"rows keyed by ID across executions", []progress.Event{start(items, deps),
			{Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemDone, Item: "a", Status: progress.StatusApplied},
			{Type: progress.ExecutionEnd, Execution: "x", Outcome: "complete", Statuses: map[string]progress.Status{"a": progress.StatusApplied}},
			{Type: progress.ExecutionStart, Execution: "y", Command: "ensure", Items: []string{"a", "e"}},
			{Type: progress.ItemStart, Item: "e"}},
			"a=applied b=queued c=waiting(b) d=queued e=running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel(progresstest.NewClock(), nil)
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
	clock := progresstest.NewClock()
	m := testModel(clock, nil)
	send(m, start([]string{"a", "b"}, map[string][]string{"b": {"a"}}),
		progress.Event{Type: progress.BlockStart, Execution: "x", Block: "discover"},
		progress.Event{Type: progress.ItemStart, Item: "b", Time: clock.Now()},
		progress.Event{Type: progress.ItemMessage, Item: "b", Message: "discovered goal"},
		progress.Event{Type: progress.ItemDone, Item: "b", Status: progress.StatusDiscovered, Time: clock.Now().Add(300 * time.Millisecond)},
		progress.Event{Type: progress.BlockStart, Execution: "x", Block: "ensure"})
	words := func() string {
		return strings.Join(strings.Fields(ansi.Strip(m.rowLine(m.ledger.Row("b"), m.columns(100, m.ledger.Rows())))), " ")
	}
	if line, want := words(), "○ b waiting on a"; line != want {
		t.Errorf("pending row %q, want %q", line, want)
	}
	send(m, progress.Event{Type: progress.ExecutionEnd, Outcome: "interrupted", Statuses: map[string]progress.Status{"a": progress.StatusNotStarted, "b": progress.StatusNotStarted}})
	if line, want := words(), "- b not started"; line != want {
		t.Errorf("final row %q, want %q", line, want)
	}
}

func TestTUIUpdateProgress(t *testing.T) {
	clock := progresstest.NewClock()
	m := testModel(clock, nil)
	send(m, start([]string{"dl"}, nil), progress.Event{Type: progress.ItemStart, Item: "dl", Time: clock.Now()})
	send(m,
		progress.Event{Type: progress.ItemLimit, Item: "dl", Limit: &progress.Limit{Kind: progress.LimitBytes, Total: 10 << 20}},
		progress.Event{Type: progress.ItemProgress, Item: "dl", Delta: 3 << 20, Done: 3 << 20},
		progress.Event{Type: progress.ItemMessage, Item: "dl", Message: "GET \x1b[1mhttps://example.test/a\x1b[0m\r\n200"},
	)
	clock.Add(1500 * time.Millisecond)
	line := ansi.Strip(m.rowLine(m.ledger.Row("dl"), m.columns(100, m.ledger.Rows())))
	for _, want := range []string{"▸ dl ███░░░░░░░░░ 3.0 MiB / 10.0 MiB 1.5s", "GET https://example.test/a; 200"} {
		if !strings.Contains(line, want) {
			t.Errorf("row %q lacks %q", line, want)
		}
	}
	// The row keeps its exact final state once ended.
	send(m, progress.Event{Type: progress.ItemProgress, Item: "dl", Delta: 7 << 20, Done: 10 << 20},
		progress.Event{Type: progress.ItemDone, Item: "dl", Status: progress.StatusApplied, Time: clock.Now()})
	clock.Add(time.Hour)
	line = ansi.Strip(m.rowLine(m.ledger.Row("dl"), m.columns(100, m.ledger.Rows())))
	for _, want := range []string{"✓ dl applied      10.0 MiB / 10.0 MiB 1.5s"} {
		if !strings.Contains(line, want) {
			t.Errorf("final row %q lacks %q", line, want)
		}
	}
}

func TestTUIUpdateFooter(t *testing.T) {
	items := []string{"build", "upload", "extra"}
	begin := []progress.Event{start(items, nil), {Type: progress.ItemStart, Item: "build"}, {Type: progress.ItemStart, Item: "upload"}}
	tests := []struct {
		name   string
		events []progress.Event
		want   string
	}{
		{"running", nil, "Ctrl-C: stop after the items in flight"},
		{"stop", []progress.Event{{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}}},
			"stopping: 2 in flight (build, upload) — Ctrl-C again to cancel them"},
		{"stop, one finished since", []progress.Event{{Type: progress.InterruptReceived, Stage: "stop"}, {Type: progress.ItemDone, Item: "build", Status: progress.StatusApplied}},
			"stopping: 1 in flight (upload) — Ctrl-C again to cancel them"},
		{"stop, all finished since", []progress.Event{{Type: progress.InterruptReceived, Stage: "stop"},
			{Type: progress.ItemDone, Item: "build", Status: progress.StatusApplied}, {Type: progress.ItemDone, Item: "upload", Status: progress.StatusApplied}},
			"stopping: nothing left in flight"},
		{"cancel", []progress.Event{{Type: progress.InterruptReceived, Stage: "stop"}, {Type: progress.CancelRequested, Stage: "cancel"}},
			"cancelling… build, upload — Ctrl-C again to quit at once"},
		{"summary after a stop", []progress.Event{{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}},
			{Type: progress.ItemDone, Item: "build", Status: progress.StatusApplied},
			{Type: progress.ItemDone, Item: "upload", Status: progress.StatusApplied},
			{Type: progress.ExecutionEnd, Outcome: "interrupted", Statuses: map[string]progress.Status{"build": progress.StatusApplied, "upload": progress.StatusApplied, "extra": progress.StatusNotStarted}}},
			"interrupted after 0.0s: 2 applied, 1 not started\nstopped: nothing new started; let build, upload finish"},
		// A cancel over within one frame is still named at the end.
		{"summary after a cancel", []progress.Event{{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}},
			{Type: progress.ItemDone, Item: "build", Status: progress.StatusApplied},
			{Type: progress.CancelRequested, Stage: "cancel", InFlight: []string{"upload"}},
			{Type: progress.ItemInterrupted, Item: "upload"},
			{Type: progress.ExecutionEnd, Outcome: "interrupted", Statuses: map[string]progress.Status{"build": progress.StatusApplied, "upload": progress.StatusInterrupted, "extra": progress.StatusNotStarted}}},
			"interrupted after 0.0s: 1 applied, 1 interrupted, 1 not started\nstopped, then cancelled: upload"},
		{"fatal", []progress.Event{{Type: progress.Fatal, Message: "flow.yaml:3:4: unknown type", Code: 2}}, "error: flow.yaml:3:4: unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel(progresstest.NewClock(), nil)
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
	m := testModel(progresstest.NewClock(), nil)
	send(m, progress.Event{Type: progress.LockWait, Message: "held by pid 7 on ci since 10:00"})
	if !strings.Contains(m.frame(), "lock: held by pid 7 on ci since 10:00") {
		t.Errorf("lock wait not shown:\n%s", m.frame())
	}
	send(m, start([]string{"a"}, nil))
	for i := range 5 {
		send(m, progress.Event{Type: progress.Notice, Message: fmt.Sprintf("notice %d", i)})
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
	m := testModel(progresstest.NewClock(), nil)
	var items []string
	for i := range 250 {
		items = append(items, fmt.Sprintf("item_with_a_long_name_%03d", i))
	}
	send(m, start(items, nil))
	for _, id := range items[:200] {
		send(m, progress.Event{Type: progress.ItemStart, Item: id}, progress.Event{Type: progress.ItemDone, Item: id, Status: progress.StatusApplied})
	}
	send(m, progress.Event{Type: progress.ItemStart, Item: items[200]}, progress.Event{Type: progress.ItemMessage, Item: items[200], Message: strings.Repeat("long message ", 20)})
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
	m := testModel(progresstest.NewClock(), func() { presses++ })
	ctrlC := tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	if _, cmd := m.Update(ctrlC); cmd != nil || presses != 1 {
		t.Fatalf("first press: cmd %v, %d presses", cmd, presses)
	}
	send(m, progress.Event{Type: progress.InterruptReceived, Stage: "stop"})
	if _, cmd := m.Update(ctrlC); cmd != nil || presses != 2 {
		t.Fatalf("second press: cmd %v, %d presses", cmd, presses)
	}
	send(m, progress.Event{Type: progress.CancelRequested, Stage: "cancel"})
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
	m := testModel(progresstest.NewClock(), func() { panic("boom") })
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
	m := newModel(newStyles(true), progresstest.NewClock().Now, nil)
	send(m, start([]string{"a"}, nil), progress.Event{Type: progress.ItemStart, Item: "a"}, progress.Event{Type: progress.ItemDone, Item: "a", Status: progress.StatusApplied})
	if !strings.Contains(m.frame(), "\x1b[32m") {
		t.Errorf("with colour: applied row not green: %q", m.frame())
	}
	plain := testModel(progresstest.NewClock(), nil)
	send(plain, start([]string{"a"}, nil), progress.Event{Type: progress.ItemStart, Item: "a"}, progress.Event{Type: progress.ItemDone, Item: "a", Status: progress.StatusApplied})
	if strings.ContainsRune(plain.frame(), 0x1b) {
		t.Errorf("no colour: escape codes in %q", plain.frame())
	}
}

// TestTUIRepaintsOnInterrupt: a stop, a cancel and the end redraw the whole
// frame, since a Ctrl-C the terminal echoed may have written over it; other
// events redraw only what changed.
func TestTUIRepaintsOnInterrupt(t *testing.T) {
	m := testModel(progresstest.NewClock(), nil)
	if _, cmd := m.Update(eventsMsg{start([]string{"a"}, nil), {Type: progress.ItemStart, Item: "a"}}); cmd != nil {
		t.Errorf("a start asks for a command: %v", cmd())
	}
	for _, ev := range []progress.Event{{Type: progress.InterruptReceived, Stage: "stop"}, {Type: progress.CancelRequested, Stage: "cancel"}} {
		_, cmd := m.Update(eventsMsg{{Type: progress.ItemMessage, Item: "a", Message: "x"}, ev})
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
