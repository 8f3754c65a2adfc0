package cmd_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/peace-go/peace/cmd"
)

// TestMain lets testscript run this test binary as the `peace` command: each
// script's `exec peace ...` is a real process, so scripts can send it real
// signals.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"peace": func() { os.Exit(cmd.Main()) },
	})
}

// TestScripts runs testdata/script/*.txtar: one behaviour each.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile": cmdWaitFile,
			"waitfor":  cmdWaitFor,
			"sleep":    cmdSleep,
			"pidgone":  cmdPidGone,
			"gone":     cmdGone,
			"signal":   cmdSignal,
			"envout":   cmdEnvOut,
		},
	})
}

// waitfile PATH [TIMEOUT]: wait until PATH exists (default 20s).
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: waitfile path [timeout]")
	}
	timeout := 20 * time.Second
	if len(args) > 1 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within %s", args[0], timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sleep DURATION
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep duration")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// pidgone PIDFILE: the process whose pid is in PIDFILE no longer exists.
func cmdPidGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: pidgone pidfile")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	err = syscall.Kill(pid, 0)
	gone := err == syscall.ESRCH || zombie(pid)
	if gone == neg {
		ts.Fatalf("process %d gone: %v (kill 0: %v)", pid, gone, err)
	}
}

// zombie reports whether pid has exited but not been reaped yet (an orphan
// waiting for its new parent): it runs nothing any more.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// waitfor FILE REGEXP [TIMEOUT]: wait until FILE holds a match for REGEXP
// (default 20s). A background run whose stderr goes to FILE
// (`exec sh -c 'exec peace ... 2>FILE' &`) is synchronised on what it
// prints this way: the stop line, the lock-wait line.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: waitfor file regexp [timeout]")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	timeout := 20 * time.Second
	if len(args) > 2 {
		timeout, err = time.ParseDuration(args[2])
		ts.Check(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not match %q within %s; it holds:\n%s", args[0], args[1], timeout, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal PIDFILE SIG: send SIG (INT, TERM, HUP or KILL) to the process
// whose pid is in PIDFILE.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal pidfile INT|TERM|HUP|KILL")
	}
	sig, ok := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL}[args[1]]
	if !ok {
		ts.Fatalf("unknown signal %s", args[1])
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	ts.Check(syscall.Kill(pid, sig))
}

// gone PIDFILE [TIMEOUT]: the process whose pid is in PIDFILE is gone, or
// a zombie, within TIMEOUT (default 1s, the time DESIGN.md gives the
// processes of a run that has ended). ! gone: it is still running after
// TIMEOUT.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: gone pidfile [timeout]")
	}
	timeout := time.Second
	if len(args) > 1 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Kill(pid, 0)
		gone := err == syscall.ESRCH || zombie(pid)
		if gone && neg {
			ts.Fatalf("process %d is gone", pid)
		}
		if gone {
			return
		}
		if time.Now().After(deadline) {
			if !neg {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				ts.Fatalf("process %d is still running %s later", pid, timeout)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// envout NAME: set $NAME to the last command's stdout, trimmed (the
// execution ID that --detach printed, for the commands that follow).
func cmdEnvOut(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: envout name")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}
