//go:build linux

package procgroup

import (
	"bufio"
	"github.com/peace-go/peace/internal/proc"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tap replaces d's watchdog process with a pipe the test reads: what
// Register and ended tell the watchdog, line by line.
func tap(t *testing.T, d *Watchdog) *bufio.Reader {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	d.w, d.cmd = w, exec.Command("true")
	return bufio.NewReader(r)
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	got, err := r.ReadString('\n')
	if err != nil || got != want+"\n" {
		t.Fatalf("the watchdog was told %q (%v), want %q", got, err, want)
	}
}

// startGroup runs script in a group of its own, ungated, and returns it.
func startGroup(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Cleaned up only while the number is still this group's: a group
	// reaped meanwhile may have given its number to another process's.
	pgid, start := cmd.Process.Pid, proc.Start(cmd.Process.Pid)
	t.Cleanup(func() {
		if proc.Same(pgid, start) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "up" {
		t.Fatalf("%s said %q", script, line)
	}
	return cmd
}

// TestProtocol: a group is named to the watchdog when registered; one
// whose command ended with nothing left is taken off at once; one that
// left a background child is taken off only once the child is gone —
// before a later group is registered, so a number the system gives again
// is never killed by mistake.
func TestProtocol(t *testing.T) {
	var d Watchdog
	lines := tap(t, &d)

	done := startGroup(t, "echo up")
	endDone, err := d.Register(done.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "+"+strconv.Itoa(done.Process.Pid)+":"+startTicks(done.Process.Pid))
	if err := done.Wait(); err != nil {
		t.Fatal(err)
	}
	endDone()
	expectLine(t, lines, "-"+strconv.Itoa(done.Process.Pid))
	endDone() // a second call tells nothing

	lingering := startGroup(t, "sleep 30 >/dev/null 2>&1 & echo $! >&2; echo up")
	pgid := lingering.Process.Pid
	endLingering, err := d.Register(pgid)
	if err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "+"+strconv.Itoa(pgid)+":"+startTicks(pgid))
	if err := lingering.Wait(); err != nil {
		t.Fatal(err)
	}
	endLingering()

	// Still covered: the next line the watchdog gets is about a new group.
	next := startGroup(t, "echo up; exec sleep 30")
	if _, err := d.Register(next.Process.Pid); err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "+"+strconv.Itoa(next.Process.Pid)+":"+startTicks(next.Process.Pid))

	// Once the background child is gone, the next Register takes the
	// group off first.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); groupHasLive(pgid); {
		if time.Now().After(deadline) {
			t.Fatalf("group %d survives SIGKILL", pgid)
		}
		time.Sleep(time.Millisecond)
	}
	last := startGroup(t, "echo up; exec sleep 30")
	if _, err := d.Register(last.Process.Pid); err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "-"+strconv.Itoa(pgid))
	expectLine(t, lines, "+"+strconv.Itoa(last.Process.Pid)+":"+startTicks(last.Process.Pid))
}

// groupHasLive reports whether a process of group pgid is alive, from
// /proc: zombies are not.
func groupHasLive(pgid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// A registered group number that now belongs to another group (its leader
// started at another time: the system gave the number again) is not killed
// when the watchdog fires.
func TestReusedNumberIsSpared(t *testing.T) {
	var d Watchdog
	other := startGroup(t, "echo up; exec sleep 30")
	pgid := other.Process.Pid
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL); _ = other.Wait() }()
	d.mu.Lock()
	if err := d.start(); err != nil {
		d.mu.Unlock()
		t.Fatal(err)
	}
	// As if an earlier group of that number had been registered.
	if err := d.sendLine("+" + strconv.Itoa(pgid) + ":1"); err != nil {
		d.mu.Unlock()
		t.Fatal(err)
	}
	d.mu.Unlock()
	if err := d.Close(); err != nil {
		t.Logf("watchdog: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if !groupHasLive(pgid) {
		t.Fatal("the watchdog killed a group whose number it had for another")
	}
	// The same number with its own start is killed.
	var d2 Watchdog
	if _, err := d2.Register(pgid); err != nil {
		t.Fatal(err)
	}
	_ = d2.Close()
	for deadline := time.Now().Add(5 * time.Second); groupHasLive(pgid); {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog spared its own group")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
