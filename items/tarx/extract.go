package tarx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/peace-go/peace/internal/durable"
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
	st := newDestDirs(root, false)
	for _, e := range target.Entries {
		want[e.Path] = e
		d, ok, err := st.onDisk(e)
		if err != nil {
			st.close()
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
	// Temporary files a killed run left beside the entries to write.
	st.sweep(todo)
	st.close()
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
	w := &writer{dirs: newDestDirs(root, true), tr: tr}
	defer w.dirs.close()
	dirs, err := w.extract(ctx, a, want, pending)
	if err != nil {
		return State{}, err
	}
	if len(pending) > 0 {
		missing := slices.Sorted(maps.Keys(pending))
		return State{}, fmt.Errorf("archive %s lacks %d entries its goal lists (%s, …)", x.Archive, len(missing), missing[0])
	}
	// Directory modes last, so that a read-only directory does not stop its
	// own content from being written.
	for _, d := range slices.Backward(dirs) {
		parent, err := w.dirs.dir(path.Dir(d.Path))
		if err == nil {
			err = parent.Chmod(path.Base(d.Path), parseMode(d.Mode))
		}
		if err != nil {
			return State{}, fmt.Errorf("entry %q: %w", d.Path, err)
		}
	}
	return target, nil
}

// smallFile is the size up to which a file's content is read into memory
// and written by a worker while the archive is read on.
const smallFile = 1 << 20

// writer puts entries in place under dest. Creating files is mostly the
// kernel's work, so small files are written by a few workers while the
// archive is decompressed; everything else is written in archive order.
type writer struct {
	dirs *destDirs // making directories, never through a symlink
	tr   progress.Tracker
}

// extract reads the archive and writes each pending entry wanted as it is,
// removing it from pending. It returns the directories it made or changed.
func (w *writer) extract(ctx context.Context, a *archive, want map[string]Entry, pending map[string]bool) ([]Entry, error) {
	p := newPool(ctx, min(max(runtime.GOMAXPROCS(0), 2), 8))
	dirs, err := w.extractEntries(p, a, want, pending)
	if werr := p.wait(); werr != nil {
		return nil, werr // the first failure, which cancelled the rest
	}
	return dirs, err
}

func (w *writer) extractEntries(p *pool, a *archive, want map[string]Entry, pending map[string]bool) ([]Entry, error) {
	var dirs []Entry
	buf := make([]byte, 256<<10)
	for len(pending) > 0 {
		if err := p.ctx.Err(); err != nil {
			return nil, err
		}
		h, err := a.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		e, ok, err := entryOf(h)
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", a.path, err)
		}
		// Skip what is already in place, and earlier copies of a path the
		// archive names again later.
		if !ok || !pending[e.Path] || !same(e, want[e.Path]) {
			continue
		}
		delete(pending, e.Path)
		parent, err := w.dirs.dir(path.Dir(e.Path))
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", h.Name, err)
		}
		switch {
		case e.Type == TypeFile && e.Size <= smallFile:
			data := make([]byte, e.Size)
			if _, err := io.ReadFull(a.tr, data); err != nil {
				return nil, fmt.Errorf("archive %s: entry %q: %w", a.path, h.Name, err)
			}
			name := h.Name
			p.do(func(ctx context.Context) error {
				err := w.file(parent, e, func(f *os.File) error {
					if err := ctx.Err(); err != nil {
						return err
					}
					_, err := f.Write(data)
					return err
				})
				if err != nil {
					return fmt.Errorf("entry %q: %w", name, err)
				}
				w.tr.Advance(e.Size)
				return nil
			})
			continue
		case e.Type == TypeFile:
			// Runs of zeros, the holes of a sparse entry among them, are
			// left as holes: a large sparse entry takes little disk.
			err = w.file(parent, e, func(f *os.File) error {
				sw := &sparseWriter{f: f}
				if _, err := copyAdvancing(p.ctx, sw, a.tr, buf, w.tr); err != nil {
					return err
				}
				return sw.finish()
			})
		case e.Type == TypeDir:
			err = w.dir(parent, e)
			dirs = append(dirs, e)
		case e.Type == TypeHardlink:
			// Its file may still be on its way to disk.
			p.barrier()
			err = w.hardlink(parent, e)
		default:
			err = w.symlink(parent, e)
		}
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
	return dirs, nil
}

// dir makes the directory e in parent; its mode is set once its content
// is written.
func (w *writer) dir(parent *os.Root, e Entry) error {
	name := path.Base(e.Path)
	err := parent.Mkdir(name, 0o755)
	if errors.Is(err, fs.ErrExist) {
		if fi, lerr := parent.Lstat(name); lerr == nil && !fi.IsDir() {
			return fmt.Errorf("a %s is in the way of the directory", kind(fi.Mode()))
		}
		return nil
	}
	return err
}

// file writes e's content with fill into a temporary file beside it, sets
// its mode and time, and renames it over e's path: the path holds either
// the old file or the whole new one. dir is a Root on e's directory.
func (w *writer) file(dir *os.Root, e Entry, fill func(*os.File) error) (err error) {
	name := path.Base(e.Path)
	// A file that is not there yet is written in place: until its mtime is
	// set, last, a half-written one differs from the archive and is written
	// again by the next ensure. A file being replaced goes to a temporary
	// name first, so its old content is never half-overwritten.
	tmp := name
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		tmp = durable.TempName(name)
		f, err = dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			dir.Remove(tmp)
		}
	}()
	err = fill(f)
	if err == nil {
		err = f.Chmod(parseMode(e.Mode))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = dir.Chtimes(tmp, e.ModTime, e.ModTime)
	}
	if err == nil && tmp != name {
		err = dir.Rename(tmp, name)
	}
	return err
}

// symlink makes e's symlink in parent under a temporary name and renames
// it over e's path.
func (w *writer) symlink(parent *os.Root, e Entry) error {
	name := path.Base(e.Path)
	tmp := durable.TempName(name)
	if err := parent.Symlink(e.Link, tmp); err != nil {
		return err
	}
	if err := parent.Rename(tmp, name); err != nil {
		parent.Remove(tmp)
		return err
	}
	return nil
}

// hardlink links e's path in parent to the file of the entry it names,
// under a temporary name renamed over e's path. The linked file's
// directory is reached, like every other, without following a symlink.
func (w *writer) hardlink(parent *os.Root, e Entry) error {
	if _, err := w.dirs.dir(path.Dir(e.Link)); err != nil {
		return err
	}
	name := path.Base(e.Path)
	tmp := durable.TempName(name)
	full := filepath.FromSlash(path.Join(path.Dir(e.Path), tmp))
	if err := w.dirs.root.Link(filepath.FromSlash(e.Link), full); err != nil {
		return err
	}
	err := parent.Rename(tmp, name)
	// Renaming a link over another link to the same file does nothing and
	// leaves the temporary name.
	parent.Remove(tmp)
	return err
}

// pool runs functions on a bounded number of goroutines. The first failure
// cancels the pool's context and is what wait returns.
type pool struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func newPool(ctx context.Context, n int) *pool {
	ctx, cancel := context.WithCancel(ctx)
	return &pool{ctx: ctx, cancel: cancel, sem: make(chan struct{}, n)}
}

// do runs f on a free goroutine, waiting for one if all are busy.
func (p *pool) do(f func(ctx context.Context) error) {
	p.sem <- struct{}{}
	p.wg.Add(1)
	go func() {
		defer func() {
			<-p.sem
			p.wg.Done()
		}()
		if err := f(p.ctx); err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = err
				p.cancel()
			}
			p.mu.Unlock()
		}
	}()
}

// barrier waits until every function started so far has returned.
func (p *pool) barrier() { p.wg.Wait() }

// wait waits for every function and releases the pool.
func (p *pool) wait() error {
	p.wg.Wait()
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
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
// only if empty once the temporary files of a killed run are swept. A path
// where something of another kind now stands, or that lies below a symlink,
// is left alone: extraction never put anything there.
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
	t := newDestDirs(root, false)
	defer t.close()

	all := slices.Collect(maps.Values(list))
	t.sweep(all)
	dirs := map[string]bool{}
	for _, e := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = false
			}
		}
		if e.Type == TypeDir {
			dirs[e.Path] = true
			continue
		}
		fi, parent, err := t.lstat(e.Path)
		if err != nil {
			return fmt.Errorf("entry %q: %w", e.Path, err)
		}
		if fi == nil || fi.IsDir() {
			continue
		}
		if err := parent.Remove(path.Base(e.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
		fi, parent, err := t.lstat(d)
		if err != nil {
			return fmt.Errorf("entry %q: %w", d, err)
		}
		if fi == nil || !fi.IsDir() {
			continue
		}
		t.forget(d)
		err = parent.Remove(path.Base(d))
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("entry %q: %w", d, err)
		}
		if err == nil && dirs[d] {
			fc.Progress.Advance(1)
		}
	}
	return nil
}
