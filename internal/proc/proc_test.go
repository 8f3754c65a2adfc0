//go:build linux

package proc_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/internal/proc"
)

// helperEnv makes the test binary ask proc.Alive about the pid it holds
// and print the answer, instead of running the tests: the tests run it as
// another user.
const helperEnv = "PROC_TEST_ALIVE"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		pid, _ := strconv.Atoi(v)
		alive, start := proc.Alive(pid)
		fmt.Printf("%v %s\n", alive, start)
		os.Exit(0)
	}
	// Become the reaper of orphaned grandchildren, which this binary never
	// reaps: a killed orphan stays a zombie, as under a PID 1 that does not
	// reap, and the tests see how zombies count.
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", errno)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// sleeper starts `sleep 30` and stops it when the test ends.
func sleeper(t *testing.T, attr *syscall.SysProcAttr) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestAlive(t *testing.T) {
	cmd := sleeper(t, nil)
	alive, start := proc.Alive(cmd.Process.Pid)
	if !alive || start == "" {
		t.Errorf("a running child: alive %v, start %q", alive, start)
	}
	if again := proc.Start(cmd.Process.Pid); again != start {
		t.Errorf("Start says %q, Alive said %q", again, start)
	}

	// Killed, not yet reaped: a zombie runs nothing.
	_ = cmd.Process.Kill()
	for deadline := time.Now().Add(5 * time.Second); state(cmd.Process.Pid) != "Z"; {
		if time.Now().After(deadline) {
			t.Fatalf("child %d is not a zombie after SIGKILL", cmd.Process.Pid)
		}
		time.Sleep(time.Millisecond)
	}
	if alive, _ := proc.Alive(cmd.Process.Pid); alive {
		t.Error("a zombie is alive")
	}
	_ = cmd.Wait()
	if alive, start := proc.Alive(cmd.Process.Pid); alive || start != "" {
		t.Errorf("a reaped child: alive %v, start %q", alive, start)
	}
	for _, pid := range []int{0, -1} {
		if alive, _ := proc.Alive(pid); alive {
			t.Errorf("pid %d is alive", pid)
		}
	}
}

// TestAliveOtherUser: a live process of another user answers kill(pid, 0)
// with EPERM; it is alive all the same. A lock held by another user's
// live run must never look abandoned.
func TestAliveOtherUser(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var target int
	cmd := exec.Command(exe)
	if os.Getuid() == 0 {
		// Root gets no EPERM: ask as nobody about root's process, from a
		// copy of this binary that nobody may run.
		target = sleeper(t, nil).Process.Pid
		cmd.Path = publicCopy(t, exe)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else {
		target = 1 // init: root's
		if err := syscall.Kill(target, 0); err != syscall.EPERM {
			t.Skipf("kill(1, 0) says %v, not EPERM: no process of another user to ask about", err)
		}
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(target))
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("cannot run as another user: %v", err)
	}
	if alive, _, _ := strings.Cut(string(out), " "); alive != "true" {
		t.Errorf("as another user, proc.Alive(%d) says %q: a live process counted dead", target, out)
	}
}

func TestGroupAlive(t *testing.T) {
	// A group whose leader is gone but a member remains is alive.
	lead := exec.Command("sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!")
	lead.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := lead.Output()
	if err != nil {
		t.Fatal(err)
	}
	pgid := lead.Process.Pid
	member, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	if !proc.GroupAlive(pgid) {
		t.Errorf("group %d with live member %d is not alive", pgid, member)
	}
	if !proc.Same(pgid, "some start identity") {
		// The leader is gone, so no pid can have taken its number: the
		// group is the one recorded, whatever start was recorded.
		t.Errorf("group %d without its leader is not the same", pgid)
	}
	// Killed, the member is an orphan this process (its reaper) does not
	// reap: it stays a zombie, and a group of zombies is gone.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); state(member) != "Z"; {
		if time.Now().After(deadline) {
			t.Fatalf("member %d of group %d is %q 5s after SIGKILL, want a zombie", member, pgid, state(member))
		}
		time.Sleep(time.Millisecond)
	}
	if proc.GroupAlive(pgid) {
		t.Errorf("group %d of a zombie is alive", pgid)
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(member, &ws, 0, nil)
	if proc.GroupAlive(pgid) {
		t.Errorf("group %d is alive once its last member is reaped", pgid)
	}
	for _, g := range []int{0, 1, -5} {
		if proc.GroupAlive(g) {
			t.Errorf("GroupAlive(%d)", g)
		}
	}
}

// TestSame: a group is the one recorded only while its leader has the
// start identity recorded: a pid the system gave again is another process.
func TestSame(t *testing.T) {
	cmd := sleeper(t, &syscall.SysProcAttr{Setpgid: true})
	pgid := cmd.Process.Pid
	start := proc.Start(pgid)
	if !proc.Same(pgid, start) {
		t.Errorf("group %d is not the same as itself (%q)", pgid, start)
	}
	if !proc.Same(pgid, "") {
		t.Errorf("group %d with no recorded start identity is not the same", pgid)
	}
	if proc.Same(pgid, start+"0") {
		t.Errorf("group %d is the same as a process that started at another time", pgid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if proc.Same(pgid, start) {
		t.Errorf("group %d is gone but the same", pgid)
	}
}

// state is the state letter of pid, from /proc; "" if it is gone.
func state(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

// publicCopy copies the executable exe where every user may run it.
func publicCopy(t *testing.T, exe string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "proctest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "proc.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// BenchmarkStart is the start identity of a live process: read on every
// command an item starts (the watchdog's and the journal's record).
func BenchmarkStart(b *testing.B) {
	pid := os.Getpid()
	for b.Loop() {
		if proc.Start(pid) == "" {
			b.Fatal("no start identity for this process")
		}
	}
}
