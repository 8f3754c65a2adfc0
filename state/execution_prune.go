package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
//
// Records are ranked by their IDs, which begin with their start time, and
// only those that may be removed are read (and the newest, for what a
// killed run left in it); a record counts among the newest keep whether or
// not it can be read. Where an ID does not begin with a time, every record
// is read and ranked by its start.
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

	// Rank by ID when every ID begins with its start time: only the records
	// that may go are read, not every one (each names a thousand items'
	// statuses). Else (IDs of another kind) every record is read and
	// ranked by its start time.
	type ranked struct {
		id   string
		rank int
	}
	var toRead []ranked
	var execs []Execution
	if ids, ok := stampedIDs(entries); ok {
		// Oldest may hold a record started before now-maxAge; the
		// minute is slack for a record started a little before its ID's
		// second ended.
		oldest := now.Add(-maxAge + time.Minute)
		for i, id := range ids {
			// The newest is read too: it is the one a killed run would
			// have left lost, with temporary files in it.
			if i == 0 || i >= keep || maxAge > 0 && idTime(id).Before(oldest) {
				toRead = append(toRead, ranked{id, i})
			}
		}
		for _, r := range toRead {
			e, err := readPruneHead(dir, r.id)
			if err != nil {
				// Removed meanwhile, or unreadable: a corrupt record is
				// kept for its owner to look at.
				continue
			}
			execs = append(execs, *e)
		}
	} else {
		execs, _, err = ListExecutions(dir)
		if err != nil {
			return nil, err
		}
		for i, e := range execs {
			toRead = append(toRead, ranked{e.ID, i})
		}
	}
	rank := make(map[string]int, len(toRead))
	for _, r := range toRead {
		rank[r.id] = r.rank
	}
	for _, e := range execs {
		tooMany := rank[e.ID] >= keep
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
	// The removals are not fsynced: a record a power cut brings back is
	// pruned again, a temporary one swept, and the record made next
	// fsyncs this directory anyway.
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

// pruneHead is what pruning needs of execution.json: not the items'
// statuses, which a thousand-item record is made of.
type pruneHead struct {
	ID        string    `json:"id"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	State     ExecState `json:"state"`
	Started   time.Time `json:"started"`
	ProcStart string    `json:"proc_start,omitempty"`
	Version   int       `json:"version"`
}

// readPruneHead reads what pruning needs of execution id: its ID, state
// (lost when its process is gone) and start. A record this cannot tell
// well-formed is read by ReadExecution, which says what is wrong with it
// and moves a corrupt one aside.
func readPruneHead(dir, id string) (*Execution, error) {
	data, err := os.ReadFile(filepath.Join(recordDir(dir, id), executionFile))
	var h pruneHead
	if err != nil || json.Unmarshal(data, &h) != nil || h.Version < 1 || h.Version > ExecutionFormatVersion ||
		h.ID != id || !h.State.Valid() {
		return ReadExecution(dir, id)
	}
	e := &Execution{ID: h.ID, PID: h.PID, Host: h.Host, State: h.State, Started: h.Started, ProcStart: h.ProcStart, Version: h.Version}
	if e.State.Live() && processGone(e) {
		e.State = ExecLost
	}
	return e, nil
}

// stampedIDs returns the record IDs among entries, newest first, if every
// one begins with its UTC start time (as NewExecutionID makes them): then
// their order is that of their start, to the second.
func stampedIDs(entries []os.DirEntry) ([]string, bool) {
	var ids []string
	for _, e := range entries {
		if !e.IsDir() || !ValidExecutionID(e.Name()) {
			continue
		}
		if idTime(e.Name()).IsZero() {
			return nil, false
		}
		ids = append(ids, e.Name())
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, true
}

// idTime is the start time an execution ID begins with (to the second),
// or zero if it begins with none.
func idTime(id string) time.Time {
	if len(id) < len(idTimeLayout) {
		return time.Time{}
	}
	t, err := time.Parse(idTimeLayout, id[:len(idTimeLayout)])
	if err != nil {
		return time.Time{}
	}
	return t
}

const idTimeLayout = "20060102-150405"

// nothingToPrune tells from the directory listing alone — without reading
// a record — that no record is beyond keep or older than maxAge: there are
// at most keep of them, and the oldest ID's time (IDs begin with their
// UTC start, to the second) is within maxAge. Every run that records asks,
// so the usual answer must cost one directory read.
func nothingToPrune(entries []os.DirEntry, keep int, maxAge time.Duration, now time.Time) bool {
	n := 0
	oldest := ""
	stamped := true // every ID begins with its start time
	for _, e := range entries {
		if !e.IsDir() || !ValidExecutionID(e.Name()) {
			continue
		}
		n++
		if oldest == "" || e.Name() < oldest {
			oldest = e.Name()
		}
		if stamped && maxAge > 0 && idTime(e.Name()).IsZero() {
			stamped = false
		}
	}
	if n > keep {
		return false
	}
	if maxAge <= 0 || oldest == "" {
		return true
	}
	if !stamped {
		return false // an ID of another kind, wherever it sorts: read the records
	}
	started := idTime(oldest)
	// A second of slack for the ID's truncation.
	return now.Sub(started) <= maxAge-time.Second
}
