//go:build linux

// These tests read /proc to see which processes of a group are alive.

package procgroup_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/internal/procgroup"
)

// helperEnv makes the test binary an owner of process groups (see
// TestMain) instead of running the tests: the owner the tests kill.
const helperEnv = "PROCGROUP_TEST_OWNER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		owner(mode)
		return
	}
	os.Exit(m.Run())
}

// family is the command each group of the owner runs: two background
// children, one of which has a child of its own, then it waits; "up" says
// they all exist.
const family = `sh -c 'sleep 30 & sleep 30' & sleep 30 & echo up; wait`

// familySize is how many processes a group running family has: its shell,
// the inner shell and its two sleeps, and one more sleep.
const familySize = 5

// owner is the process the tests kill. It prints one line, "ready" and the
// pgids of the groups it started and still covers, and waits to be killed.
// Modes:
//
//	groups N   N groups running family, registered with a watchdog
//	ungated    one group running `touch ran`, started but never opened
//	lingering  one group whose command left a background child and ended
//
// For ungated and lingering, the line also holds a pid to watch after
// the pgids, separated by a colon.
func owner(mode string) {
	// The tests kill this process; should they die first, it does not
	// outlive them for long.
	go func() {
		time.Sleep(time.Minute)
		os.Exit(3)
	}()
	d := new(procgroup.Watchdog)
	// Reachable until the owner is killed: a watchdog collected as garbage
	// closes its pipe, which fires it.
	owned = d
	fields := strings.Fields(mode)
	var pgids []string
	extra := ""
	switch fields[0] {
	case "groups":
		n, _ := strconv.Atoi(fields[1])
		for range n {
			g := procgroup.Shell(family)
			out, err := g.Cmd.StdoutPipe()
			check(err)
			pgid, err := g.Start()
			check(err)
			_, err = d.Register(pgid)
			check(err)
			check(g.Open())
			line, err := bufio.NewReader(out).ReadString('\n')
			if line != "up\n" {
				check(fmt.Errorf("group %d said %q: %v", pgid, line, err))
			}
			// The inner shell may not have started its children yet.
			for deadline := time.Now().Add(10 * time.Second); len(live(nil, []int{pgid}, nil)) < familySize; {
				if time.Now().After(deadline) {
					check(fmt.Errorf("group %d has %d processes, want %d", pgid, len(live(nil, []int{pgid}, nil)), familySize))
				}
				time.Sleep(time.Millisecond)
			}
			pgids = append(pgids, strconv.Itoa(pgid))
		}
		extra = strconv.Itoa(d.Pid())
	case "ungated":
		g := procgroup.Shell("touch ran")
		pgid, err := g.Start()
		check(err)
		pgids = append(pgids, strconv.Itoa(pgid))
	case "lingering":
		g := procgroup.Shell(`sleep 30 >/dev/null 2>&1 & echo $!`)
		out, err := g.Cmd.StdoutPipe()
		check(err)
		pgid, err := g.Start()
		check(err)
		ended, err := d.Register(pgid)
		check(err)
		check(g.Open())
		line, _ := bufio.NewReader(out).ReadString('\n')
		check(g.Cmd.Wait())
		ended()
		pgids = append(pgids, strconv.Itoa(pgid))
		extra = strings.TrimSpace(line)
	}
	fmt.Printf("ready %s:%s\n", strings.Join(pgids, " "), extra)
	select {}
}

// owned is the owner's watchdog.
var owned *procgroup.Watchdog

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "owner:", err)
		os.Exit(2)
	}
}

// startOwner runs the owner in mode in dir and returns it, the pgids it
// printed and the pid after them (0 when none).
func startOwner(t *testing.T, dir, mode string) (*exec.Cmd, []int, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	groups, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "ready "), ":")
	if err != nil || !ok {
		t.Fatalf("owner %q said %q: %v", mode, line, err)
	}
	var pgids []int
	for _, f := range strings.Fields(groups) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("owner said %q", line)
		}
		pgids = append(pgids, n)
	}
	pid := 0
	if rest != "" {
		if pid, err = strconv.Atoi(rest); err != nil {
			t.Fatalf("owner said %q", line)
		}
	}
	return cmd, pgids, pid
}

// live lists the live processes (zombies have run their last) of the
// groups pgids and the pids pids, from /proc.
func live(_ *testing.T, pgids, pids []int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		panic(err)
	}
	var found []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		pgrp, _ := strconv.Atoi(f[2])
		if slices.Contains(pgids, pgrp) || slices.Contains(pids, pid) {
			found = append(found, pid)
		}
	}
	return found
}

// killOwner sends SIGKILL to the owner and returns how long it took until
// no process of the groups pgids, nor any of pids, was alive; it fails
// the test after limit.
func killOwner(t *testing.T, cmd *exec.Cmd, pgids, pids []int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for {
		left := live(t, pgids, pids)
		elapsed := time.Since(start)
		if len(left) == 0 {
			return elapsed
		}
		if elapsed > limit {
			for _, g := range pgids {
				_ = syscall.Kill(-g, syscall.SIGKILL)
			}
			t.Fatalf("%v after the owner's SIGKILL, processes %v of its groups %v are alive", limit, left, pgids)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestOwnerKilledKillsEveryGroup is the promise the watchdog exists for:
// when the process that started and registered groups dies by SIGKILL,
// running no code at all, every process of those groups (grandchildren
// included) is gone within a second, and so is the watchdog.
func TestOwnerKilledKillsEveryGroup(t *testing.T) {
	const runs, groups = 20, 4
	var took []time.Duration
	for range runs {
		cmd, pgids, watchdog := startOwner(t, t.TempDir(), "groups "+strconv.Itoa(groups))
		if len(pgids) != groups || watchdog == 0 {
			t.Fatalf("owner started %v with watchdog %d", pgids, watchdog)
		}
		if n := len(live(t, pgids, nil)); n < familySize*groups {
			t.Fatalf("%d processes in the groups %v before the kill, want %d", n, pgids, familySize*groups)
		}
		took = append(took, killOwner(t, cmd, pgids, []int{watchdog}, time.Second))
		_ = cmd.Wait()
	}
	slices.Sort(took)
	t.Logf("SIGKILL of the owner to the death of the last process of %d groups, over %d runs: p50 %v, max %v",
		groups, runs, took[len(took)/2].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))
}

// TestLingeringGroupStaysCovered: a command that ended but left a
// background child in its group is still covered: the owner's death kills
// the child.
func TestLingeringGroupStaysCovered(t *testing.T) {
	cmd, pgids, child := startOwner(t, t.TempDir(), "lingering")
	if n := len(live(t, pgids, nil)); n != 1 {
		t.Fatalf("%d processes in group %v, want the background child alone", n, pgids)
	}
	killOwner(t, cmd, pgids, []int{child}, time.Second)
}

// TestUngatedRunsNothing: a group whose owner dies before Open runs
// nothing, and is gone.
func TestUngatedRunsNothing(t *testing.T) {
	dir := t.TempDir()
	cmd, pgids, _ := startOwner(t, dir, "ungated")
	if n := len(live(t, pgids, nil)); n != 1 {
		t.Fatalf("%d processes in group %v, want its gate", n, pgids)
	}
	killOwner(t, cmd, pgids, nil, time.Second)
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran although it was never opened")
	}
}

func TestAbortRunsNothing(t *testing.T) {
	dir := t.TempDir()
	g := procgroup.Shell("touch ran")
	g.Cmd.Dir = dir
	pgid, err := g.Start()
	if err != nil {
		t.Fatal(err)
	}
	if pgid != g.Cmd.Process.Pid {
		t.Errorf("pgid %d, want the leader's pid %d", pgid, g.Cmd.Process.Pid)
	}
	g.Abort()
	err = g.Cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		t.Errorf("aborted command ended with %v, want exit 125", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("an aborted command ran")
	}
}

// TestStartedGroupIsNew: Start puts the command in a new group of its
// own, which is what lets a kill reach its children and a terminal's
// Ctrl-C not reach it.
func TestStartedGroupIsNew(t *testing.T) {
	g := procgroup.Shell("true")
	pgid, err := g.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { g.Abort(); _ = g.Cmd.Wait() }()
	got, err := syscall.Getpgid(g.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got != pgid || pgid != g.Cmd.Process.Pid || pgid == syscall.Getpgrp() {
		t.Errorf("the command runs in group %d; Start said %d, its pid is %d, the test's group is %d",
			got, pgid, g.Cmd.Process.Pid, syscall.Getpgrp())
	}
}

// TestKill: the third interrupt kills every registered group at once, and
// no group may be registered after it.
func TestKill(t *testing.T) {
	var d procgroup.Watchdog
	defer d.Close()
	g := procgroup.Shell(family)
	out, err := g.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := g.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Register(pgid); err != nil {
		t.Fatal(err)
	}
	if err := g.Open(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "up\n" {
		t.Fatalf("group said %q: %v", line, err)
	}
	d.Kill()
	deadline := time.Now().Add(time.Second)
	for len(live(t, []int{pgid}, nil)) > 0 {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Errorf("processes of group %d are alive a second after Kill", pgid)
			break
		}
		time.Sleep(time.Millisecond)
	}
	err = g.Cmd.Wait()
	if ws, ok := g.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the group's command ended with %v, want SIGKILL", err)
	}

	g2 := procgroup.Shell("touch ran")
	g2.Cmd.Dir = t.TempDir()
	pgid2, err := g2.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { g2.Abort(); _ = g2.Cmd.Wait() }()
	if _, err := d.Register(pgid2); !errors.Is(err, procgroup.ErrKilled) {
		t.Errorf("Register after Kill: %v, want ErrKilled", err)
	}
}

// TestCloseKillsWhatIsLeft: closing the watchdog (the end of an
// execution) kills the groups still registered and ends the watchdog.
func TestCloseKillsWhatIsLeft(t *testing.T) {
	var d procgroup.Watchdog
	g := procgroup.Shell(family)
	out, err := g.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := g.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Register(pgid); err != nil {
		t.Fatal(err)
	}
	if err := g.Open(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "up\n" {
		t.Fatalf("group said %q: %v", line, err)
	}
	watchdog := d.Pid()
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// The group's leader is this test's child: it stays a zombie, which
	// live does not count, until the Wait below.
	deadline := time.Now().Add(time.Second)
	for len(live(t, []int{pgid}, []int{watchdog})) > 0 {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Errorf("processes of group %d or the watchdog %d are alive a second after Close", pgid, watchdog)
			break
		}
		time.Sleep(time.Millisecond)
	}
	_ = g.Cmd.Wait()
}
