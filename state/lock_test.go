package state

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeLockFile makes the store look locked by holder.
func writeLockFile(t *testing.T, s *Store, holder LockInfo) []byte {
	t.Helper()
	must(t, os.MkdirAll(s.Path(), 0o755))
	data, err := json.MarshalIndent(holder, "", "  ")
	must(t, err)
	must(t, os.WriteFile(s.lockPath(), data, 0o644))
	return data
}

func holderOf(pid int, command string) LockInfo {
	return LockInfo{
		PID: pid, Host: hostname(), Command: command,
		Started:   time.Now().Add(-2 * time.Minute),
		ProcStart: procStart(pid), Version: FormatVersion,
	}
}

// sleeper starts a real child process that lives until the test ends.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	must(t, cmd.Run())
	return cmd.Process.Pid
}

func lockNow(s *Store) (*Lock, string, error) {
	return s.Lock(context.Background(), "peace ensure", 0, nil)
}

func mustLock(t *testing.T, s *Store) (*Lock, string) {
	t.Helper()
	l, notice, err := lockNow(s)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	return l, notice
}

func wantLocked(t *testing.T, err error, pid int) *LockedError {
	t.Helper()
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("error %v, want *LockedError", err)
	}
	if locked.Holder.PID != pid {
		t.Errorf("holder pid %d, want %d", locked.Holder.PID, pid)
	}
	return locked
}

func TestLockAndRelease(t *testing.T) {
	s := newStore(t)
	l, notice := mustLock(t, s)
	if notice != "" {
		t.Errorf("notice %q", notice)
	}
	info := l.Info()
	if info.PID != os.Getpid() || info.Host != hostname() || info.Command != "peace ensure" || info.Version != FormatVersion {
		t.Errorf("lock info %+v", info)
	}
	// This very process holds it now: a second Lock is refused.
	_, _, err := lockNow(s)
	wantLocked(t, err, os.Getpid())
	must(t, l.Release())
	must(t, l.Release())
	if names := dirFiles(t, s.Path()); len(names) != 0 {
		t.Errorf("files after release: %v", names)
	}
	l, _ = mustLock(t, s)
	must(t, l.Release())
}

func TestLockLiveChildHolder(t *testing.T) {
	s := newStore(t)
	child := sleeper(t)
	pid := child.Process.Pid
	data := writeLockFile(t, s, holderOf(pid, "peace ensure"))
	_, _, err := lockNow(s)
	locked := wantLocked(t, err, pid)
	msg := locked.Error()
	for _, want := range []string{fmt.Sprintf("locked by pid %d on %s", pid, hostname()), "(peace ensure)", "(2m ago)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if _, err := s.Unlock(); err == nil {
		t.Error("Unlock removed a live holder's lock")
	}
	if got, _ := os.ReadFile(s.lockPath()); string(got) != string(data) {
		t.Error("lock file changed")
	}

	// Once the holder is gone (here a zombie: killed, not yet reaped), the
	// lock is taken over.
	must(t, child.Process.Kill())
	waitFor(t, func() bool { alive, _ := processAlive(pid); return !alive })
	l, notice := mustLock(t, s)
	defer l.Release()
	if !strings.Contains(notice, fmt.Sprintf("took over the lock of pid %d (peace ensure, started ", pid)) ||
		!strings.HasSuffix(notice, "which is no longer running") {
		t.Errorf("notice %q", notice)
	}
}

// waitFor polls cond until it holds (the test's own deadline bounds it).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLockDeadHolderTakenOver(t *testing.T) {
	s := newStore(t)
	pid := deadPID(t)
	holder := holderOf(pid, "peace clean")
	holder.ProcStart = "boot:123"
	writeLockFile(t, s, holder)
	l, notice := mustLock(t, s)
	if !strings.Contains(notice, fmt.Sprintf("pid %d (peace clean", pid)) {
		t.Errorf("notice %q", notice)
	}
	got, err := os.ReadFile(s.lockPath())
	must(t, err)
	var info LockInfo
	must(t, json.Unmarshal(got, &info))
	if info.PID != os.Getpid() {
		t.Errorf("lock file names pid %d after takeover", info.PID)
	}
	must(t, l.Release())
}

func TestLockReusedPIDTakenOver(t *testing.T) {
	// The pid is alive, but it is not the process that took the lock: that
	// one started at another time.
	for name, pid := range map[string]int{"self": os.Getpid(), "child": sleeper(t).Process.Pid} {
		t.Run(name, func(t *testing.T) {
			if procStart(pid) == "" {
				t.Skip("no process start times on this system (/proc missing)")
			}
			s := newStore(t)
			holder := holderOf(pid, "peace ensure")
			holder.ProcStart = "another-boot:42"
			writeLockFile(t, s, holder)
			l, notice := mustLock(t, s)
			if !strings.Contains(notice, "took over") {
				t.Errorf("notice %q", notice)
			}
			must(t, l.Release())
		})
	}
}

func TestLockOtherHostNotTakenOver(t *testing.T) {
	s := newStore(t)
	holder := holderOf(deadPID(t), "peace ensure")
	holder.Host = "elsewhere.example"
	writeLockFile(t, s, holder)
	_, _, err := lockNow(s)
	locked := wantLocked(t, err, holder.PID)
	if !strings.Contains(locked.Error(), "on elsewhere.example") {
		t.Errorf("message %q", locked)
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	s := newStore(t)
	held, _ := mustLock(t, s)
	var waits []LockInfo
	onWait := func(h LockInfo) {
		waits = append(waits, h)
		go held.Release()
	}
	l, _, err := s.Lock(context.Background(), "peace ensure", time.Minute, onWait)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	must(t, l.Release())
	if len(waits) != 1 || waits[0].PID != os.Getpid() {
		t.Errorf("onWait calls: %+v", waits)
	}
}

func TestLockWaitEnds(t *testing.T) {
	s := newStore(t)
	held, _ := mustLock(t, s)
	defer held.Release()

	_, _, err := s.Lock(context.Background(), "peace ensure", 30*time.Millisecond, nil)
	wantLocked(t, err, os.Getpid())

	ctx, cancel := context.WithCancel(context.Background())
	_, _, err = s.Lock(ctx, "peace ensure", time.Hour, func(LockInfo) { cancel() })
	var locked *LockedError
	if !errors.Is(err, context.Canceled) || errors.As(err, &locked) {
		t.Errorf("error %v, want context.Canceled and no *LockedError", err)
	}
}

// A lock file that cannot be read is corrupt: Lock refuses to guess whose it
// is and leaves it where it is, every time, until Unlock sets it aside.
func TestLockCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":   "pid=123\n",
		"empty":      "",
		"no version": `{"pid":123,"host":"h"}`,
		"no pid":     `{"host":"h","version":1}`,
		"no host":    `{"version":1,"pid":1}`,
		"no start":   `{"version":1,"pid":1,"host":"h","command":"peace ensure"}`,
		"garbage":    "\x00\x00\xff\xfe junk",
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			must(t, os.MkdirAll(s.Path(), 0o755))
			must(t, os.WriteFile(s.lockPath(), []byte(content), 0o644))
			for range 2 {
				_, _, err := lockNow(s)
				var cerr *CorruptError
				if !errors.As(err, &cerr) || cerr.Path != s.lockPath() || cerr.MovedTo != "" {
					t.Fatalf("Lock: %v, want *CorruptError left in place", err)
				}
				for _, want := range []string{s.lockPath(), "peace unlock"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("message %q lacks %q", err, want)
					}
				}
				if got, _ := os.ReadFile(s.lockPath()); string(got) != content {
					t.Fatalf("lock file changed to %q", got)
				}
			}
			removed, err := s.Unlock()
			if err != nil || removed == nil || removed.Corrupt == nil {
				t.Fatalf("Unlock: %+v, %v", removed, err)
			}
			checkMovedAside(t, removed.Corrupt, s.lockPath(), content)
			l, _ := mustLock(t, s)
			must(t, l.Release())
		})
	}
}

func TestLockNewerVersion(t *testing.T) {
	s := newStore(t)
	holder := holderOf(deadPID(t), "peace ensure")
	holder.Version = FormatVersion + 1
	data := writeLockFile(t, s, holder)
	_, _, err := lockNow(s)
	var verr *VersionError
	if !errors.As(err, &verr) || verr.Found != FormatVersion+1 || verr.Path != s.lockPath() {
		t.Fatalf("Lock: %v, want *VersionError", err)
	}
	if got, _ := os.ReadFile(s.lockPath()); string(got) != string(data) {
		t.Error("lock file changed")
	}
}

func TestUnlock(t *testing.T) {
	s := newStore(t)
	if removed, err := s.Unlock(); removed != nil || err != nil {
		t.Errorf("Unlock of nothing: %v, %v", removed, err)
	}
	l, _ := mustLock(t, s)
	if _, err := s.Unlock(); err == nil {
		t.Error("Unlock removed this live process's lock")
	} else {
		wantLocked(t, err, os.Getpid())
	}
	must(t, l.Release())

	pid := deadPID(t)
	writeLockFile(t, s, holderOf(pid, "peace ensure"))
	removed, err := s.Unlock()
	must(t, err)
	if removed == nil || removed.PID != pid {
		t.Errorf("removed %+v", removed)
	}
	if names := dirFiles(t, s.Path()); len(names) != 0 {
		t.Errorf("files after unlock: %v", names)
	}
}

// Many takers of a dead holder's lock at once: exactly one wins.
func TestLockTakeoverRaceInProcess(t *testing.T) {
	s := newStore(t)
	writeLockFile(t, s, holderOf(deadPID(t), "peace ensure"))
	const n = 16
	var wg sync.WaitGroup
	won := make(chan *Lock, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			l, _, err := Open(s.Path()).Lock(context.Background(), "peace ensure", 0, nil)
			var locked *LockedError
			switch {
			case err == nil:
				won <- l
			case !errors.As(err, &locked):
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(won)
	var winners []*Lock
	for l := range won {
		winners = append(winners, l)
	}
	if len(winners) != 1 {
		t.Fatalf("%d winners, want 1", len(winners))
	}
	must(t, winners[0].Release())
}

func TestLockTakeoverRaceAcrossProcesses(t *testing.T) {
	s := newStore(t)
	writeLockFile(t, s, holderOf(deadPID(t), "peace ensure"))
	type taker struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var takers []taker
	for range 6 {
		cmd := helper(t, "lock-taker", s.Path())
		in, err := cmd.StdinPipe()
		must(t, err)
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		tk := taker{cmd, in, bufio.NewReader(out)}
		takers = append(takers, tk)
		if line, err := tk.out.ReadString('\n'); line != "ready\n" {
			t.Fatalf("helper said %q, %v", line, err)
		}
	}
	for _, tk := range takers {
		fmt.Fprintln(tk.in, "go")
	}
	winners := 0
	for _, tk := range takers {
		line, err := tk.out.ReadString('\n')
		switch line {
		case "won\n":
			winners++
		case "locked\n":
		default:
			t.Errorf("helper said %q, %v", line, err)
		}
	}
	for _, tk := range takers {
		tk.in.Close()
		must(t, tk.cmd.Wait())
	}
	if winners != 1 {
		t.Errorf("%d winners, want 1", winners)
	}
	if names := dirFiles(t, s.Path()); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
}

// A holder killed with SIGKILL never releases; the next run takes over.
func TestLockHolderKilled(t *testing.T) {
	s := newStore(t)
	cmd := helper(t, "lock-holder", s.Path())
	in, err := cmd.StdinPipe()
	must(t, err)
	defer in.Close()
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "won\n" {
		t.Fatalf("helper said %q", line)
	}
	_, _, err = lockNow(s)
	wantLocked(t, err, cmd.Process.Pid)

	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	l, notice := mustLock(t, s)
	if !strings.Contains(notice, fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Errorf("notice %q", notice)
	}
	must(t, l.Release())
}

// Where hard links are not supported, the lock is created in place with
// O_EXCL and corrupt files are moved aside by rename.
func TestLockWithoutHardLinks(t *testing.T) {
	linkFile = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	defer func() { linkFile = os.Link }()

	s := newStore(t)
	l, _ := mustLock(t, s)
	_, _, err := lockNow(s)
	wantLocked(t, err, os.Getpid())
	must(t, l.Release())

	writeLockFile(t, s, holderOf(deadPID(t), "peace ensure"))
	l, notice := mustLock(t, s)
	if !strings.Contains(notice, "took over") {
		t.Errorf("notice %q", notice)
	}
	must(t, l.Release())

	must(t, os.WriteFile(s.lockPath(), []byte("junk"), 0o644))
	_, _, err = lockNow(s)
	var cerr *CorruptError
	if !errors.As(err, &cerr) {
		t.Fatalf("Lock: %v", err)
	}
	removed, err := s.Unlock()
	if err != nil || removed == nil || removed.Corrupt == nil {
		t.Fatalf("Unlock of a corrupt lock: %+v, %v", removed, err)
	}
	checkMovedAside(t, removed.Corrupt, s.lockPath(), "junk")
}

func TestLockedErrorMessage(t *testing.T) {
	started := time.Now().Add(-125 * time.Second)
	err := &LockedError{Holder: LockInfo{PID: 123, Host: "host", Command: "peace ensure", Started: started}}
	want := fmt.Sprintf("flow state is locked by pid 123 on host (peace ensure) since %s (2m ago)", started.Format("15:04:05"))
	if started.Day() != time.Now().Day() {
		want = fmt.Sprintf("flow state is locked by pid 123 on host (peace ensure) since %s (2m ago)", started.Format(time.DateTime))
	}
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err.Error(), want)
	}
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 40 * time.Second: "40s", 59 * time.Minute: "59m",
		5 * time.Hour: "5h", 47 * time.Hour: "47h", 72 * time.Hour: "3d",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestProcStat(t *testing.T) {
	if procStart(os.Getpid()) == "" {
		t.Skip("no /proc on this system")
	}
	if alive, start := processAlive(os.Getpid()); !alive || start != procStart(os.Getpid()) {
		t.Errorf("this process: alive %v, start %q", alive, start)
	}
	if alive, _ := processAlive(deadPID(t)); alive {
		t.Error("a reaped process is alive")
	}
}

// otherUser is a user ID that is not this process's and owns no process
// here, for running a helper as someone else (needs root), or -1.
func otherUser() int {
	if os.Geteuid() != 0 {
		return -1
	}
	return 65534 // nobody
}

// A lock held by a live process of another user is never taken over: that
// kill(pid, 0) is refused (EPERM) says the process exists. The holder here
// is pid 1, which runs as root: as another user, this process checks it
// directly; as root, a helper run as nobody does.
func TestLockOtherUsersHolderNotTakenOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc to tell who owns pid 1")
	}
	owner := -1
	if fi, err := os.Stat("/proc/1"); err == nil {
		owner = int(fi.Sys().(*syscall.Stat_t).Uid)
	}
	// A shared directory, reachable by the other user too.
	dir, err := os.MkdirTemp("", "peace-lock-other-user-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o777))
	s := Open(filepath.Join(dir, "state"))
	must(t, os.Mkdir(s.Path(), 0o777))
	must(t, os.Chmod(s.Path(), 0o777))
	holder := holderOf(1, "peace ensure")
	data := writeLockFile(t, s, holder)

	switch uid := otherUser(); {
	case os.Geteuid() != 0 && owner != os.Geteuid() && owner >= 0:
		_, _, err := lockNow(s)
		wantLocked(t, err, 1)
		if _, err := s.Unlock(); err == nil {
			t.Error("Unlock removed the lock of another user's live process")
		}
	case uid >= 0 && owner != uid:
		// The test binary, where the other user can run it.
		bin := filepath.Join(dir, "state.test")
		exe, err := os.ReadFile(os.Args[0])
		must(t, err)
		must(t, os.WriteFile(bin, exe, 0o755))
		for _, call := range []string{"lock-holder", "unlock"} {
			cmd := helper(t, call, s.Path())
			cmd.Path, cmd.Args[0] = bin, bin
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.Output()
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("cannot run a process as uid %d: %v", uid, err)
			}
			if got := strings.TrimSpace(string(out)); got != "locked" {
				t.Errorf("%s as uid %d: %q (%v), want locked", call, uid, got, err)
			}
		}
	default:
		t.Skip("no other user's process to hold the lock")
	}
	if got, _ := os.ReadFile(s.lockPath()); string(got) != string(data) {
		t.Errorf("lock file changed: %s", got)
	}
}

// Taking the lock removes the temporary files a killed writer left in the
// store; another process's lock attempt in progress keeps its own.
func TestLockSweepsStaleTemps(t *testing.T) {
	s := newStore(t)
	must(t, os.MkdirAll(s.Path(), 0o755))
	old := time.Now().Add(-2 * staleLockTemp)
	files := map[string]bool{ // name -> kept
		".states_current.yaml.peace-tmp-abc": false,
		".states_goal.yaml.peace-tmp-1":      false,
		".states_current.yaml.tmp-123":       false, // named as before the one pattern
		".lock.peace-tmp-old":                false,
		".lock.peace-tmp-new":                true, // a lock attempt under way
		"journal.log.torn-20260101T000000Z":  true,
		"states_current.yaml.corrupt-x":      true,
		"notes.peace-tmp-x":                  true,
	}
	for name := range files {
		p := filepath.Join(s.Path(), name)
		must(t, os.WriteFile(p, []byte("x"), 0o600))
		if name != ".lock.peace-tmp-new" {
			must(t, os.Chtimes(p, old, old))
		}
	}
	l, _ := mustLock(t, s)
	var want []string
	for name, kept := range files {
		if kept {
			want = append(want, name)
		}
	}
	want = append(want, lockFile)
	slices.Sort(want)
	if got := dirFiles(t, s.Path()); !slices.Equal(got, want) {
		t.Errorf("after Lock: %v, want %v", got, want)
	}
	must(t, l.Release())
}

// The lock names the execution holding it, and so does the error of a
// second run.
func TestLockNamesItsExecution(t *testing.T) {
	s := newStore(t)
	l, _, err := s.LockExecution(context.Background(), "peace ensure", "e-7", 0, nil)
	must(t, err)
	defer l.Release()
	if l.Info().Execution != "e-7" {
		t.Errorf("lock info %+v", l.Info())
	}
	_, _, err = lockNow(s)
	if locked := wantLocked(t, err, os.Getpid()); !strings.HasSuffix(locked.Error(), ", execution e-7") {
		t.Errorf("message %q does not name the execution", locked)
	}
}

// A reader that looks while another process holds the lock and runs says
// that run is in progress, naming its execution and pid, and never that it
// did not finish; the items it applies are in progress, not unknown. Once
// the holder is gone, the same journal is a run that did not finish.
func TestLiveRunIsInProgress(t *testing.T) {
	for _, withID := range []bool{true, false} {
		t.Run(fmt.Sprintf("execution in lock %v", withID), func(t *testing.T) {
			s := newStore(t)
			// A run that died earlier, not yet recovered.
			j := openJournal(t, s)
			must(t, j.Begin("b"))
			crashed := crashCopy(t, s)
			must(t, j.Close("complete"))
			restoreJournal(t, s, crashed)
			time.Sleep(2 * time.Millisecond) // the lock is taken after it started

			exec := ""
			if withID {
				exec = "e-live"
			}
			l, _, err := s.LockExecution(context.Background(), "peace ensure", exec, 0, nil)
			must(t, err)
			pid := fmt.Sprintf("pid %d", os.Getpid())
			rec := mustLoad(t, Open(s.Path()))
			if !slices.Equal(rec.Unknown, []string{"b"}) || len(rec.InProgress) != 0 {
				t.Errorf("before the live run's journal: unknown %q, in progress %q", rec.Unknown, rec.InProgress)
			}
			if len(rec.Notices) != 2 || !strings.Contains(rec.Notices[0], "execution e1 ") || !strings.Contains(rec.Notices[0], "did not finish") ||
				!strings.Contains(rec.Notices[1], "peace ensure is in progress (") || !strings.Contains(rec.Notices[1], pid+")") {
				t.Errorf("notices %q", rec.Notices)
			}

			_, err = s.Recover()
			must(t, err)
			j, err = s.OpenJournal("e-live", "peace ensure")
			must(t, err)
			must(t, j.Begin("a"))
			must(t, j.Group("a", 4242, "boot:1"))
			rec = mustLoad(t, Open(s.Path()))
			want := "peace ensure is in progress (execution e-live, " + pid + "), started "
			if len(rec.Notices) != 1 || !strings.HasPrefix(rec.Notices[0], want) || !strings.HasSuffix(rec.Notices[0], "; items it is applying: a") {
				t.Errorf("notices %q, want one starting %q", rec.Notices, want)
			}
			if !slices.Equal(rec.InProgress, []string{"a"}) || !slices.Equal(rec.Unknown, []string{"b"}) || rec.Groups != nil {
				t.Errorf("in progress %q, unknown %q, groups %v", rec.InProgress, rec.Unknown, rec.Groups)
			}

			// The holder dies: its lock is left, its pid is gone.
			crashed = crashCopy(t, s)
			must(t, j.Close("complete"))
			must(t, l.Release())
			restoreJournal(t, s, crashed)
			holder := holderOf(deadPID(t), "peace ensure")
			holder.Execution = exec
			writeLockFile(t, s, holder)
			rec = mustLoad(t, Open(s.Path()))
			if len(rec.Notices) != 1 || !strings.Contains(rec.Notices[0], "execution e-live (peace ensure, started") || !strings.Contains(rec.Notices[0], "did not finish") {
				t.Errorf("after the holder died: notices %q", rec.Notices)
			}
			if !slices.Equal(rec.Unknown, []string{"a", "b"}) || len(rec.InProgress) != 0 || len(rec.Groups["a"]) != 1 {
				t.Errorf("after the holder died: unknown %q, in progress %q, groups %v", rec.Unknown, rec.InProgress, rec.Groups)
			}
		})
	}
}
