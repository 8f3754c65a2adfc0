package tui

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

// Flows through a real bubbletea program (teatest), with the window size
// and the colour profile pinned; the final frames are golden files in
// testdata (go test -update rewrites them).

// newTestModel runs m in a program of cols x rows with colours off.
func newTestModel(t *testing.T, m *model, cols, rows int) *teatest.TestModel {
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(cols, rows),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
}

func waitOutput(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(s))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func finalFrame(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	tm.Send(closeMsg{})
	m := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*model)
	if m.panicked != nil {
		t.Fatalf("model panicked: %v\n%s", m.panicked, m.stack)
	}
	frame := m.frame()
	if strings.ContainsRune(frame, 0x1b) {
		t.Errorf("colours pinned off, but the frame has escape codes: %q", frame)
	}
	return frame
}

// TestTUIFlowInterrupted is the interrupted scenario: the footer follows
// the stages while the program runs, and the final frame sums up.
func TestTUIFlowInterrupted(t *testing.T) {
	clock := progresstest.NewClock()
	events := progresstest.Recorded(clock, func(e *progress.Emitter) { progresstest.Scenario(e, clock, nil) })
	m := newModel(asciiStyles(), clock.Now, func() {})
	tm := newTestModel(t, m, 100, 30)

	stop := indexOf(events, progress.InterruptReceived)
	cancel := indexOf(events, progress.CancelRequested)
	tm.Send(eventsMsg(events[:stop]))
	waitOutput(t, tm, "Ctrl-C: stop after the items in flight")
	tm.Send(eventsMsg(events[stop:cancel]))
	waitOutput(t, tm, "stopping: 1 in flight (upload)")
	tm.Send(eventsMsg(events[cancel : cancel+1]))
	waitOutput(t, tm, "cancelling… upload")
	tm.Send(eventsMsg(events[cancel+1:]))
	waitOutput(t, tm, "interrupted after 12.6s")
	golden.RequireEqual(t, []byte(finalFrame(t, tm)))
}

func indexOf(events []progress.Event, typ progress.Type) int {
	for i, ev := range events {
		if ev.Type == typ {
			return i
		}
	}
	panic(fmt.Sprintf("no %s event", typ))
}

// manyItems runs 250 items: most finish, a few fail, some run, the rest
// wait.
func manyItems(e *progress.Emitter, clock *progresstest.Clock) {
	var items []string
	deps := map[string][]string{}
	for i := range 250 {
		id := fmt.Sprintf("part_%03d", i)
		items = append(items, id)
		if i >= 240 {
			deps[id] = []string{"part_239"}
		}
	}
	e.Emit(progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Flow: "parts", Profile: "prod",
		Workspace: "/srv/parts/.peace", Items: items, Deps: deps})
	e.Emit(progress.Event{Type: progress.BlockStart, Execution: "x", Block: "ensure"})
	for i, id := range items[:236] {
		e.Emit(progress.Event{Type: progress.ItemStart, Execution: "x", Block: "ensure", Item: id})
		clock.Add(10 * time.Millisecond)
		switch {
		case i == 17 || i == 101:
			e.Emit(progress.Event{Type: progress.ItemFailed, Execution: "x", Block: "ensure", Item: id, Error: "exit status 1: no space left on device"})
		case i < 233:
			st := progress.StatusApplied
			if i%3 == 0 {
				st = progress.StatusUnchanged
			}
			e.Emit(progress.Event{Type: progress.ItemDone, Execution: "x", Block: "ensure", Item: id, Status: st})
		default:
			tr := e.ItemTracker("x", "ensure", id)
			tr.SetLimit(progress.Bytes(64 << 20))
			tr.Advance(int64(i-230) << 22)
			tr.Message("downloading")
		}
	}
}

// TestTUIFlowManyItems checks that 250 rows stay readable in a 80x24
// terminal: finished rows collapse, running and failed rows show.
func TestTUIFlowManyItems(t *testing.T) {
	clock := progresstest.NewClock()
	events := progresstest.Recorded(clock, func(e *progress.Emitter) { manyItems(e, clock) })
	m := newModel(asciiStyles(), clock.Now, func() {})
	tm := newTestModel(t, m, 80, 24)
	tm.Send(eventsMsg(events))
	waitOutput(t, tm, "part_235")
	clock.Add(2 * time.Second)
	frame := finalFrame(t, tm)
	if n := strings.Count(frame, "\n"); n >= 24 {
		t.Errorf("final frame has %d lines in a 24-line terminal", n)
	}
	golden.RequireEqual(t, []byte(frame))
}

// TestTUIFlowManyItemsEnd is the same run to its end: the final frame
// keeps the failures and what never ran, and counts the rest.
func TestTUIFlowManyItemsEnd(t *testing.T) {
	clock := progresstest.NewClock()
	events := progresstest.Recorded(clock, func(e *progress.Emitter) {
		manyItems(e, clock)
		statuses := map[string]progress.Status{}
		for i := range 250 {
			id := fmt.Sprintf("part_%03d", i)
			switch {
			case i == 17 || i == 101:
				statuses[id] = progress.StatusFailed
			case i < 233:
				statuses[id] = progress.StatusApplied
				if i%3 == 0 {
					statuses[id] = progress.StatusUnchanged
				}
			case i < 236:
				statuses[id] = progress.StatusApplied
			default:
				statuses[id] = progress.StatusNotStarted
			}
		}
		e.Emit(progress.Event{Type: progress.ExecutionEnd, Execution: "x", Outcome: "failed", Statuses: statuses})
	})
	m := newModel(asciiStyles(), clock.Now, func() {})
	tm := newTestModel(t, m, 80, 24)
	tm.Send(eventsMsg(events))
	waitOutput(t, tm, "failed after")
	golden.RequireEqual(t, []byte(finalFrame(t, tm)))
}

// TestTUIFlowResize shrinks the terminal mid-run.
func TestTUIFlowResize(t *testing.T) {
	clock := progresstest.NewClock()
	events := progresstest.Recorded(clock, func(e *progress.Emitter) { progresstest.Scenario(e, clock, nil) })
	stop := indexOf(events, progress.InterruptReceived)
	m := newModel(asciiStyles(), clock.Now, func() {})
	tm := newTestModel(t, m, 120, 30)
	tm.Send(eventsMsg(events[:stop]))
	waitOutput(t, tm, "Ctrl-C: stop")
	tm.Send(tea.WindowSizeMsg{Width: 56, Height: 8})
	tm.Send(eventsMsg(events[stop:]))
	waitOutput(t, tm, "interrupted after")
	frame := finalFrame(t, tm)
	for _, line := range strings.Split(frame, "\n") {
		if w := lipgloss.Width(line); w > 56 {
			t.Errorf("line %q is %d wide after the resize to 56", line, w)
		}
	}
	golden.RequireEqual(t, []byte(frame))
}

// TestTUIFrameStopping is a live frame (not the final one): rows with
// bars, spinner, waiting and unknown marks, and the stop footer.
func TestTUIFrameStopping(t *testing.T) {
	clock := progresstest.NewClock()
	events := progresstest.Recorded(clock, func(e *progress.Emitter) { progresstest.Scenario(e, clock, nil) })
	m := newModel(asciiStyles(), clock.Now, nil)
	m.width, m.height = 100, 30
	m.Update(eventsMsg(events[:indexOf(events, progress.InterruptReceived)+1]))
	golden.RequireEqual(t, []byte(m.frame()))
	m.Update(eventsMsg(progresstest.Recorded(clock, func(e *progress.Emitter) {
		e.Emit(progress.Event{Type: progress.ItemStart, Item: "extra"})
		e.Emit(progress.Event{Type: progress.ItemMessage, Item: "extra", Message: "no limit set: a spinner"})
	})))
	if !strings.Contains(m.frame(), "▸ extra    ⠋ running") {
		t.Errorf("no spinner for an item without a limit:\n%s", m.frame())
	}
}

var _ io.Writer = (*progresstest.Buffer)(nil)
