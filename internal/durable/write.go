package durable

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// fileOps are the steps of WriteFile that decide durability. Tests replace
// them to check that every step is taken, in order; nothing else does.
type fileOps struct {
	write   func(f *os.File, data []byte) error
	chmod   func(f *os.File, mode fs.FileMode) error
	sync    func(f *os.File) error
	close   func(f *os.File) error
	rename  func(from, to string) error
	syncDir func(dir string) error
}

var ops = fileOps{
	write: func(f *os.File, data []byte) error {
		_, err := f.Write(data)
		return err
	},
	chmod:   (*os.File).Chmod,
	sync:    (*os.File).Sync,
	close:   (*os.File).Close,
	rename:  os.Rename,
	syncDir: SyncDir,
}

// WriteFile replaces the file at path with data and mode so that a reader,
// or the file after a crash, holds the old content or all of the new, never
// a mix or nothing: a temporary file beside path (named by the one pattern),
// written, fsynced, renamed over path, and the directory fsynced. The parent
// directory must exist.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return WriteFileContext(context.Background(), path, data, mode)
}

// WriteFileContext is WriteFile that gives up, leaving path as it was, if
// ctx ends before the rename.
func WriteFileContext(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	return writeFile(ctx, path, data, mode, false)
}

// WriteFileLeavingDirSync is WriteFileContext whose last step, the fsync of
// the directory, goes through ctx (see SyncDirContext): when ctx carries a
// DirSyncs, the new name is durable only once its owner has synced it. For
// a write that is a whole apply, reported done only after that.
func WriteFileLeavingDirSync(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	return writeFile(ctx, path, data, mode, true)
}

func writeFile(ctx context.Context, path string, data []byte, mode fs.FileMode, leaveDirSync bool) (err error) {
	dir := filepath.Dir(path)
	f, err := CreateTemp(path)
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if err = ops.write(f, data); err != nil {
		return err
	}
	// Chmod the open file: the umask does not apply, and the mode is right
	// before the name is.
	if err = ops.chmod(f, mode); err != nil {
		return err
	}
	if err = ops.sync(f); err != nil {
		return err
	}
	closed = true
	if err = ops.close(f); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = ops.rename(tmp, path); err != nil {
		return err
	}
	if d := dirSyncsOf(ctx); leaveDirSync && d != nil {
		d.add(dir)
		return nil
	}
	return ops.syncDir(dir)
}

// SweepTemps removes the temporary files made for path (".NAME.peace-tmp-*"
// beside it) that a killed run left behind, and returns how many it removed.
// Call it only while no other writer of path can be running: the one-writer
// lock makes that so for the store and for every item.
//
// A directory is listed once, at its first sweep since ForgetSweeps: what a
// killed run left is all there by then, and what this process makes it
// removes itself. Sweeping each of a thousand files in one directory costs
// one listing, not a thousand.
func SweepTemps(path string) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	names, err := sweeps.take(dir, base)
	if err != nil || len(names) == 0 {
		return 0, err
	}
	return sweep(dir, names, func(string) bool { return true })
}

// ForgetSweeps makes the next SweepTemps of every directory list it again.
// Call it when the one-writer lock is taken: another process may have left
// temporary files since.
func ForgetSweeps() {
	sweeps.mu.Lock()
	sweeps.dirs = nil
	sweeps.mu.Unlock()
}

// sweeps remembers, per directory listed, the temporary files found in it
// and not yet swept.
var sweeps sweepMemo

type sweepMemo struct {
	mu   sync.Mutex
	dirs map[string][]os.DirEntry
}

// take returns the temporary files made for base in dir, listing dir if it
// was not listed yet, and forgets them.
func (m *sweepMemo) take(dir, base string) ([]os.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	temps, listed := m.dirs[dir]
	if !listed {
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		// A directory that does not exist holds nothing stale; one made
		// later is made by this run.
		for _, e := range entries {
			if IsTemp(e.Name()) && !e.IsDir() {
				temps = append(temps, e)
			}
		}
		if m.dirs == nil {
			m.dirs = map[string][]os.DirEntry{}
		}
	}
	var mine []os.DirEntry
	kept := temps[:0]
	for _, e := range temps {
		if IsTempOf(e.Name(), base) {
			mine = append(mine, e)
		} else {
			kept = append(kept, e)
		}
	}
	m.dirs[dir] = kept
	return mine, nil
}

// SweepDirTemps removes every temporary file of peace's in dir, whatever
// it was made for, and returns how many it removed.
func SweepDirTemps(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	return sweep(dir, entries, IsTemp)
}

func sweep(dir string, entries []os.DirEntry, match func(string) bool) (int, error) {
	n := 0
	var errs []string
	for _, e := range entries {
		// Only files: a directory by that name is not one of ours.
		if !match(e.Name()) || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err.Error())
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("remove stale temporary files: %s", strings.Join(errs, "; "))
	}
	if n > 0 {
		return n, SyncDir(dir)
	}
	return 0, nil
}
