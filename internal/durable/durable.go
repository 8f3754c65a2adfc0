package durable

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
)

// SyncDir fsyncs the directory dir, so that entries just created, renamed
// or removed in it are durable, not only the files' contents.
//
// Callers syncing the same directory at the same time share fsyncs (group
// commit): each waits for one that started after it called, and one fsync
// serves everyone who was waiting when it started. Items finishing together
// in one directory pay one directory fsync, not one each.
func SyncDir(dir string) error {
	return dirSyncOf(dir).sync(dir)
}

// fsyncDir is the fsync of a directory itself; tests replace it.
var fsyncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

var (
	dirSyncsMu sync.Mutex
	dirSyncs   = map[string]*dirSync{}
)

func dirSyncOf(dir string) *dirSync {
	dirSyncsMu.Lock()
	defer dirSyncsMu.Unlock()
	d := dirSyncs[dir]
	if d == nil {
		d = &dirSync{}
		dirSyncs[dir] = d
	}
	return d
}

// dirSync groups the fsyncs of one directory. One caller at a time leads:
// it takes everyone queued, fsyncs once for them all, and hands the lead to
// the first caller that queued meanwhile.
type dirSync struct {
	mu    sync.Mutex
	busy  bool // a leader is fsyncing or about to
	queue []chan error
}

// gatherYields bounds how often a committer lets others run before its
// fsync.
const gatherYields = 4

// Gather lets the goroutines that are ready to run go first, as long as
// they keep joining what queued counts: callers about to hand in work for
// an fsync join this one instead of waiting for the next. It costs no
// waiting when nothing else is ready to run. The directory fsyncs here and
// the journal's commits use it.
func Gather(queued func() int) {
	n := queued()
	for range gatherYields {
		runtime.Gosched()
		m := queued()
		if m == n {
			return
		}
		n = m
	}
}

// gather is Gather over the callers queued for this directory.
func (d *dirSync) gather() {
	Gather(func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.queue)
	})
}

// errLead tells a queued caller that it leads the next fsync.
var errLead = errors.New("lead the next fsync")

func (d *dirSync) sync(dir string) error {
	done := make(chan error, 1)
	d.mu.Lock()
	d.queue = append(d.queue, done)
	lead := !d.busy
	d.busy = true
	d.mu.Unlock()
	if !lead {
		if err := <-done; err != errLead {
			return err
		}
	}
	d.gather()
	d.mu.Lock()
	batch := d.queue // this caller is in it
	d.queue = nil
	d.mu.Unlock()
	err := fsyncDir(dir)
	for _, w := range batch {
		w <- err
	}
	d.mu.Lock()
	if len(d.queue) > 0 {
		d.queue[0] <- errLead
	} else {
		d.busy = false
	}
	d.mu.Unlock()
	return <-done
}
