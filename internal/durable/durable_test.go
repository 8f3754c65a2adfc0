package durable

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	err := SyncDir(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// recordOps replaces ops for the test with ones that log each step, and
// fail the step named failAt.
func recordOps(t *testing.T, failAt string) *[]string {
	t.Helper()
	var steps []string
	real := ops
	t.Cleanup(func() { ops = real })
	step := func(name string, do func() error) error {
		if name == failAt {
			return errors.New("injected failure of " + name)
		}
		err := do()
		if err == nil {
			steps = append(steps, name)
		}
		return err
	}
	ops = fileOps{
		write: func(f *os.File, data []byte) error {
			return step("write", func() error { return real.write(f, data) })
		},
		chmod: func(f *os.File, mode fs.FileMode) error {
			return step("chmod", func() error { return real.chmod(f, mode) })
		},
		sync:    func(f *os.File) error { return step("sync", func() error { return real.sync(f) }) },
		close:   func(f *os.File) error { return step("close", func() error { return real.close(f) }) },
		rename:  func(from, to string) error { return step("rename", func() error { return real.rename(from, to) }) },
		syncDir: func(dir string) error { return step("sync dir", func() error { return real.syncDir(dir) }) },
	}
	return &steps
}

// The file's data is fsynced before the rename makes it visible, and the
// directory after, so a crash at any point leaves the old file or the new.
func TestWriteFileOrder(t *testing.T) {
	steps := recordOps(t, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "states_current.yaml")
	for _, content := range []string{"first\n", "second, longer than the first\n", ""} {
		*steps = nil
		if err := WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		want := []string{"write", "chmod", "sync", "close", "rename", "sync dir"}
		if !slices.Equal(*steps, want) {
			t.Errorf("steps %q, want %q", *steps, want)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("content %q (%v), want %q", got, err, content)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v (%v), want 0640", fi.Mode(), err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"states_current.yaml"}) {
			t.Errorf("files after write: %v", names)
		}
	}
}

// A failure at any step before the rename leaves the old file and no
// temporary file.
func TestWriteFileFailureKeepsOldFile(t *testing.T) {
	for _, failAt := range []string{"write", "chmod", "sync", "close", "rename"} {
		t.Run(failAt, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			recordOps(t, failAt)
			if err := WriteFile(path, []byte("new"), 0o644); err == nil {
				t.Fatal("no error")
			}
			if got, _ := os.ReadFile(path); string(got) != "old" {
				t.Errorf("content %q, want the old", got)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"f"}) {
				t.Errorf("files after a failed write: %v", names)
			}
		})
	}
}

func TestWriteFileOverDirectoryLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("data"), 0o644); err == nil {
		t.Fatal("write over a non-empty directory succeeded")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"busy"}) {
		t.Errorf("files after a failed write: %v", names)
	}
}

func TestTempNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f0.txt")
	f, err := CreateTemp(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, name := range []string{filepath.Base(f.Name()), filepath.Base(TempName(path))} {
		if !IsTemp(name) || !IsTempOf(name, "f0.txt") || IsTempOf(name, "f0") || !strings.HasPrefix(name, ".f0.txt"+TempMarker) {
			t.Errorf("%s does not follow the pattern", name)
		}
	}
	for _, name := range []string{"f0.txt", "peace-tmp-x", "a.peace-tmp-", ".f0.txt.tmp-1"} {
		if IsTemp(name) {
			t.Errorf("%s taken for a temporary file", name)
		}
	}
}

func TestSweepTemps(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		".f0.txt.peace-tmp-xyz", ".f0.txt.peace-tmp-abc", // stale temps of f0.txt
		".f1.txt.peace-tmp-xyz", // another file's
		"f0.txt", "user.peace-tmp-file",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".f0.txt.peace-tmp-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := SweepTemps(filepath.Join(dir, "f0.txt"))
	if err != nil || n != 2 {
		t.Fatalf("SweepTemps = %d, %v; want 2", n, err)
	}
	want := []string{".f0.txt.peace-tmp-dir", ".f1.txt.peace-tmp-xyz", "f0.txt", "user.peace-tmp-file"}
	if names := dirNames(t, dir); !slices.Equal(names, want) {
		t.Errorf("after SweepTemps: %v, want %v", names, want)
	}
	n, err = SweepDirTemps(dir)
	if err != nil || n != 1 {
		t.Fatalf("SweepDirTemps = %d, %v; want 1", n, err)
	}
	want = []string{".f0.txt.peace-tmp-dir", "f0.txt", "user.peace-tmp-file"}
	if names := dirNames(t, dir); !slices.Equal(names, want) {
		t.Errorf("after SweepDirTemps: %v, want %v", names, want)
	}
	if n, err := SweepTemps(filepath.Join(dir, "missing", "f")); n != 0 || err != nil {
		t.Errorf("sweep of a missing directory: %d, %v", n, err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Callers syncing one directory together share fsyncs, and a caller never
// rides on an fsync that started before it called: its entry might not be
// in it. The first caller returns after its own fsync, without waiting for
// the one shared by those that came later.
func TestSyncDirGroupCommit(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	started, finished := 0, 0
	release := make(chan struct{})   // ends the first, slow fsync
	firstBack := make(chan struct{}) // the first caller has returned
	real := fsyncDir
	t.Cleanup(func() { fsyncDir = real })
	fsyncDir = func(d string) error {
		mu.Lock()
		started++
		n := started
		mu.Unlock()
		switch n {
		case 1:
			<-release // the others queue meanwhile
		case 2:
			// Held until the first caller is back, so its return cannot
			// depend on this fsync; bounded so a bug fails, not hangs.
			select {
			case <-firstBack:
			case <-time.After(5 * time.Second):
			}
		}
		err := real(d)
		mu.Lock()
		finished++
		mu.Unlock()
		return err
	}
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return started, finished }
	done := func() int { _, f := count(); return f }

	const late = 7
	first := make(chan int, 1)
	go func() {
		if err := SyncDir(dir); err != nil {
			t.Error(err)
		}
		first <- done()
		close(firstBack)
	}()
	for s, _ := count(); s == 0; s, _ = count() {
		time.Sleep(time.Millisecond)
	}
	others := make(chan int, late)
	for range late {
		go func() {
			if err := SyncDir(dir); err != nil {
				t.Error(err)
			}
			others <- done()
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the slow fsync
	select {
	case n := <-first:
		t.Fatalf("the first caller returned during its fsync (%d finished)", n)
	case n := <-others:
		t.Fatalf("a caller returned during the first fsync (%d finished)", n)
	default:
	}
	close(release)
	select {
	case n := <-first:
		if n != 1 {
			t.Errorf("the first caller returned after %d finished fsyncs, want 1", n)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the first caller waited for the fsync of those that came after it")
	}
	for range late {
		if n := <-others; n < 2 {
			t.Errorf("a caller that came during the first fsync returned after it alone (%d finished)", n)
		}
	}
	if s, _ := count(); s != 2 {
		t.Errorf("%d fsyncs for %d callers, want 2: one for the first, one shared by those that waited", s, late+1)
	}
	// Alone, a caller still gets its own fsync.
	if err := SyncDir(dir); err != nil || done() != 3 {
		t.Errorf("a lone SyncDir: %v, %d fsyncs", err, done())
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// A directory is listed at its first sweep; temporary files found then are
// removed as their files are swept, and one left later is found once the
// lock is taken again (ForgetSweeps).
func TestSweepListsADirectoryOnce(t *testing.T) {
	dir := t.TempDir()
	stale := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	stale(".a.peace-tmp-1", ".b.peace-tmp-1", ".b.peace-tmp-2")
	if n, err := SweepTemps(filepath.Join(dir, "a")); n != 1 || err != nil {
		t.Fatalf("sweep a: %d, %v", n, err)
	}
	stale(".c.peace-tmp-1") // as this run's own write in flight would be
	if n, err := SweepTemps(filepath.Join(dir, "c")); n != 0 || err != nil {
		t.Errorf("sweep c, made after the listing: %d, %v", n, err)
	}
	if n, err := SweepTemps(filepath.Join(dir, "b")); n != 2 || err != nil {
		t.Errorf("sweep b: %d, %v", n, err)
	}
	if n, err := SweepTemps(filepath.Join(dir, "b")); n != 0 || err != nil {
		t.Errorf("sweep b again: %d, %v", n, err)
	}
	ForgetSweeps()
	if n, err := SweepTemps(filepath.Join(dir, "c")); n != 1 || err != nil {
		t.Errorf("sweep c under a new lock: %d, %v", n, err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// A write that leaves its directory fsync to ctx's DirSyncs takes every
// other step in order and hands the directory over; without a DirSyncs, or
// through WriteFileContext, it syncs the directory itself.
func TestWriteFileLeavingDirSync(t *testing.T) {
	steps := recordOps(t, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	var ds DirSyncs
	ctx := WithDirSyncs(context.Background(), &ds)
	if err := WriteFileLeavingDirSync(ctx, path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if want := []string{"write", "chmod", "sync", "close", "rename"}; !slices.Equal(*steps, want) {
		t.Errorf("steps %q, want %q", *steps, want)
	}
	if got := ds.Take(); !slices.Equal(got, []string{dir}) {
		t.Errorf("left to sync %v, want [%s]", got, dir)
	}
	for name, write := range map[string]func() error{
		"no DirSyncs":      func() error { return WriteFileLeavingDirSync(context.Background(), path, []byte("b"), 0o644) },
		"WriteFileContext": func() error { return WriteFileContext(ctx, path, []byte("c"), 0o644) },
	} {
		*steps = nil
		if err := write(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"write", "chmod", "sync", "close", "rename", "sync dir"}; !slices.Equal(*steps, want) {
			t.Errorf("%s: steps %q, want %q", name, *steps, want)
		}
	}
	if got := ds.Take(); len(got) != 0 {
		t.Errorf("left to sync %v", got)
	}
}
