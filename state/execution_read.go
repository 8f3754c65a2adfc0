package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ReadExecution reads the record of execution id under the state directory
// dir. A live state whose process is gone, or whose pid now belongs to a
// process started at another time, on this host, reads as ExecLost (a
// record of another host is taken as it says). While the execution is
// live, LastSeq is taken from events.jsonl itself.
//
// Errors: *UnknownExecutionError when there is no such record;
// *VersionError for a record of a newer peace (left as it is);
// *CorruptExecutionError for an execution.json that cannot be read, which
// is moved aside to execution.json.corrupt-<time>.
func ReadExecution(dir, id string) (*Execution, error) {
	e, err := readExecution(dir, id)
	if err != nil {
		return nil, err
	}
	if e.State.Live() {
		if seq, ok := lastEventSeq(filepath.Join(recordDir(dir, id), eventsFile)); ok && seq > e.LastSeq {
			e.LastSeq = seq
		}
	}
	return e, nil
}

// readExecution is ReadExecution without the look at events.jsonl.
func readExecution(dir, id string) (*Execution, error) {
	if !ValidExecutionID(id) {
		return nil, &UnknownExecutionError{ID: id, Dir: dir}
	}
	rd := recordDir(dir, id)
	path := filepath.Join(rd, executionFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(rd); errors.Is(serr, fs.ErrNotExist) {
			return nil, &UnknownExecutionError{ID: id, Dir: dir}
		}
		// The record is there but its execution.json was set aside.
		cerr := &CorruptExecutionError{Path: path, Reason: "execution.json is missing"}
		if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) > 0 {
			cerr.MovedTo = aside[len(aside)-1]
		}
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read execution record: %w", err)
	}
	e, err := decodeExecution(path, id, data)
	var cerr *CorruptExecutionError
	if errors.As(err, &cerr) {
		moved, merr := moveAside(path)
		if merr != nil {
			return nil, fmt.Errorf("%w; it could not be moved aside: %v", err, merr)
		}
		cerr.MovedTo = moved
	}
	if err != nil {
		return nil, err
	}
	if e.State.Live() && lookedAtLive != nil {
		lookedAtLive()
	}
	if e.State.Live() && processGone(e) {
		e.State = ExecLost
		// Its process may have written its end and exited between the
		// read above and the look at it: what a gone process wrote is
		// final, so one more read settles it.
		if data, err := os.ReadFile(path); err == nil {
			if again, err := decodeExecution(path, id, data); err == nil && !again.State.Live() {
				e = again
			}
		}
	}
	e.Actions = e.State.Actions()
	return e, nil
}

// lookedAtLive, when set (by tests), runs after the execution.json of a
// live execution is read and before its process is looked at.
var lookedAtLive func()

// decodeExecution decodes execution.json of execution id, read from path.
func decodeExecution(path, id string, data []byte) (*Execution, error) {
	var e Execution
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, &CorruptExecutionError{Path: path, Reason: err.Error()}
	}
	switch {
	case e.Version == 0:
		return nil, &CorruptExecutionError{Path: path, Reason: "it has no format version"}
	case e.Version < 0:
		return nil, &CorruptExecutionError{Path: path, Reason: fmt.Sprintf("format version %d", e.Version)}
	case e.Version > ExecutionFormatVersion:
		return nil, &VersionError{Path: path, Found: e.Version, Supported: ExecutionFormatVersion}
	case e.ID != id:
		return nil, &CorruptExecutionError{Path: path, Reason: fmt.Sprintf("it names execution %q", e.ID)}
	case !e.State.Valid():
		return nil, &CorruptExecutionError{Path: path, Reason: fmt.Sprintf("unknown state %q", e.State)}
	}
	// Version 1 is the only one so far: nothing to migrate.
	if e.Params == nil {
		e.Params = map[string]string{}
	}
	if e.Items == nil {
		e.Items = map[string]string{}
	}
	return &e, nil
}

// processGone reports whether the process recorded as running e certainly
// no longer does: it ran on this host, and its pid is gone (or a zombie),
// or now belongs to a process started at another time.
func processGone(e *Execution) bool {
	return processDead(e.Host, e.PID, e.ProcStart)
}

// lastEventSeq returns the seq of the last complete line of the events
// file at path that has one, looking only at its last 64 KiB.
func lastEventSeq(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	const window = 64 << 10
	off := max(fi.Size()-window, 0)
	buf := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(buf, off)
	buf = buf[:n]
	// Drop a line still being written, then look from the last line back.
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		return 0, false
	}
	buf = buf[:end]
	for len(buf) > 0 {
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 && off > 0 {
			return 0, false // the line may begin before the window
		}
		if seq, ok := parseSeq(buf[i+1:]); ok {
			return seq, true
		}
		if i < 0 {
			break
		}
		buf = buf[:i]
	}
	return 0, false
}

// ListExecutions returns the executions recorded under the state directory
// dir, newest first (by start time, then ID), each as ReadExecution reads
// it. A record that cannot be read (corrupt: moved aside; of a newer
// peace) is left out, and notices say which and why.
func ListExecutions(dir string) (execs []Execution, notices []string, err error) {
	entries, err := os.ReadDir(filepath.Join(dir, executionsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list executions: %w", err)
	}
	for _, ent := range entries {
		name := ent.Name()
		if !ent.IsDir() || !ValidExecutionID(name) {
			continue
		}
		e, err := ReadExecution(dir, name)
		var unknown *UnknownExecutionError
		switch {
		case errors.As(err, &unknown):
			continue // removed meanwhile
		case err != nil:
			notices = append(notices, err.Error())
			continue
		}
		execs = append(execs, *e)
	}
	sortNewestFirst(execs)
	return execs, notices, nil
}

// sortNewestFirst orders executions by start time, then ID, newest first.
func sortNewestFirst(execs []Execution) {
	slices.SortStableFunc(execs, func(a, b Execution) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}

// ListWorkspaceExecutions lists the executions of flow under every profile
// of workspace, newest first, as ListExecutions does for one.
func ListWorkspaceExecutions(workspace, flow string) (execs []Execution, notices []string, err error) {
	entries, err := os.ReadDir(workspace)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list executions: %w", err)
	}
	for _, ent := range entries {
		if !ent.IsDir() || strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		ex, ns, err := ListExecutions(Dir(workspace, ent.Name(), flow))
		if err != nil {
			return nil, nil, err
		}
		execs = append(execs, ex...)
		notices = append(notices, ns...)
	}
	sortNewestFirst(execs)
	return execs, notices, nil
}

// LatestExecution returns the newest execution under the state directory
// dir, and the notices of ListExecutions; ErrNoExecutions when there is
// none.
func LatestExecution(dir string) (*Execution, []string, error) {
	execs, notices, err := ListExecutions(dir)
	if err != nil {
		return nil, notices, err
	}
	if len(execs) == 0 {
		return nil, notices, ErrNoExecutions
	}
	return &execs[0], notices, nil
}

// ReadOutcome returns outcome.json of execution id: the JSON result of its
// command. ErrNoOutcome while it has none (live, or lost).
func ReadOutcome(dir, id string) ([]byte, error) {
	if err := recordExists(dir, id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(recordDir(dir, id), outcomeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoOutcome
	}
	if err != nil {
		return nil, fmt.Errorf("read outcome of execution %s: %w", id, err)
	}
	return data, nil
}

// LogItems returns the items that have a log in execution id, sorted.
func LogItems(dir, id string) ([]string, error) {
	if err := recordExists(dir, id); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(recordDir(dir, id), logsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logs of execution %s: %w", id, err)
	}
	var items []string
	for _, ent := range entries {
		if item, ok := strings.CutSuffix(ent.Name(), ".log"); ok && ent.Type().IsRegular() && validLogName(item) {
			items = append(items, item)
		}
	}
	return items, nil
}

// OpenLog opens the log of item in execution id for reading; an error
// wrapping fs.ErrNotExist when the item has none (it printed nothing, or
// never ran). The log may still grow while the execution is live.
func OpenLog(dir, id, item string) (*os.File, error) {
	if err := recordExists(dir, id); err != nil {
		return nil, err
	}
	if !validLogName(item) {
		return nil, fmt.Errorf("log of execution %s: %q cannot name a log: %w", id, item, fs.ErrNotExist)
	}
	return os.Open(filepath.Join(recordDir(dir, id), logsDir, item+".log"))
}

// LogPath is the path of the log of item in execution id under the state
// directory dir, whether or not it exists.
func LogPath(dir, id, item string) string {
	return filepath.Join(recordDir(dir, id), logsDir, item+".log")
}

// ReadLog returns the log of item in execution id, as OpenLog.
func ReadLog(dir, id, item string) ([]byte, error) {
	f, err := OpenLog(dir, id, item)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// recordExists returns *UnknownExecutionError unless execution id has a
// record directory under dir.
func recordExists(dir, id string) error {
	if !ValidExecutionID(id) {
		return &UnknownExecutionError{ID: id, Dir: dir}
	}
	fi, err := os.Stat(recordDir(dir, id))
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return &UnknownExecutionError{ID: id, Dir: dir}
	}
	return err
}

// EventLine is one line of events.jsonl, without its newline, and its seq
// (0 for a line without one, such as the json view's version record).
type EventLine struct {
	Seq  int64
	Line []byte
}

// How often FollowEvents looks again at a file that has not grown: at
// first soon, then less often while nothing happens.
const (
	followMinPoll = 5 * time.Millisecond
	followMaxPoll = 100 * time.Millisecond
)

// followAtEnd, when set (by tests), runs each time FollowEvents has read
// to the end of the file and is about to look at the record's state.
var followAtEnd func()

// FollowEvents calls fn with each line of execution id's events.jsonl whose
// seq is at least from, in file order, following the file as it grows
// until the execution has ended (finished, or read as lost) and every line
// written before has been passed on. Lines without a seq count as seq 0:
// from 0 passes them, from 1 starts at the first event. Only complete
// lines are passed: a line still being written is waited for, and one cut
// short by a process that died is never passed. No line is passed twice.
//
// It returns the execution as read at its end, or the first error of fn,
// of ctx, or of reading (*UnknownExecutionError for an unknown ID, ...).
func FollowEvents(ctx context.Context, dir, id string, from int64, fn func(EventLine) error) (*Execution, error) {
	if _, err := readExecution(dir, id); err != nil {
		return nil, err
	}
	path := filepath.Join(recordDir(dir, id), eventsFile)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var (
		final   *Execution // set once the record has ended
		pending []byte     // bytes read after the last newline
		chunk   = make([]byte, 64<<10)
		poll    = followMinPoll
		timer   *time.Timer
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := 0
		if f == nil {
			var err error
			f, err = os.Open(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("follow execution %s: %w", id, err)
			}
		}
		if f != nil {
			var err error
			n, err = f.Read(chunk)
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("follow execution %s: %w", id, err)
			}
		}
		if n > 0 {
			pending = append(pending, chunk[:n]...)
			rest, err := passLines(pending, from, fn)
			if err != nil {
				return nil, err
			}
			pending = append(pending[:0], rest...)
			poll = followMinPoll
			continue
		}
		// At the end of what is written so far.
		if final != nil {
			return final, nil
		}
		if followAtEnd != nil {
			followAtEnd()
		}
		e, err := readExecution(dir, id)
		if err != nil {
			return nil, err
		}
		if e.State.Ended() {
			// Every event was appended before the record ended: read
			// to the end once more, then stop.
			final = e
			continue
		}
		if timer == nil {
			timer = time.NewTimer(poll)
			defer timer.Stop()
		} else {
			timer.Reset(poll)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		poll = min(poll*2, followMaxPoll)
	}
}

// passLines passes each complete line of buf with seq ≥ from to fn and
// returns what follows the last newline.
func passLines(buf []byte, from int64, fn func(EventLine) error) ([]byte, error) {
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return buf, nil
		}
		line := buf[:i]
		buf = buf[i+1:]
		if len(line) == 0 {
			continue
		}
		seq, _ := parseSeq(line)
		if seq < from {
			continue
		}
		if err := fn(EventLine{Seq: seq, Line: bytes.Clone(line)}); err != nil {
			return nil, err
		}
	}
}
