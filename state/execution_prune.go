package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peace-go/peace/internal/durable"
)

// The retention DESIGN §10 asks for: the last 100 executions per profile
// and flow, none older than 30 days.
const (
	KeepExecutions   = 100
	KeepExecutionAge = 30 * 24 * time.Hour
)

// staleRecordTemp is how old a temporary record directory must be before
// PruneExecutions takes it for the leftover of a killed CreateExecution.
const staleRecordTemp = time.Minute

// PruneExecutions removes the records under the state directory dir beyond
// the newest keep, and those started more than maxAge before now (maxAge 0:
// no age limit), and returns their IDs. A live execution (one that is not
// read as lost) is never removed, nor a record it cannot read: a corrupt
// one is kept for its owner to look at. Leftovers of killed writers
// (temporary directories and files) are removed too.
func PruneExecutions(dir string, keep int, maxAge time.Duration, now time.Time) (removed []string, err error) {
	parent := filepath.Join(dir, executionsDir)
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prune executions: %w", err)
	}
	var errs []error
	sweepStaleRecordTemps(parent, entries, now, &errs)
	if nothingToPrune(entries, keep, maxAge, now) {
		if len(errs) > 0 {
			return nil, fmt.Errorf("prune executions: %w", errors.Join(errs...))
		}
		return nil, nil
	}

	execs, _, err := ListExecutions(dir)
	if err != nil {
		return nil, err
	}
	for i, e := range execs {
		tooMany := i >= keep
		tooOld := maxAge > 0 && now.Sub(e.Started) > maxAge
		if e.State.Live() {
			continue
		}
		if !tooMany && !tooOld {
			// Kept. Only a writer killed mid-write leaves a temp in a
			// record, and its record reads as lost: a finished writer
			// has renamed or removed every temp it made.
			if e.State == ExecLost {
				if _, err := durable.SweepDirTemps(recordDir(dir, e.ID)); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if err := removeRecord(parent, e.ID); err != nil {
			if !errors.Is(err, fs.ErrNotExist) { // else removed meanwhile
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, e.ID)
	}
	if len(removed) > 0 {
		if err := durable.SyncDir(parent); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("prune executions: %w", errors.Join(errs...))
	}
	return removed, nil
}

// removeRecord removes the record id from parent: first renamed to a
// temporary name, so that no half-removed record is ever listed, then
// deleted.
func removeRecord(parent, id string) error {
	from := filepath.Join(parent, id)
	tmp := durable.TempName(from)
	if err := os.Rename(from, tmp); err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}

// sweepStaleRecordTemps removes the temporary directories in parent (of a
// CreateExecution or removeRecord that was killed) older than
// staleRecordTemp, so as not to take one that is being made right now.
func sweepStaleRecordTemps(parent string, entries []os.DirEntry, now time.Time, errs *[]error) {
	for _, ent := range entries {
		name := ent.Name()
		if !durable.IsTemp(name) || !strings.HasPrefix(name, ".") {
			continue
		}
		fi, err := ent.Info()
		if err != nil || now.Sub(fi.ModTime()) < staleRecordTemp {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, name)); err != nil {
			*errs = append(*errs, err)
		}
	}
}

// nothingToPrune tells from the directory listing alone — without reading
// a record — that no record is beyond keep or older than maxAge: there are
// at most keep of them, and the oldest ID's time (IDs begin with their
// UTC start, to the second) is within maxAge. Every run that records asks,
// so the usual answer must cost one directory read.
func nothingToPrune(entries []os.DirEntry, keep int, maxAge time.Duration, now time.Time) bool {
	n := 0
	oldest := ""
	for _, e := range entries {
		if !e.IsDir() || !ValidExecutionID(e.Name()) {
			continue
		}
		n++
		if oldest == "" || e.Name() < oldest {
			oldest = e.Name()
		}
	}
	if n > keep {
		return false
	}
	if maxAge <= 0 || oldest == "" {
		return true
	}
	started, err := time.Parse("20060102-150405", oldest[:min(len(oldest), 15)])
	if err != nil {
		return false // not a time-stamped ID: read the records
	}
	// A second of slack for the ID's truncation.
	return now.Sub(started) <= maxAge-time.Second
}
