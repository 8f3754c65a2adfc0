package durable

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// DirSyncs collects the directories whose fsync a change left to whoever
// reports the change done: that one syncs them all, once each, before it
// says so (an item's end record, made durable with the records of the
// items finishing with it). Safe for concurrent use.
type DirSyncs struct {
	mu   sync.Mutex
	dirs []string
}

type dirSyncsKey struct{}

// WithDirSyncs returns ctx carrying d: SyncDirContext with it adds to d
// instead of syncing.
func WithDirSyncs(ctx context.Context, d *DirSyncs) context.Context {
	return context.WithValue(ctx, dirSyncsKey{}, d)
}

// SyncDirContext makes dir's entries durable as SyncDir does, or, when ctx
// carries a DirSyncs (see WithDirSyncs), leaves the fsync to its owner,
// who syncs dir before the change is reported done. A cancelled ctx does
// not skip it.
func SyncDirContext(ctx context.Context, dir string) error {
	if d := dirSyncsOf(ctx); d != nil {
		d.add(dir)
		return nil
	}
	return SyncDir(dir)
}

func dirSyncsOf(ctx context.Context) *DirSyncs {
	d, _ := ctx.Value(dirSyncsKey{}).(*DirSyncs)
	return d
}

func (d *DirSyncs) add(dir string) {
	d.mu.Lock()
	if !slices.Contains(d.dirs, dir) {
		d.dirs = append(d.dirs, dir)
	}
	d.mu.Unlock()
}

// Take returns the directories left to sync and forgets them.
func (d *DirSyncs) Take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	dirs := d.dirs
	d.dirs = nil
	return dirs
}

// SyncDirs fsyncs each of dirs once, now, without waiting to share the
// fsyncs with other callers: for a caller that gathered them itself. It
// returns the directories whose fsync failed, with the first error.
func SyncDirs(dirs []string) (failed []string, err error) {
	for i, dir := range dirs {
		if slices.Contains(dirs[:i], dir) {
			continue
		}
		if ferr := fsyncDir(dir); ferr != nil {
			failed = append(failed, dir)
			if err == nil {
				err = ferr
			}
		}
	}
	return failed, err
}

// MkdirAll makes path and the parents it lacks, as os.MkdirAll does, and
// makes each new directory's entry durable in its parent: every missing
// level, not only the last, through SyncDirContext.
func MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	var parents []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) || filepath.Dir(p) == p {
			break
		}
		parents = append(parents, filepath.Dir(p))
	}
	if err := os.MkdirAll(path, perm); err != nil {
		return err
	}
	for _, p := range parents {
		if err := SyncDirContext(ctx, p); err != nil {
			return err
		}
	}
	return nil
}
