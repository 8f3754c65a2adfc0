package cmd_test

import (
	"fmt"
	"os"
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
			"sleep":    cmdSleep,
			"pidgone":  cmdPidGone,
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
