package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/peace-go/peace/internal/durable"
)

// FormatVersion is the version of every file this package writes: the two
// snapshots, the journal's records and the lock file. Older versions are
// migrated on read; newer ones are refused with a *VersionError.
const FormatVersion = 2

// The files of one flow's state directory.
const (
	currentFile = "states_current.yaml"
	goalFile    = "states_goal.yaml"
	journalFile = "journal.log"
	lockFile    = "lock"
)

// Dir returns workspace/profile/flow — where one flow's state lives for one
// profile.
func Dir(workspace, profile, flow string) string {
	return filepath.Join(workspace, profile, flow)
}

// VersionError is a state file written by a newer peace. The file is left
// untouched.
type VersionError struct {
	Path      string
	Found     int
	Supported int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("state file %s has format version %d, but this peace reads versions up to %d; use a newer peace",
		e.Path, e.Found, e.Supported)
}

// CorruptError is a state file that cannot be read. A writer (a command
// holding the lock) renames it aside to MovedTo (never overwritten, never
// deleted) so that the next run starts clean; a reader leaves it where it is
// and MovedTo is empty. A lock file that cannot be read stays in place until
// Unlock sets it aside: nobody can tell whose it is.
type CorruptError struct {
	Path    string
	MovedTo string
	Reason  string
}

func (e *CorruptError) Error() string {
	if filepath.Base(e.Path) == lockFile {
		if e.MovedTo != "" {
			return fmt.Sprintf("lock file %s is corrupt (%s); it was kept as %s", e.Path, e.Reason, e.MovedTo)
		}
		return fmt.Sprintf("lock file %s is corrupt (%s). Make sure no peace runs on this flow and profile, then run `peace unlock` to set it aside.",
			e.Path, e.Reason)
	}
	if e.MovedTo == "" {
		return fmt.Sprintf("state file %s is corrupt (%s); it was left as it is. Run `peace status` to set it aside, rediscover and record the world.",
			e.Path, e.Reason)
	}
	return fmt.Sprintf("state file %s is corrupt (%s); it was kept as %s. Run `peace status` to rediscover and record the world.",
		e.Path, e.Reason, e.MovedTo)
}

// corrupt describes the bad file at path, left where it is.
func corrupt(path, reason string) error {
	return &CorruptError{Path: path, Reason: reason}
}

// setAside moves the file of a *CorruptError in err aside, for a writer, and
// records where; any other error is returned as it is. If the move itself
// fails, the file stays where it is and that failure is returned.
func setAside(err error) error {
	var cerr *CorruptError
	if !errors.As(err, &cerr) || cerr.MovedTo != "" {
		return err
	}
	moved, merr := moveAside(cerr.Path)
	if merr != nil {
		return fmt.Errorf("state file %s is corrupt (%s) and could not be moved aside: %w", cerr.Path, cerr.Reason, merr)
	}
	cerr.MovedTo = moved
	return err
}

// linkFile is os.Link, replaceable in tests to exercise the fallbacks used on
// filesystems without hard links.
var linkFile = os.Link

// moveAside renames path to path.corrupt-<UTC time>, adding -2, -3, ... when
// that name is taken, so an earlier bad file is never overwritten.
func moveAside(path string) (string, error) {
	base := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	for n := 1; n < 1000; n++ {
		name := base
		if n > 1 {
			name += "-" + strconv.Itoa(n)
		}
		// A hard link fails if name exists, so no race can overwrite it;
		// without hard links, check first and rename.
		err := linkFile(path, name)
		switch {
		case err == nil:
			if err := os.Remove(path); err != nil {
				return "", err
			}
		case errors.Is(err, os.ErrExist):
			continue
		case errors.Is(err, os.ErrNotExist):
			return "", err
		default:
			if _, serr := os.Lstat(name); serr == nil {
				continue
			}
			if err := os.Rename(path, name); err != nil {
				return "", err
			}
		}
		return name, durable.SyncDir(filepath.Dir(path))
	}
	return "", fmt.Errorf("too many corrupt copies of %s", path)
}
