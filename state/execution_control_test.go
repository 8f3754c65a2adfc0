//go:build unix

package state

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestControlDelivered(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	stages, stop, err := ListenControl(dir, r.ID())
	mustOK(t, err)
	defer stop()

	fi, err := os.Lstat(filepath.Join(r.Path(), "control"))
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control is %v, %v; want a FIFO 0600", fi.Mode(), err)
	}
	if _, _, err := ListenControl(dir, r.ID()); err == nil {
		t.Errorf("a second listener was let in")
	}

	want := []ControlStage{ControlStop, ControlCancel, ControlKill, ControlStop}
	for _, s := range want {
		mustOK(t, SendControl(dir, r.ID(), s))
		select {
		case got := <-stages:
			if got != s {
				t.Fatalf("received %q, want %q", got, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s never arrived", s)
		}
	}
	if err := SendControl(dir, r.ID(), "reboot"); err == nil {
		t.Errorf("an unknown stage was sent")
	}

	// Stopping closes the channel, removes the FIFO, and nobody listens
	// any more.
	mustOK(t, stop())
	if _, ok := <-stages; ok {
		t.Errorf("channel still open after stop")
	}
	if _, err := os.Lstat(filepath.Join(r.Path(), "control")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FIFO left after stop: %v", err)
	}
	var nl *NotListeningError
	if err := SendControl(dir, r.ID(), ControlStop); !errors.As(err, &nl) || nl.ID != r.ID() {
		t.Errorf("after stop: %v", err)
	}
	mustOK(t, stop()) // twice is fine
}

// TestControlNoListener sends to a record whose FIFO is there but whose
// listener, a real process holding it open as the runner does, was killed.
func TestControlNoListener(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	var nl *NotListeningError
	if err := SendControl(dir, r.ID(), ControlStop); !errors.As(err, &nl) {
		t.Errorf("no FIFO yet: %v", err)
	}

	// A runner, another process, holds the FIFO open read-write as
	// ListenControl does; killed, it leaves the FIFO behind.
	fifo := filepath.Join(r.Path(), "control")
	mustOK(t, syscall.Mkfifo(fifo, 0o600))
	runner := exec.Command("sh", "-c", `exec 3<>"$1"; echo ready; exec sleep 60`, "sh", fifo)
	out, err := runner.StdoutPipe()
	mustOK(t, err)
	mustOK(t, runner.Start())
	t.Cleanup(func() { runner.Process.Kill(); runner.Wait() })
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("runner: %q, %v", buf, err)
	}
	mustOK(t, SendControl(dir, r.ID(), ControlStop)) // it listens: delivered

	killAndReap(t, runner)
	if _, err := os.Lstat(fifo); err != nil {
		t.Fatalf("the dead runner's FIFO: %v", err)
	}
	for _, s := range []ControlStage{ControlStop, ControlCancel, ControlKill} {
		if err := SendControl(dir, r.ID(), s); !errors.As(err, &nl) {
			t.Errorf("%s to a dead runner: %v", s, err)
		}
	}

	// A new runner may listen on the FIFO the dead one left.
	stages, stop, err := ListenControl(dir, r.ID())
	mustOK(t, err)
	defer stop()
	mustOK(t, SendControl(dir, r.ID(), ControlCancel))
	if got := <-stages; got != ControlCancel {
		t.Errorf("received %q", got)
	}
}
