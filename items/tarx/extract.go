package tarx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// extract writes the entries of target that are missing or differ under
// dest, reading the archive once. Every write goes through an os.Root on
// dest, so nothing can land outside it even through symlinks already there.
func (x *Extract) extract(ctx context.Context, tr progress.Tracker, target State) (State, error) {
	// Before anything is written: every entry must stay inside dest.
	if err := validate(target.Entries); err != nil {
		return State{}, fmt.Errorf("archive %s: %w", x.Archive, err)
	}
	if err := os.MkdirAll(x.Dest, 0o755); err != nil {
		return State{}, err
	}
	root, err := os.OpenRoot(x.Dest)
	if err != nil {
		return State{}, err
	}
	defer root.Close()

	want := make(map[string]Entry, len(target.Entries))
	pending := map[string]bool{}
	var todo []Entry
	for _, e := range target.Entries {
		want[e.Path] = e
		d, ok, err := onDisk(root, e)
		if err != nil {
			return State{}, err
		}
		if !ok || !same(d, e) {
			pending[e.Path] = true
		}
	}
	// A file written anew is a new inode: its hard links must follow.
	for _, e := range target.Entries {
		if e.Type == TypeHardlink && pending[e.Link] {
			pending[e.Path] = true
		}
	}
	for _, e := range target.Entries {
		if pending[e.Path] {
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		return target, nil
	}
	tr.SetLimit(limitFor(todo))

	a, err := openArchive(x.Archive)
	if err != nil {
		return State{}, err
	}
	defer a.Close()
	if !a.source.equal(target.Source) {
		return State{}, fmt.Errorf("archive %s changed since its goal was discovered: discover again", x.Archive)
	}
	var dirs []Entry
	buf := make([]byte, 256<<10)
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return State{}, err
		}
		h, err := a.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return State{}, err
		}
		e, ok, err := entryOf(h)
		if err != nil {
			return State{}, fmt.Errorf("archive %s: %w", x.Archive, err)
		}
		// Skip what is already in place, and earlier copies of a path the
		// archive names again later.
		if !ok || !pending[e.Path] || !same(e, want[e.Path]) {
			continue
		}
		if err := write(ctx, root, e, a.tr, buf, tr); err != nil {
			return State{}, fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if e.Type == TypeDir {
			dirs = append(dirs, e)
		}
		delete(pending, e.Path)
	}
	if len(pending) > 0 {
		missing := slices.Sorted(maps.Keys(pending))
		return State{}, fmt.Errorf("archive %s lacks %d entries its goal lists (%s, …)", x.Archive, len(missing), missing[0])
	}
	// Directory modes last, so that a read-only directory does not stop its
	// own content from being written.
	for _, d := range slices.Backward(dirs) {
		if err := root.Chmod(filepath.FromSlash(d.Path), parseMode(d.Mode)); err != nil {
			return State{}, fmt.Errorf("entry %q: %w", d.Path, err)
		}
	}
	return target, nil
}

// write puts one entry in place. Files, symlinks and hard links are made
// under a temporary name in the same directory and renamed over the path, so
// the path holds either the old thing or the whole new one.
func write(ctx context.Context, root *os.Root, e Entry, r io.Reader, buf []byte, tr progress.Tracker) (err error) {
	name := filepath.FromSlash(e.Path)
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if e.Type == TypeDir {
		err := root.Mkdir(name, 0o755)
		if errors.Is(err, fs.ErrExist) {
			if fi, lerr := root.Lstat(name); lerr == nil && !fi.IsDir() {
				return fmt.Errorf("a %s is in the way of the directory", kind(fi.Mode()))
			}
			return nil
		}
		return err
	}

	tmp := tempName(name)
	defer func() {
		if err != nil {
			root.Remove(tmp)
		}
	}()
	switch e.Type {
	case TypeFile:
		f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = copyAdvancing(ctx, f, r, buf, tr)
		if err == nil {
			err = f.Chmod(parseMode(e.Mode))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := root.Chtimes(tmp, e.ModTime, e.ModTime); err != nil {
			return err
		}
	case TypeSymlink:
		if err := root.Symlink(e.Link, tmp); err != nil {
			return err
		}
	case TypeHardlink:
		if err := root.Link(filepath.FromSlash(e.Link), tmp); err != nil {
			return err
		}
	}
	if err := root.Rename(tmp, name); err != nil {
		return err
	}
	if e.Type == TypeHardlink {
		// Renaming a link over another link to the same file does nothing.
		root.Remove(tmp)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return m.Type().String()
}

// tempName is a fresh name beside name: ".NAME.peace-tmp-RANDOM".
func tempName(name string) string {
	dir, base := filepath.Split(name)
	return dir + "." + base + ".peace-tmp-" + strconv.FormatUint(rand.Uint64(), 36)
}

// copyAdvancing copies r to w, reporting each chunk to tr and stopping when
// ctx is done.
func copyAdvancing(ctx context.Context, w io.Writer, r io.Reader, buf []byte, tr progress.Tracker) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
			tr.Advance(int64(m))
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// remove takes away what the archive put under dest: the paths found now
// and those last recorded. Files, symlinks and links go first; then the
// archive's directories and the parents of its entries, deepest first, each
// only if empty. A path where something of another kind now stands is left
// alone.
func (x *Extract) remove(ctx context.Context, fc items.TypedFnCtx[State], current State) error {
	list := map[string]Entry{}
	if fc.Stored != nil {
		for _, e := range fc.Stored.Entries {
			list[e.Path] = e
		}
	}
	for _, e := range current.Entries {
		list[e.Path] = e
	}
	root, err := os.OpenRoot(x.Dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()

	dirs := map[string]bool{}
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			dirs[d] = false
		}
		if e.Type == TypeDir {
			dirs[e.Path] = true
			continue
		}
		name := filepath.FromSlash(e.Path)
		fi, err := root.Lstat(name)
		if err != nil || fi.IsDir() {
			continue
		}
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("entry %q: %w", e.Path, err)
		}
		fc.Progress.Advance(1)
	}
	order := slices.Collect(maps.Keys(dirs))
	// Deepest first; among equals, reverse path order, for a stable run.
	slices.SortFunc(order, func(a, b string) int {
		if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
			return db - da
		}
		return strings.Compare(b, a)
	})
	for _, d := range order {
		name := filepath.FromSlash(d)
		fi, err := root.Lstat(name)
		if err != nil || !fi.IsDir() {
			continue
		}
		err = root.Remove(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("entry %q: %w", d, err)
		}
		if err == nil && dirs[d] {
			fc.Progress.Advance(1)
		}
	}
	return nil
}
