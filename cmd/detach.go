package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// readyFD is the descriptor on which a detached runner says it runs: its
// execution ID, once it holds the lock and its record says running.
const readyFD = 3

// detachedFlag marks the process that runs a detached execution.
const detachedFlag = "--detached-runner"

// runDetach starts the execution in a process of its own, in a new
// session that outlives this terminal, and prints its ID once that process
// holds the lock and its record says running. Bad input and a held lock
// come back from it as they would here: its message and its exit code.
func runDetach(ctx context.Context, opts *ApplyOptions) error {
	exe, err := self()
	if err != nil {
		return err
	}
	args := append([]string{detachedFlag}, slices.DeleteFunc(slices.Clone(opts.Args), func(a string) bool {
		return a == "--detach" || a == "--detach=true"
	})...)
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return err
	}
	defer errR.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errW
	cmd.ExtraFiles = []*os.File{readyW} // fd 3
	// A session of its own: no controlling terminal, so closing this one
	// (SIGHUP) does not reach it, and neither does this terminal's Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		readyW.Close()
		errW.Close()
		return fmt.Errorf("start the execution's process: %w", err)
	}
	readyW.Close()
	errW.Close()

	// What the runner says on stderr before it runs is what a foreground
	// run would have said: pass it on.
	copied := make(chan struct{})
	go func() { io.Copy(opts.IO.ErrOut, errR); close(copied) }()
	line, rerr := bufio.NewReader(readyR).ReadString('\n')
	id := strings.TrimSpace(line)
	if rerr != nil || id == "" {
		// It ended before it ran: its exit code is the answer.
		werr := cmd.Wait()
		<-copied
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			return outcomeError{ExitCode(ee.ExitCode())}
		}
		if werr != nil {
			return werr
		}
		return fmt.Errorf("the execution's process ended without running it")
	}
	errR.Close() // it runs on its own now
	// It is not waited for: it outlives this process.
	_ = cmd.Process.Release()

	cc, err := opts.readOnlyCtx()
	if err != nil {
		return err
	}
	if p := opts.printer(); p.Format() != "text" {
		e, err := cc.Execution(id)
		if err != nil {
			return err
		}
		p.Structured(e)
	} else {
		fmt.Fprintln(opts.IO.Out, id)
	}
	fmt.Fprintf(opts.IO.ErrOut, "follow it: peace wait %s · stop it: peace interrupt %s · list: peace executions\n", id, id)
	return nil
}

// self is the path of this program, to run it again: as invoked when that
// names it (a link named for the command), else the running executable.
func self() (string, error) {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		return filepath.Abs(p)
	}
	return os.Executable()
}

// detachedRunner is what the detached process does differently: it shows
// no progress (its record has every event), and tells the process that
// started it when it runs.
func (g *GlobalOptions) detachedRunner() func(id string) {
	ready := os.NewFile(readyFD, "ready")
	if ready == nil {
		return nil
	}
	var once bool
	return func(id string) {
		if once {
			return
		}
		once = true
		fmt.Fprintln(ready, id)
		ready.Close()
	}
}
