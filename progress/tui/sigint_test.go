package tui

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"testing"
	"time"

	"github.com/peace-go/peace/progress"
)

// sigintChild is set in the environment of the process that runs
// TestCtrlCWithoutHandlerIsSIGINT's view.
const sigintChild = "PEACE_TEST_TUI_SIGINT_CHILD"

// A program that shows the terminal view without wiring Ctrl-C still gets
// it: the key becomes the SIGINT the terminal would have sent.
func TestCtrlCWithoutHandlerIsSIGINT(t *testing.T) {
	if os.Getenv(sigintChild) == "" {
		// The SIGINT reaches the whole process, and every signal handler
		// in it: the test runs in a process of its own, where no other
		// test's handlers are left to see it.
		cmd := exec.Command(os.Args[0], "-test.run=^TestCtrlCWithoutHandlerIsSIGINT$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), sigintChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestCtrlCWithoutHandlerIsSIGINT")) {
			t.Fatalf("in its own process: %v\n%s", err, out)
		}
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	r, w := io.Pipe()
	defer w.Close()
	v, err := New(io.Discard, Options{In: r, Width: 80, Height: 24, NoColor: true})
	if err != nil {
		t.Fatal(err)
	}
	v.Emit(progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Items: []string{"a"}})
	if _, err := w.Write([]byte{0x03}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sigs:
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C in the view did not reach the process")
	}
	_ = v.Close()
}

// Output lines, blank ones among them, never hold up the view: each Emit
// returns, and the newest line is the row's message.
func TestOutputLinesDoNotBlock(t *testing.T) {
	var out bytes.Buffer
	v, err := New(&out, Options{Width: 80, Height: 24, NoColor: true, OnInterrupt: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.Emit(progress.Event{Type: progress.ExecutionStart, Execution: "x", Command: "ensure", Items: []string{"a"}})
		for _, line := range []string{"step 1", "", "   ", "step 2"} {
			v.Emit(progress.Event{Type: progress.ItemOutput, Execution: "x", Block: "ensure", Item: "a", Line: line})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit blocked on an output line")
	}
	_ = v.Close()
}
