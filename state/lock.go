package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/peace-go/peace/internal/durable"
)

// LockInfo is what the lock file says about its holder.
type LockInfo struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	// ProcStart identifies the holder process beyond its pid (boot ID and
	// start time where the system tells them), so that a reused pid is not
	// mistaken for the holder.
	ProcStart string `json:"proc_start,omitempty"`
	// Execution is the ID of the command execution holding the lock, where
	// the holder gave one.
	Execution string `json:"execution,omitempty"`
	Version   int    `json:"version"`

	// Corrupt is set, on what Unlock returns, when the lock file could not
	// be read: it was moved aside rather than removed, and says where.
	Corrupt *CorruptError `json:"-"`
}

// LockedError is a lock held by a live process, or by one on another host
// whose liveness cannot be checked.
type LockedError struct {
	Path   string
	Holder LockInfo
}

func (e *LockedError) Error() string {
	h := e.Holder
	msg := fmt.Sprintf("flow state is locked by pid %d on %s (%s) since %s (%s ago)",
		h.PID, h.Host, h.Command, clock(h.Started), ago(time.Since(h.Started)))
	if h.Execution != "" {
		msg += ", execution " + h.Execution
	}
	return msg
}

// clock shows t as a time of day, with the date if it is not today.
func clock(t time.Time) string {
	t = t.Local()
	if y, m, d := t.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
}

// ago shows a duration the way people say it: 40s, 2m, 5h, 3d.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d/time.Second)))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// Lock is the one-writer lock of a store, held by this process.
type Lock struct {
	path string
	data []byte // the lock file as written, to recognise it on release

	mu       sync.Mutex
	released bool
}

// Info returns what the lock file says about this holder.
func (l *Lock) Info() LockInfo {
	info, _ := parseLock(l.data)
	return info
}

// The longest pause between two looks at a held lock while waiting.
const maxLockPoll = 500 * time.Millisecond

// Lock is LockExecution without an execution ID.
func (s *Store) Lock(ctx context.Context, command string, wait time.Duration, onWait func(LockInfo)) (l *Lock, notice string, err error) {
	return s.LockExecution(ctx, command, "", wait, onWait)
}

// LockExecution takes the one-writer lock for command, recording execution
// as its holder's ID so that readers can name the run in progress. If a live
// process holds it: with wait 0, it returns a *LockedError at once;
// otherwise it polls until wait elapses (then *LockedError) or ctx ends,
// calling onWait (if not nil) once when waiting starts. A holder provably
// dead on this host (its pid gone, or the pid alive but started at another
// time) is taken over, and the returned notice says so. A lock file that
// cannot be read is a *CorruptError and stays where it is, holding the lock,
// until Unlock sets it aside. Once the lock is taken, temporary files a
// killed writer left in the store are removed, and the next sweep of any
// directory (durable.SweepTemps) lists it again.
func (s *Store) LockExecution(ctx context.Context, command, execution string, wait time.Duration, onWait func(LockInfo)) (l *Lock, notice string, err error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("lock: %w", err)
	}
	me := LockInfo{
		PID:       os.Getpid(),
		Host:      hostname(),
		Command:   command,
		Started:   time.Now().Truncate(time.Millisecond),
		ProcStart: procStart(os.Getpid()),
		Execution: execution,
		Version:   FormatVersion,
	}
	data, err := json.MarshalIndent(me, "", "  ")
	if err != nil {
		return nil, "", fmt.Errorf("lock: %w", err)
	}
	data = append(data, '\n')

	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	poll := 20 * time.Millisecond
	waiting := false
	for {
		l, notice, holder, err := s.tryLock(data)
		if err == nil && l != nil {
			// Whatever a killed run left beside the world's files is
			// looked for afresh under this lock.
			durable.ForgetSweeps()
			err = s.sweepTemps()
			if err != nil {
				l.Release()
				l, notice = nil, ""
			}
		}
		if err != nil || l != nil {
			return l, notice, err
		}
		locked := &LockedError{Path: s.lockPath(), Holder: holder}
		left := time.Until(deadline)
		if wait <= 0 || left <= 0 {
			return nil, "", locked
		}
		if !waiting {
			waiting = true
			if onWait != nil {
				onWait(holder)
			}
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			// Not a *LockedError: the caller stopped the wait.
			return nil, "", fmt.Errorf("stopped waiting for the lock held by pid %d on %s: %w", holder.PID, holder.Host, ctx.Err())
		case <-t.C:
		}
		poll = min(2*poll, maxLockPoll)
	}
}

// tryLock makes one attempt: it returns the lock, or the live holder.
func (s *Store) tryLock(data []byte) (l *Lock, notice string, holder LockInfo, err error) {
	path := s.lockPath()
	// The lock file's content is written in full before it appears under
	// its name, so a reader never sees it half-written.
	tmp, err := writeTemp(path, data)
	if err == nil {
		err = os.Chmod(tmp, 0o644) // who holds the lock is no secret
	}
	if err != nil {
		return nil, "", holder, fmt.Errorf("lock: %w", err)
	}
	defer os.Remove(tmp) // gone already if it became the lock
	for range 10 {
		created, err := createExclusive(tmp, path, data)
		if err != nil {
			return nil, "", holder, fmt.Errorf("lock: %w", err)
		}
		if created {
			return &Lock{path: path, data: data}, "", holder, nil
		}
		holder, raw, err := readLock(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, "", holder, err
		}
		if !provablyDead(holder) {
			return nil, "", holder, nil
		}
		took, err := s.takeOver(tmp, raw)
		if err != nil {
			return nil, "", holder, err
		}
		if took {
			notice = fmt.Sprintf("took over the lock of pid %d (%s, started %s), which is no longer running",
				holder.PID, holder.Command, clock(holder.Started))
			return &Lock{path: path, data: data}, notice, holder, nil
		}
		// Someone else changed the lock meanwhile: look again.
	}
	return nil, "", holder, fmt.Errorf("lock: %s keeps changing", path)
}

// createExclusive makes the fully written file tmp appear as path unless
// path exists: by a hard link, which fails if path exists; where hard links
// are not supported, by an exclusive create written in place.
//
// The directory is not fsynced: other processes see the lock at once, and
// after a power cut either outcome is sound. The lock's content is durable
// before its name appears, so a lock that survives one is whole, and its
// holder is gone (taken over as dead); one that does not survive leaves
// nothing to take over. What the run recorded meanwhile is in the journal,
// which recovery reads with or without a lock.
func createExclusive(tmp, path string, data []byte) (bool, error) {
	err := linkFile(tmp, path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return false, err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return false, err
	}
	return true, nil
}

// takeOver replaces the lock file, if it still is exactly deadRaw, with tmp
// by an atomic rename. Takers (and Unlock) hold an exclusive lock on the
// directory meanwhile, and a new holder only ever creates the lock file where
// none exists, so the file cannot change between the check and the rename:
// two takers cannot both win, and a live holder's lock is never replaced.
func (s *Store) takeOver(tmp string, deadRaw []byte) (bool, error) {
	unlock, err := lockDir(s.dir)
	if err != nil {
		return false, fmt.Errorf("lock: %w", err)
	}
	defer unlock()
	raw, err := os.ReadFile(s.lockPath())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock: %w", err)
	}
	if !bytes.Equal(raw, deadRaw) {
		return false, nil
	}
	if err := os.Rename(tmp, s.lockPath()); err != nil {
		return false, fmt.Errorf("lock: take over: %w", err)
	}
	return true, durable.SyncDir(s.dir)
}

// Release gives the lock up. Releasing twice is harmless. The directory is
// not fsynced: a removal a power cut loses leaves the lock of a process
// that is gone, which the next run takes over with a notice.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	raw, err := os.ReadFile(l.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l.released = true
		return fmt.Errorf("release lock: %s was removed by someone else", l.path)
	case err != nil:
		return fmt.Errorf("release lock: %w", err)
	case !bytes.Equal(raw, l.data):
		l.released = true
		return fmt.Errorf("release lock: %s was taken over by another process", l.path)
	}
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	l.released = true
	return nil
}

// Unlock removes the lock if its holder is provably dead, returning who held
// it (nil if nobody did). A live holder is refused with a *LockedError. Lock
// takes over dead holders by itself; this is for `peace unlock`.
func (s *Store) Unlock() (removed *LockInfo, err error) {
	if _, err := os.Stat(s.dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	unlock, err := lockDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("unlock: %w", err)
	}
	defer unlock()
	holder, _, err := readLock(s.lockPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var cerr *CorruptError
	if errors.As(err, &cerr) {
		// Nobody can tell who holds a lock that cannot be read: set it aside,
		// kept, which is what the user asked for.
		moved, merr := moveAside(s.lockPath())
		if merr != nil {
			return nil, fmt.Errorf("unlock: %w", merr)
		}
		cerr.MovedTo = moved
		holder.Corrupt = cerr
		return &holder, nil
	}
	if err != nil {
		return nil, err
	}
	if !provablyDead(holder) {
		return nil, &LockedError{Path: s.lockPath(), Holder: holder}
	}
	if err := os.Remove(s.lockPath()); err != nil {
		return nil, fmt.Errorf("unlock: %w", err)
	}
	return &holder, durable.SyncDir(s.dir)
}

// readLock reads and parses the lock file. One that cannot be read is a
// *CorruptError, left in place (it still holds the lock: nobody can tell
// whose it is); a newer version is refused (*VersionError). On a
// *CorruptError the LockInfo holds what could be read of it.
func readLock(path string) (LockInfo, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return LockInfo{}, nil, err
	}
	info, perr := parseLock(raw)
	if perr != nil {
		// Without hard links a lock file is briefly empty or partial while
		// its creator writes it: look once more before calling it corrupt.
		time.Sleep(50 * time.Millisecond)
		again, err := os.ReadFile(path)
		if err != nil {
			return LockInfo{}, nil, err
		}
		if !bytes.Equal(again, raw) {
			if info, perr2 := parseLock(again); perr2 == nil {
				return info, again, nil
			}
		}
	}
	var verr *VersionError
	switch {
	case errors.As(perr, &verr):
		verr.Path = path
		return LockInfo{}, nil, verr
	case perr != nil:
		return info, nil, &CorruptError{Path: path, Reason: perr.Error()}
	}
	return info, raw, nil
}

func parseLock(raw []byte) (LockInfo, error) {
	var info LockInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return info, err
	}
	switch {
	case info.Version > FormatVersion:
		return info, &VersionError{Found: info.Version, Supported: FormatVersion}
	case info.Version < 1:
		return info, errors.New("no format version")
	case info.PID <= 0:
		return info, fmt.Errorf("pid %d", info.PID)
	case info.Host == "":
		return info, errors.New("no host")
	case info.Started.IsZero():
		return info, errors.New("no start time")
	}
	return info, nil
}

// provablyDead reports whether the holder certainly no longer runs: it ran
// on this host, and its pid is gone (or a zombie), or now belongs to a
// process started at another time.
func provablyDead(h LockInfo) bool { return processDead(h.Host, h.PID, h.ProcStart) }

// processDead reports whether the process pid of host, whose start
// identity was start, is provably gone: on this host, and not running, or
// running with another start (its pid was given again). A lock holder and
// an execution's runner are judged alike.
func processDead(host string, pid int, start string) bool {
	if host != hostname() {
		return false
	}
	alive, now := processAlive(pid)
	if !alive {
		return true
	}
	return start != "" && now != "" && now != start
}

var hostname = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
})

// writeTemp writes data to a new, fsynced temporary file beside path.
func writeTemp(path string, data []byte) (string, error) {
	f, err := durable.CreateTemp(path)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// staleLockTemp is how old a temporary lock file must be before the holder
// removes it: another process's attempt at the lock takes milliseconds, and
// its temporary file must not vanish from under it.
const staleLockTemp = time.Minute

// sweepTemps removes temporary files a killed writer left in the store. Only
// the lock holder writes snapshots, so theirs are stale once it holds the
// lock; other processes' lock attempts make temporary files too, so those
// are removed only once old.
func (s *Store) sweepTemps() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case durable.IsTempOf(name, currentFile), durable.IsTempOf(name, goalFile),
			legacyTempOf(name, currentFile), legacyTempOf(name, goalFile):
		case durable.IsTempOf(name, lockFile), legacyTempOf(name, lockFile):
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleLockTemp {
				continue
			}
		default:
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lock: remove stale temporary file: %w", err)
		}
		removed = true
	}
	if removed {
		return durable.SyncDir(s.dir)
	}
	return nil
}

// legacyTempOf reports a temporary file of base as versions before the one
// pattern named them: ".NAME.tmp-RANDOM".
func legacyTempOf(name, base string) bool {
	return strings.HasPrefix(name, "."+base+".tmp-")
}
