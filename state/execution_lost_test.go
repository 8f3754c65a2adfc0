//go:build unix

package state

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// startSleeper starts a real child process that waits, to stand for the
// process running an execution; it is killed at the end of the test.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// runningRecord creates the record of a running execution whose process
// is runner.
func runningRecord(t *testing.T, dir string, runner *exec.Cmd) *ExecutionRecord {
	t.Helper()
	e := sampleExecution()
	e.PID = runner.Process.Pid
	e.State = ExecRunning
	return mustCreate(t, dir, e)
}

// killAndReap SIGKILLs cmd and waits until it is gone.
func killAndReap(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func TestExecutionLostWhenRunnerKilled(t *testing.T) {
	dir := newExecDir(t)
	runner := startSleeper(t)
	r := runningRecord(t, dir, runner)
	// The runner's start, not this process's (both may start within one
	// clock tick, so the two are not compared with each other).
	if got, want := r.Execution().ProcStart, procStart(runner.Process.Pid); got == "" || got != want {
		t.Fatalf("proc_start %q, the runner's is %q", got, want)
	}
	mustOK(t, r.SetState(ExecStopping))

	if got := mustRead(t, dir, r.ID()); got.State != ExecStopping {
		t.Fatalf("with the runner alive: %s", got.State)
	}
	killAndReap(t, runner)

	got := mustRead(t, dir, r.ID())
	if got.State != ExecLost || got.Actions != (Actions{}) || got.Ended != nil || got.ExitCode != nil {
		t.Errorf("with the runner killed: %s %+v ended %v exit %v", got.State, got.Actions, got.Ended, got.ExitCode)
	}
	execs, _, err := ListExecutions(dir)
	if err != nil || len(execs) != 1 || execs[0].State != ExecLost {
		t.Errorf("list: %+v, %v", execs, err)
	}
	// Lost is a reading: the file still says what the runner last wrote.
	raw, _ := os.ReadFile(r.Path() + "/execution.json")
	if !strings.Contains(string(raw), `"state": "stopping"`) {
		t.Errorf("execution.json was rewritten: %s", raw)
	}
}

// An execution whose process writes its end and exits between the read of
// its record and the look at its process reads as it ended, not lost.
func TestExecutionEndedJustBeforeItsProcessIsLookedAt(t *testing.T) {
	dir := newExecDir(t)
	runner := startSleeper(t)
	r := runningRecord(t, dir, runner)
	lookedAtLive = func() {
		lookedAtLive = nil
		mustOK(t, r.Finish(ExecInterrupted, 130, []byte(`{"outcome":"interrupted"}`)))
		killAndReap(t, runner)
	}
	t.Cleanup(func() { lookedAtLive = nil })
	got := mustRead(t, dir, r.ID())
	if got.State != ExecInterrupted || got.ExitCode == nil || *got.ExitCode != 130 {
		t.Errorf("read %s, exit %v: want interrupted, 130", got.State, got.ExitCode)
	}
	if lookedAtLive != nil {
		t.Fatal("the record was never read while live")
	}
}

func TestExecutionLostWhenPIDReused(t *testing.T) {
	dir := newExecDir(t)
	other := startSleeper(t) // alive, but not the process that ran it
	e := sampleExecution()
	e.PID = other.Process.Pid
	e.State = ExecRunning
	e.ProcStart = "0b0e0f00-boot:12345"
	r := mustCreate(t, dir, e)
	if procStart(e.PID) == "" {
		t.Skip("this system does not tell process start times")
	}
	if got := mustRead(t, dir, r.ID()); got.State != ExecLost {
		t.Errorf("pid reused by another process: %s", got.State)
	}

	// The same pid with its own start identity is the runner.
	e.ID = ""
	e.ProcStart = ""
	r2 := mustCreate(t, dir, e)
	if got := mustRead(t, dir, r2.ID()); got.State != ExecRunning {
		t.Errorf("the runner itself: %s", got.State)
	}
}

func TestExecutionOfAnotherHostNotLost(t *testing.T) {
	dir := newExecDir(t)
	pid := deadPID(t)
	e := sampleExecution()
	e.PID = pid
	e.Host = "elsewhere.example"
	e.State = ExecRunning
	r := mustCreate(t, dir, e)
	if got := mustRead(t, dir, r.ID()); got.State != ExecRunning {
		t.Errorf("a record of another host: %s", got.State)
	}
}
