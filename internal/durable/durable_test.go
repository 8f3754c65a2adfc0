package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
