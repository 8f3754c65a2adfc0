package tarx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/peace-go/peace/internal/durable"
)

// destDirs reaches the directories under dest one name at a time and never
// follows a symlink on the way: an entry is only ever looked at, written or
// removed where its name says. Had extraction followed a symlink, say
// "sub/up -> ..", then "sub/up/top.txt" would land at "top.txt", and
// neither the record nor a clean could tell where it went.
type destDirs struct {
	root *os.Root
	// mk: missing directories are made, and a symlink or a file where a
	// directory belongs is an error. Otherwise such a directory is absent.
	mk   bool
	dirs map[string]*os.Root // by slash path; nil when absent
}

func newDestDirs(root *os.Root, mk bool) *destDirs {
	return &destDirs{root: root, mk: mk, dirs: map[string]*os.Root{}}
}

func (t *destDirs) close() {
	for _, r := range t.dirs {
		if r != nil {
			r.Close()
		}
	}
	clear(t.dirs)
}

// dir returns a Root on the directory p, a clean slash path relative to
// dest. Without mk it is nil when p is absent, is not a directory, or lies
// below something that is not one, a symlink included.
func (t *destDirs) dir(p string) (*os.Root, error) {
	if p == "." {
		return t.root, nil
	}
	if r, ok := t.dirs[p]; ok {
		return r, nil
	}
	parent, err := t.dir(path.Dir(p))
	if err != nil || parent == nil {
		return nil, err
	}
	r, err := t.open(parent, p)
	if err != nil {
		return nil, err
	}
	t.dirs[p] = r
	return r, nil
}

func (t *destDirs) open(parent *os.Root, p string) (*os.Root, error) {
	name := path.Base(p)
	fi, err := parent.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) && t.mk {
		if err = parent.Mkdir(name, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = parent.Lstat(name)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && !t.mk:
		return nil, nil
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSymlink != 0:
		if !t.mk {
			return nil, nil
		}
		return nil, fmt.Errorf("%q is a symlink, and tar_x does not write through symlinks: %w", p, ErrRefused)
	case !fi.IsDir():
		if !t.mk {
			return nil, nil
		}
		return nil, fmt.Errorf("a %s is in the way of the directory %q", kind(fi.Mode()), p)
	}
	r, err := parent.OpenRoot(name)
	if !t.mk && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
		return nil, nil
	}
	return r, err
}

// forget closes the Root on p, about to be removed.
func (t *destDirs) forget(p string) {
	if r := t.dirs[p]; r != nil {
		r.Close()
	}
	delete(t.dirs, p)
}

// lstat describes p without following it; nil when nothing is there.
func (t *destDirs) lstat(p string) (fs.FileInfo, *os.Root, error) {
	dir, err := t.dir(path.Dir(p))
	if err != nil || dir == nil {
		return nil, nil, err
	}
	fi, err := dir.Lstat(path.Base(p))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil, nil
	}
	return fi, dir, err
}

// onDisk describes what is at want.Path, as an Entry comparable with want;
// ok is false when nothing is there.
func (t *destDirs) onDisk(want Entry) (Entry, bool, error) {
	fi, dir, err := t.lstat(want.Path)
	if err != nil {
		return Entry{}, false, fmt.Errorf("entry %q: %w", want.Path, err)
	}
	if fi == nil {
		return Entry{}, false, nil
	}
	e := Entry{Path: want.Path}
	switch m := fi.Mode(); {
	case m.IsRegular():
		if want.Type == TypeHardlink {
			if to, _, err := t.lstat(want.Link); err == nil && to != nil && os.SameFile(fi, to) {
				e.Type, e.Link = TypeHardlink, want.Link
				return e, true, nil
			}
		}
		e.Type, e.Size, e.Mode, e.ModTime = TypeFile, fi.Size(), formatMode(int64(m.Perm())), fi.ModTime().UTC()
	case m.IsDir():
		e.Type, e.Mode = TypeDir, formatMode(int64(m.Perm()))
	case m&fs.ModeSymlink != 0:
		e.Type = TypeSymlink
		if e.Link, err = dir.Readlink(path.Base(want.Path)); err != nil {
			return Entry{}, false, fmt.Errorf("entry %q: %w", want.Path, err)
		}
	default:
		e.Type = m.Type().String()
	}
	return e, true, nil
}

// names lists, by directory, the base names entries have in it.
func names(entries []Entry) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, e := range entries {
		d := path.Dir(e.Path)
		if out[d] == nil {
			out[d] = map[string]bool{}
		}
		out[d][path.Base(e.Path)] = true
	}
	return out
}

// ownTemp reports whether name is a temporary file tar_x made for one of
// the names in bases: the ones a killed run may have left behind.
func ownTemp(name string, bases map[string]bool) bool {
	i := strings.LastIndex(name, durable.TempMarker)
	return i > 1 && durable.IsTempOf(name, name[1:i]) && bases[name[1:i]]
}

// sweep removes the temporary files that a run killed while writing left
// beside entries, so that they never keep a directory from being removed.
// One process at a time works on a profile: none of them is in use.
func (t *destDirs) sweep(entries []Entry) {
	for d, bases := range names(entries) {
		dir, err := t.dir(d)
		if err != nil || dir == nil {
			continue
		}
		for _, n := range t.temps(dir, bases) {
			dir.Remove(n)
		}
	}
}

// temps lists the temporary files in dir made for the names in bases.
func (t *destDirs) temps(dir *os.Root, bases map[string]bool) []string {
	f, err := dir.Open(".")
	if err != nil {
		return nil
	}
	defer f.Close()
	all, _ := f.Readdirnames(-1)
	var out []string
	for _, n := range all {
		if ownTemp(n, bases) {
			out = append(out, n)
		}
	}
	return out
}

// empty reports whether the directory p exists and holds nothing but the
// temporary files made for the names in bases.
func (t *destDirs) empty(p string, bases map[string]bool) bool {
	dir, err := t.dir(p)
	if err != nil || dir == nil {
		return false
	}
	f, err := dir.Open(".")
	if err != nil {
		return false
	}
	defer f.Close()
	for {
		some, err := f.Readdirnames(64)
		for _, n := range some {
			if !ownTemp(n, bases) {
				return false
			}
		}
		if err != nil || len(some) == 0 {
			return true
		}
	}
}
