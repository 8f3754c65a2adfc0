package tui

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

func newTestTUI(t *testing.T, out io.Writer, opts Options) *view {
	t.Helper()
	opts.NoColor = true
	if opts.now == nil {
		opts.now = progresstest.NewClock().Now
	}
	if opts.Width == 0 {
		opts.Width, opts.Height = 100, 40
	}
	v, err := New(out, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*view)
}

// TestTUICloseRendersEverything emits from 32 goroutines, one item each,
// many small updates, and checks that after Close the final frame shows
// every row exactly as the events left it.
func TestTUICloseRendersEverything(t *testing.T) {
	var out progresstest.Buffer
	clock := progresstest.NewClock()
	v := newTestTUI(t, &out, Options{now: clock.Now})
	e := progress.NewEmitter(v)
	e.SetClock(clock.Now)
	const goroutines, steps = 32, 500
	var items []string
	for g := range goroutines {
		items = append(items, fmt.Sprintf("item_%02d", g))
	}
	e.Emit(progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Flow: "many", Items: items})
	var wg sync.WaitGroup
	for g, id := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Emit(progress.Event{Type: progress.ItemStart, Execution: "x", Block: "ensure", Item: id})
			tr := e.ItemTracker("x", "ensure", id)
			tr.SetLimit(progress.Steps(steps))
			for i := range steps {
				tr.Advance(1)
				tr.Message(fmt.Sprintf("step %d", i+1))
			}
			if g%2 == 0 {
				e.Emit(progress.Event{Type: progress.ItemDone, Execution: "x", Block: "ensure", Item: id, Status: progress.StatusApplied})
			}
		}()
	}
	wg.Wait()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	m := v.final
	if m == nil || !m.closing {
		t.Fatal("no final model")
	}
	for g, id := range items {
		r := m.ledger.Row(id)
		wantPhase := progress.PhaseRunning
		if g%2 == 0 {
			wantPhase = progress.PhaseEnded
		}
		if r.Done != steps || r.Message != fmt.Sprintf("step %d", steps) || r.Phase != wantPhase {
			t.Errorf("%s: done %d, message %q, phase %v", id, r.Done, r.Message, r.Phase)
		}
	}
	// Every line of the final frame reached the terminal.
	written := ansi.Strip(out.String())
	for _, line := range strings.Split(strings.TrimSpace(m.frame()), "\n") {
		if !strings.Contains(written, line) {
			t.Errorf("final line %q was never written", line)
		}
	}
	if !strings.Contains(written, fmt.Sprintf("%d/%d steps", steps, steps)) {
		t.Error("final amounts not written")
	}
	if !strings.HasSuffix(out.String(), "\x1b[?25h") && !strings.Contains(out.String(), "\x1b[?25h") {
		t.Error("cursor not shown again at the end")
	}
}

// TestTUICtrlC presses Ctrl-C on the view's input three times: the first
// two reach OnInterrupt while the view runs; the third, while cancelling,
// ends the view (restoring the terminal) before it reaches OnInterrupt.
func TestTUICtrlC(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	presses := make(chan int, 3)
	var n int
	var out progresstest.Buffer
	var v *view
	v = newTestTUI(t, &out, Options{In: in, OnInterrupt: func() {
		n++
		select {
		case <-v.runDone:
			presses <- -n // called after the program ended
		default:
			presses <- n
		}
	}})
	e := progress.NewEmitter(v)
	e.Emit(progress.Event{Type: progress.ExecutionStart, Command: "ensure", Items: []string{"build", "upload"}})
	e.Emit(progress.Event{Type: progress.ItemStart, Item: "build"})
	e.Emit(progress.Event{Type: progress.ItemStart, Item: "upload"})

	press := func() int {
		t.Helper()
		if _, err := keys.Write([]byte{0x03}); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-presses:
			return p
		case <-time.After(10 * time.Second):
			t.Fatal("Ctrl-C did not reach OnInterrupt")
		}
		return 0
	}
	if p := press(); p != 1 {
		t.Fatalf("first press: %d", p)
	}
	e.Emit(progress.Event{Type: progress.InterruptReceived, Stage: "stop", InFlight: []string{"build", "upload"}})
	waitFor(t, &out, "stopping: 2 in flight (build, upload) — Ctrl-C again to cancel them")
	if p := press(); p != 2 {
		t.Fatalf("second press: %d", p)
	}
	e.Emit(progress.Event{Type: progress.CancelRequested, Stage: "cancel", InFlight: []string{"build", "upload"}})
	waitFor(t, &out, "cancelling… build, upload")
	if p := press(); p != -3 {
		t.Fatalf("third press: %d, want it after the program ended", p)
	}
	if err := v.Close(); err != nil {
		t.Fatalf("Close after the third press: %v", err)
	}
	if strings.Contains(out.String(), "^C") {
		t.Error("^C echoed into the view")
	}
}

// waitFor waits until the plain text of out contains s.
func waitFor(t *testing.T, out *progresstest.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ansi.Strip(out.String()), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%q never shown; output:\n%s", s, ansi.Strip(out.String()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTUICloseTwiceAndEmitAfterClose(t *testing.T) {
	var out progresstest.Buffer
	v := newTestTUI(t, &out, Options{})
	v.Emit(progress.Event{Type: progress.Fatal, Message: "bad flag", Code: 2})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	v.Emit(progress.Event{Type: progress.Notice, Message: "late"})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ansi.Strip(out.String()); !strings.Contains(got, "error: bad flag") {
		t.Errorf("fatal not shown: %q", got)
	}
}

// TestTUIStdinNotATerminal runs the view with a stdin that is a file but
// not a terminal: /dev/null, a regular file, a pipe with a Ctrl-C byte in
// it. The view draws every event, takes nothing for a key, and shows the
// cursor again when closed.
func TestTUIStdinNotATerminal(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(regular, []byte("\x03"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func() (*os.File, error)
	}{
		{"dev null", func() (*os.File, error) { return os.Open(os.DevNull) }},
		{"regular file", func() (*os.File, error) { return os.Open(regular) }},
		{"pipe", func() (*os.File, error) {
			r, w, err := os.Pipe()
			if err == nil {
				_, err = w.WriteString("\x03")
				t.Cleanup(func() { w.Close() })
			}
			return r, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.open()
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out progresstest.Buffer
			var pressed atomic.Int32
			v := newTestTUI(t, &out, Options{In: in, OnInterrupt: func() { pressed.Add(1) }})
			v.Emit(progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Flow: "f", Items: []string{"a"}})
			v.Emit(progress.Event{Type: progress.ItemStart, Execution: "x", Block: "ensure", Item: "a"})
			waitFor(t, &out, "▸ a")
			if err := v.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if n := pressed.Load(); n != 0 {
				t.Errorf("a byte of stdin taken for Ctrl-C %d times", n)
			}
			if s := out.String(); !strings.Contains(s, ansi.ShowCursor) {
				t.Errorf("the cursor is not shown again: %q", s)
			}
		})
	}
}

func TestNewTUIWithoutOutput(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("no error without an output")
	}
}

// TestTUIPanicRestoresTerminal runs a view in a child process whose
// OnInterrupt panics: the terminal is restored (the cursor shown again)
// before the process dies of the panic.
func TestTUIPanicRestoresTerminal(t *testing.T) {
	if os.Getenv("PEACE_TUI_PANIC_CHILD") == "1" {
		in, keys := io.Pipe()
		v, err := New(os.Stdout, Options{In: in, NoColor: true, Width: 80, Height: 20,
			OnInterrupt: func() { panic("boom from OnInterrupt") }})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		v.Emit(progress.Event{Type: progress.ExecutionStart, Command: "ensure", Items: []string{"a"}})
		keys.Write([]byte{0x03})
		time.Sleep(10 * time.Second)
		os.Exit(4) // the panic never came
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTUIPanicRestoresTerminal$")
	cmd.Env = append(os.Environ(), "PEACE_TUI_PANIC_CHILD=1")
	var stdout, stderr progresstest.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 2 {
		t.Fatalf("child: %v, want exit status 2 from a panic\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "panic: tui view: boom from OnInterrupt") {
		t.Errorf("child's panic not reported:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "\x1b[?25h") {
		t.Errorf("terminal not restored (cursor hidden) before the panic: %q", stdout.String())
	}
}

// TestTUIOnAFile: asked for with no terminal to draw on (--progress tui
// 2>file), the view still draws its frames, at a size of its own.
func TestTUIOnAFile(t *testing.T) {
	var out progresstest.Buffer
	v, err := New(&out, Options{NoColor: true, now: progresstest.NewClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	v.Emit(progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Flow: "f", Items: []string{"a"}})
	v.Emit(progress.Event{Type: progress.ItemStart, Execution: "x", Block: "ensure", Item: "a"})
	v.Emit(progress.Event{Type: progress.ItemDone, Execution: "x", Block: "ensure", Item: "a", Status: progress.StatusApplied})
	v.Emit(progress.Event{Type: progress.ExecutionEnd, Execution: "x", Outcome: "complete", Statuses: map[string]progress.Status{"a": progress.StatusApplied}})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	got := ansi.Strip(out.String())
	for _, want := range []string{"ensure  flow f", "✓ a applied", "done in 0.0s: 1 applied"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q not drawn; output: %q", want, got)
		}
	}
}
