package state

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peace-go/peace/internal/durable"
)

// ExecutionFormatVersion is the version of execution.json. Older versions
// are migrated on read; newer ones are refused with a *VersionError.
const ExecutionFormatVersion = 1

// The names inside the state directory and inside one record.
const (
	executionsDir = "executions"
	executionFile = "execution.json"
	eventsFile    = "events.jsonl"
	outcomeFile   = "outcome.json"
	logsDir       = "logs"
	controlFile   = "control"
)

// ExecState is where an execution is in its life.
type ExecState string

// The states of an execution. An execution moves forward only: queued →
// running → stopping → cancelling → complete | interrupted | failed, any of
// them skippable. ExecLost is never written: it is how a reader sees a live
// state whose process is gone.
const (
	ExecQueued      ExecState = "queued"
	ExecRunning     ExecState = "running"
	ExecStopping    ExecState = "stopping"
	ExecCancelling  ExecState = "cancelling"
	ExecComplete    ExecState = "complete"
	ExecInterrupted ExecState = "interrupted"
	ExecFailed      ExecState = "failed"
	ExecLost        ExecState = "lost"
)

// rank orders the states an execution moves through; terminal states share
// the last rank and -1 is no known state.
func (s ExecState) rank() int {
	switch s {
	case ExecQueued:
		return 0
	case ExecRunning:
		return 1
	case ExecStopping:
		return 2
	case ExecCancelling:
		return 3
	case ExecComplete, ExecInterrupted, ExecFailed, ExecLost:
		return 4
	}
	return -1
}

// Valid reports whether s is one of the states above.
func (s ExecState) Valid() bool { return s.rank() >= 0 }

// Live reports whether s is a state of a process still at work on the
// execution: queued, running, stopping or cancelling.
func (s ExecState) Live() bool { r := s.rank(); return r >= 0 && r < 4 }

// Ended reports whether the execution is over: complete, interrupted,
// failed or lost. Nothing more will be appended to an ended record.
func (s ExecState) Ended() bool { return s.rank() == 4 }

// CanMoveTo reports whether an execution in state s may be recorded as
// moving to next: forward only, never out of an ended state, never to
// ExecLost (a reading, not a state anyone writes).
func (s ExecState) CanMoveTo(next ExecState) bool {
	if !s.Live() || next == ExecLost {
		return false
	}
	return next.rank() > s.rank()
}

// Actions says which interrupts make sense for an execution in state s:
// stop while it is queued or running; cancel while it runs or stops (a
// cancel also stops); kill only after a cancel.
func (s ExecState) Actions() Actions {
	return Actions{
		Stop:   s == ExecQueued || s == ExecRunning,
		Cancel: s == ExecRunning || s == ExecStopping,
		Kill:   s == ExecCancelling,
	}
}

// EndedState is the state in which an execution with this outcome
// (complete, interrupted, failed: a result's outcome word) is recorded.
func EndedState(outcome string) ExecState {
	switch outcome {
	case "complete":
		return ExecComplete
	case "interrupted":
		return ExecInterrupted
	}
	return ExecFailed
}

// Actions are the interrupts that make sense now; see ExecState.Actions.
type Actions struct {
	Stop   bool `json:"stop"`
	Cancel bool `json:"cancel"`
	Kill   bool `json:"kill"`
}

// Execution is an execution as JSON: the content of execution.json and
// the shape every listing, the CLI and the API show.
type Execution struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"`
	Flow      string    `json:"flow"`
	Profile   string    `json:"profile"`
	Workspace string    `json:"workspace"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	State     ExecState `json:"state"`
	Started   time.Time `json:"started"`
	// Ended and ExitCode are null until the execution has finished; a
	// lost execution never finished, so they stay null.
	Ended    *time.Time        `json:"ended"`
	ExitCode *int              `json:"exit_code"`
	Params   map[string]string `json:"params"`
	// Items maps item ID → its status (queued, running, applied, ...). It
	// is as fresh as the last write of execution.json; events.jsonl is
	// the live account.
	Items map[string]string `json:"items"`
	// Actions is derived from State whenever a record is written or read.
	Actions Actions `json:"actions"`
	// LastSeq is the seq of the last event in events.jsonl; a reader
	// takes it from the file itself while the execution is live.
	LastSeq int64 `json:"last_seq"`
	// ProcStart identifies PID beyond its number (boot ID and start time
	// where the system tells them), so that a reused pid is not taken for
	// the process running the execution.
	ProcStart string `json:"proc_start,omitempty"`
	Version   int    `json:"version"`
}

// clone returns a copy of e that shares no map or pointer with it.
func (e Execution) clone() Execution {
	e.Params = maps.Clone(e.Params)
	e.Items = maps.Clone(e.Items)
	if e.Ended != nil {
		t := *e.Ended
		e.Ended = &t
	}
	if e.ExitCode != nil {
		c := *e.ExitCode
		e.ExitCode = &c
	}
	return e
}

// NewExecutionID returns a new execution ID: the UTC time to the second and
// 24 random bits, as in 20261203-141300-3f9a2c. IDs sort by the time they
// were made (to the second) and hold only [a-z0-9-].
func NewExecutionID() string {
	return newExecutionIDAt(time.Now())
}

// issued remembers the IDs this process gave out in the current second:
// 24 random bits repeat within a thousand IDs about once in thirty, and
// two executions queued in one process must never share an ID.
var issued struct {
	sync.Mutex
	second string
	ids    map[string]bool
}

func newExecutionIDAt(t time.Time) string {
	second := t.UTC().Format("20060102-150405-")
	issued.Lock()
	defer issued.Unlock()
	if issued.second != second {
		issued.second, issued.ids = second, map[string]bool{}
	}
	for {
		var b [3]byte
		_, _ = rand.Read(b[:])
		id := second + hex.EncodeToString(b[:])
		if !issued.ids[id] {
			issued.ids[id] = true
			return id
		}
	}
}

// ValidExecutionID reports whether id can name an execution record: 1 to
// 64 characters of [a-z0-9-], starting with a letter or digit.
func ValidExecutionID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validLogName reports whether item can name a log file: not empty, no
// path separator, not hidden, no NUL.
func validLogName(item string) bool {
	return item != "" && item[0] != '.' && !strings.ContainsAny(item, "/\\\x00") && len(item) <= 200
}

// ExecutionsDir returns the directory holding the execution records of the
// state directory dir (see Dir).
func ExecutionsDir(dir string) string { return filepath.Join(dir, executionsDir) }

// recordDir is the directory of execution id under the state directory dir.
func recordDir(dir, id string) string { return filepath.Join(dir, executionsDir, id) }

// UnknownExecutionError is an execution ID with no record under a state
// directory (or no valid ID at all).
type UnknownExecutionError struct {
	ID  string
	Dir string // the state directory looked in
}

func (e *UnknownExecutionError) Error() string {
	if !ValidExecutionID(e.ID) {
		return fmt.Sprintf("%q is not an execution ID", e.ID)
	}
	return fmt.Sprintf("no execution %s in %s", e.ID, e.Dir)
}

// TransitionError is a move between execution states that is not allowed.
type TransitionError struct {
	ID       string
	From, To ExecState
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("execution %s cannot move from %s to %s", e.ID, e.From, e.To)
}

// CorruptExecutionError is an execution.json that cannot be read. It was
// moved aside to MovedTo (never deleted); MovedTo is empty if the move
// failed, and the file is then where it was.
type CorruptExecutionError struct {
	Path    string
	MovedTo string
	Reason  string
}

func (e *CorruptExecutionError) Error() string {
	if e.MovedTo == "" {
		return fmt.Sprintf("execution record %s is corrupt (%s); it was left as it is", e.Path, e.Reason)
	}
	return fmt.Sprintf("execution record %s is corrupt (%s); it was kept as %s", e.Path, e.Reason, e.MovedTo)
}

var (
	// ErrExecutionFinished is returned by an ExecutionRecord's writers
	// after Finish or Close.
	ErrExecutionFinished = errors.New("execution record is finished")
	// ErrNoOutcome is returned by ReadOutcome while the execution has not
	// finished (or ended without an outcome, as a lost one does).
	ErrNoOutcome = errors.New("execution has no outcome yet")
	// ErrNoExecutions is returned by LatestExecution when there is none.
	ErrNoExecutions = errors.New("no executions recorded")
)

// ExecutionRecord writes the record of one execution: what remains of it on
// disk, by ID, under the flow's state directory:
//
//	executions/<ID>/execution.json   who runs it and its state; replaced atomically
//	executions/<ID>/events.jsonl     the json view's lines, appended as they happen
//	executions/<ID>/logs/<ITEM>.log  what the item's commands printed
//	executions/<ID>/outcome.json     the result, written once at the end
//	executions/<ID>/control          a FIFO the running process listens on
//
// One process writes a record, the one that runs the execution, through an
// ExecutionRecord; any process reads it (ReadExecution, ListExecutions,
// FollowEvents, ...), and sees an execution whose process is gone without
// finishing as ExecLost. The methods of an ExecutionRecord are safe for
// concurrent use. Call Finish when the execution ends (after the last
// event), then stop listening for control (see ListenControl), then Close.
type ExecutionRecord struct {
	dir string // the record directory

	mu       sync.Mutex
	e        Execution // its Items are in items
	items    *itemStatuses
	events   *os.File
	buf      []byte // AppendEvent's line with its newline
	dirty    bool   // e differs from execution.json
	finished bool
	logs     map[*recordLog]struct{}
	partial  []byte // EventWriter's bytes after its last newline
}

// CreateExecution makes the record of e under the state directory dir and
// returns its writer. It fills what e leaves empty: ID (NewExecutionID),
// PID (this process), Host, ProcStart (PID's start identity), State
// (queued; it may also be running), Started (now), and sets Version and
// Actions. The record directory, execution.json and an empty events.jsonl
// exist durably (fsynced, with every directory created on the way) before
// it returns: only then may the ID be shown to anyone.
//
// The record appears at once, whole: it is built in a temporary directory
// and renamed into place. An ID that is taken is an error when e named it,
// and a new ID is drawn when CreateExecution chose it.
func CreateExecution(dir string, e Execution) (*ExecutionRecord, error) {
	return CreateExecutionOf(dir, e, nil)
}

// CreateExecutionOf is CreateExecution with each item of queued in
// e.Items, queued, unless e.Items gives it a status: the items of a big
// flow are named without a map of them.
func CreateExecutionOf(dir string, e Execution, queued []string) (*ExecutionRecord, error) {
	chosen := e.ID == ""
	if !chosen && !ValidExecutionID(e.ID) {
		return nil, fmt.Errorf("create execution record: %q is not an execution ID", e.ID)
	}
	if e.State == "" {
		e.State = ExecQueued
	}
	if e.State != ExecQueued && e.State != ExecRunning {
		return nil, fmt.Errorf("create execution record: an execution starts queued or running, not %s", e.State)
	}
	if e.PID == 0 {
		e.PID = os.Getpid()
	}
	if e.Host == "" {
		e.Host = hostname()
	}
	if e.ProcStart == "" {
		e.ProcStart = procStart(e.PID)
	}
	if e.Started.IsZero() {
		e.Started = time.Now()
	}
	e.Started = e.Started.UTC()
	e.Ended, e.ExitCode = nil, nil
	if e.Params == nil {
		e.Params = map[string]string{}
	}
	e.Version = ExecutionFormatVersion
	e.Actions = e.State.Actions()
	items := newItemStatuses(e.Items, queued)
	e.Items = nil
	e = e.clone()

	parent := filepath.Join(dir, executionsDir)
	if err := mkdirDurable(parent); err != nil {
		return nil, fmt.Errorf("create execution record: %w", err)
	}
	for attempt := 0; ; attempt++ {
		if chosen {
			e.ID = NewExecutionID()
		}
		err := createRecord(parent, e, items)
		if err == nil {
			break
		}
		if chosen && errors.Is(err, errIDTaken) && attempt < 10 {
			continue
		}
		return nil, fmt.Errorf("create execution record %s: %w", e.ID, err)
	}
	rd := filepath.Join(parent, e.ID)
	f, err := os.OpenFile(filepath.Join(rd, eventsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open events of execution %s: %w", e.ID, err)
	}
	return &ExecutionRecord{dir: rd, e: e, items: items, events: f, logs: map[*recordLog]struct{}{}}, nil
}

var errIDTaken = errors.New("execution ID is taken")

// createRecord builds the record of e in a temporary directory of parent,
// then renames it to parent/<ID>. rename(2) does not replace a directory
// that is not empty, so a record is never overwritten.
func createRecord(parent string, e Execution, items *itemStatuses) (err error) {
	final := filepath.Join(parent, e.ID)
	if _, err := os.Lstat(final); err == nil {
		return errIDTaken
	}
	tmp := durable.TempName(final)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	f, err := os.OpenFile(filepath.Join(tmp, executionFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := writeExecution(f, e, items); err != nil {
		f.Close()
		return err
	}
	// Empty, events.jsonl needs no fsync of its own: the directory's
	// records its name, and nothing is lost if a power cut loses it.
	if err := createEmpty(filepath.Join(tmp, eventsFile)); err != nil {
		f.Close()
		return err
	}
	// execution.json's content and the temporary directory's entries are
	// fsynced together (each may be durable first: nothing names the
	// directory yet), and both before the rename that shows the record.
	if err := syncBoth(f.Sync, func() error { return durable.SyncDir(tmp) }); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, os.ErrExist) || errors.Is(err, errNotEmpty) {
			return errIDTaken
		}
		return err
	}
	return durable.SyncDir(parent)
}

// syncBoth runs two fsyncs at once (a file system commits fsyncs that
// wait together in one go) and returns the first error.
func syncBoth(a, b func() error) error {
	errB := make(chan error, 1)
	go func() { errB <- b() }()
	err := a()
	if err2 := <-errB; err == nil {
		err = err2
	}
	return err
}

// fillTemp makes a temporary file beside path, has fill write it, and
// gives it mode 0644; on a failure the file is gone.
func fillTemp(path string, fill func(*os.File) error) (*os.File, error) {
	f, err := durable.CreateTemp(path)
	if err != nil {
		return nil, err
	}
	err = fill(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// closeTemp closes a temporary file from fillTemp and, if err is not nil,
// removes it; it returns err, or the error of the close.
func closeTemp(f *os.File, err error) error {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// createEmpty creates path, empty.
func createEmpty(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// mkdirDurable creates path and any missing parents, fsyncing the parent of
// every directory it creates, so the new directories survive a power cut.
func mkdirDurable(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", path)
		}
		return nil
	}
	parent := filepath.Dir(path)
	if parent != path {
		if err := mkdirDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // made meanwhile by another process, which syncs it
		}
		return err
	}
	return durable.SyncDir(parent)
}

// encodeExecution is execution.json's content for e.
//
// It is json.MarshalIndent's output, byte for byte (a test holds the two
// together), written without reflection: a record is written three times
// per execution, and its items map names every item of the flow.
func encodeExecution(e Execution) ([]byte, error) {
	b := make([]byte, 0, 512+len(e.Items)*32)
	return appendExecution(b, e, mapStatuses(e.Items), nil)
}

// writeExecution writes execution.json's content for e, with the item
// statuses items, to w in pieces: the items of a big flow are megabytes,
// never all in memory at once.
func writeExecution(w io.Writer, e Execution, items *itemStatuses) error {
	const piece = 32 << 10
	b, err := appendExecution(make([]byte, 0, piece+1024), e, items, func(b []byte) ([]byte, error) {
		if len(b) < piece {
			return b, nil
		}
		_, err := w.Write(b)
		return b[:0], err
	})
	if err == nil {
		_, err = w.Write(b)
	}
	return err
}

// appendExecution appends e as encodeExecution describes, its items map
// being items (e.Items is not read); flush, unless nil, is called after
// each item and may hand back b emptied, having written it out.
func appendExecution(b []byte, e Execution, items *itemStatuses, flush func([]byte) ([]byte, error)) ([]byte, error) {
	started, err := e.Started.MarshalJSON()
	if err != nil {
		return nil, err
	}
	field := func(name string) {
		b = append(b, "\n  \""...)
		b = append(b, name...)
		b = append(b, "\": "...)
	}
	str := func(name, v string) {
		field(name)
		b = appendExecString(b, v)
		b = append(b, ',')
	}
	b = append(b, '{')
	str("id", e.ID)
	str("command", e.Command)
	str("flow", e.Flow)
	str("profile", e.Profile)
	str("workspace", e.Workspace)
	field("pid")
	b = strconv.AppendInt(b, int64(e.PID), 10)
	b = append(b, ',')
	str("host", e.Host)
	str("state", string(e.State))
	field("started")
	b = append(b, started...)
	b = append(b, ',')
	field("ended")
	if e.Ended != nil {
		ended, err := e.Ended.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, ended...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	field("exit_code")
	if e.ExitCode != nil {
		b = strconv.AppendInt(b, int64(*e.ExitCode), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	field("params")
	b = appendExecMap(b, mapStatuses(e.Params))
	b = append(b, ',')
	field("items")
	if flush == nil {
		b = appendExecMap(b, items)
	} else {
		b, err = appendExecMapFlushed(b, items, flush)
		if err != nil {
			return nil, err
		}
	}
	b = append(b, ',')
	field("actions")
	b = append(b, "{\n    \"stop\": "...)
	b = strconv.AppendBool(b, e.Actions.Stop)
	b = append(b, ",\n    \"cancel\": "...)
	b = strconv.AppendBool(b, e.Actions.Cancel)
	b = append(b, ",\n    \"kill\": "...)
	b = strconv.AppendBool(b, e.Actions.Kill)
	b = append(b, "\n  },"...)
	field("last_seq")
	b = strconv.AppendInt(b, e.LastSeq, 10)
	b = append(b, ',')
	if e.ProcStart != "" {
		str("proc_start", e.ProcStart)
	}
	field("version")
	b = strconv.AppendInt(b, int64(e.Version), 10)
	return append(b, "\n}\n"...), nil
}

// appendExecMap appends m as MarshalIndent does at the second level: keys
// sorted, one per line; nil is null.
func appendExecMap(b []byte, m *itemStatuses) []byte {
	b, _ = appendExecMapFlushed(b, m, nil)
	return b
}

// appendExecMapFlushed is appendExecMap calling flush, unless nil, after
// each entry.
func appendExecMapFlushed(b []byte, m *itemStatuses, flush func([]byte) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	if m.len() == 0 {
		return append(b, "{}"...), nil
	}
	b = append(b, '{')
	first := true
	var err error
	for k, v := range m.all {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, "\n    "...)
		b = appendExecString(b, k)
		b = append(b, ": "...)
		b = appendExecString(b, v)
		if flush != nil {
			if b, err = flush(b); err != nil {
				return b, err
			}
		}
	}
	return append(b, "\n  }"...), nil
}

// itemStatuses is a map of strings, here of item IDs to statuses, kept
// for a record that names every item of a big flow: the IDs it started
// with sorted (the order execution.json lists them in), each with a small
// code for its status; IDs added later, or a status beyond the codes, in
// a map.
type itemStatuses struct {
	ids   []string
	code  []uint8
	names []string // code -> status
	more  map[string]string
}

// mapStatuses is m as itemStatuses; nil for nil.
func mapStatuses(m map[string]string) *itemStatuses {
	if m == nil {
		return nil
	}
	return newItemStatuses(m, nil)
}

// newItemStatuses is m (nil: empty) as itemStatuses, with each ID of
// queued that m does not have added as "queued"; it keeps no reference
// to m.
func newItemStatuses(m map[string]string, queued []string) *itemStatuses {
	s := &itemStatuses{ids: make([]string, 0, len(m)+len(queued))}
	for k := range m {
		s.ids = append(s.ids, k)
	}
	for _, k := range queued {
		if _, ok := m[k]; !ok {
			s.ids = append(s.ids, k)
		}
	}
	slices.Sort(s.ids)
	s.ids = slices.Compact(s.ids)
	s.code = make([]uint8, len(s.ids))
	for i, k := range s.ids {
		status, ok := m[k]
		if !ok {
			status = "queued"
		}
		c, ok := s.codeOf(status)
		if !ok {
			// Past the codes: the ID keeps its place, with a status
			// that is looked up in more.
			c = 255
			if s.more == nil {
				s.more = map[string]string{}
			}
			s.more[k] = status
		}
		s.code[i] = c
	}
	return s
}

// codeOf is the code of status, given one if it is new; false when the
// codes are used up (255 marks a status kept in more).
func (s *itemStatuses) codeOf(status string) (uint8, bool) {
	if i := slices.Index(s.names, status); i >= 0 {
		return uint8(i), true
	}
	if len(s.names) == 255 {
		return 0, false
	}
	s.names = append(s.names, status)
	return uint8(len(s.names) - 1), true
}

func (s *itemStatuses) get(id string) (string, bool) {
	if i, ok := slices.BinarySearch(s.ids, id); ok {
		if s.code[i] == 255 {
			return s.more[id], true
		}
		return s.names[s.code[i]], true
	}
	v, ok := s.more[id]
	return v, ok
}

// set sets the status of id and reports whether that changed it. As in a
// map, an ID without a status reads as "".
func (s *itemStatuses) set(id, status string) bool {
	if old, _ := s.get(id); old == status {
		return false
	}
	if i, ok := slices.BinarySearch(s.ids, id); ok {
		if c, ok := s.codeOf(status); ok {
			s.code[i] = c
			delete(s.more, id)
			return true
		}
		s.code[i] = 255
	}
	if s.more == nil {
		s.more = map[string]string{}
	}
	s.more[id] = status
	return true
}

// len is the number of IDs.
func (s *itemStatuses) len() int {
	n := len(s.ids)
	for k := range s.more {
		if _, ok := slices.BinarySearch(s.ids, k); !ok {
			n++
		}
	}
	return n
}

// all yields every ID and its status, IDs sorted.
func (s *itemStatuses) all(yield func(id, status string) bool) {
	var added []string // IDs only in more, sorted
	for k := range s.more {
		if _, ok := slices.BinarySearch(s.ids, k); !ok {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	i, j := 0, 0
	for i < len(s.ids) || j < len(added) {
		var id, status string
		if j == len(added) || (i < len(s.ids) && s.ids[i] < added[j]) {
			id = s.ids[i]
			if c := s.code[i]; c == 255 {
				status = s.more[id]
			} else {
				status = s.names[c]
			}
			i++
		} else {
			id, status = added[j], s.more[added[j]]
			j++
		}
		if !yield(id, status) {
			return
		}
	}
}

// toMap is s as a map.
func (s *itemStatuses) toMap() map[string]string {
	m := make(map[string]string, s.len())
	for k, v := range s.all {
		m[k] = v
	}
	return m
}

// appendExecString appends s as encoding/json writes it: at once when it
// holds only printable ASCII that needs no escape, else by encoding/json.
func appendExecString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ID returns the execution's ID.
func (r *ExecutionRecord) ID() string { return r.e.ID }

// Path returns the record directory.
func (r *ExecutionRecord) Path() string { return r.dir }

// Execution returns the execution as this writer last set it.
func (r *ExecutionRecord) Execution() Execution {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.e.clone()
	e.Items = r.items.toMap()
	return e
}

// SetState records that the execution moved to s, replacing execution.json
// atomically (with anything SetItem changed). A move that is not allowed
// (see ExecState.CanMoveTo) is a *TransitionError and writes nothing;
// setting the current state again is no move and writes nothing either.
// An ended state is set by Finish, not here.
func (r *ExecutionRecord) SetState(s ExecState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return ErrExecutionFinished
	}
	if s == r.e.State {
		return nil
	}
	if !r.e.State.CanMoveTo(s) || s.Ended() {
		return &TransitionError{ID: r.e.ID, From: r.e.State, To: s}
	}
	prev := r.e.State
	r.e.State = s
	r.e.Actions = s.Actions()
	if err := r.write(); err != nil {
		r.e.State = prev
		r.e.Actions = prev.Actions()
		return err
	}
	return nil
}

// SetItem sets the status of one item (queued, running, applied, ...) in
// memory; the next SetState, Flush or Finish writes it.
func (r *ExecutionRecord) SetItem(item, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items.set(item, status) {
		r.dirty = true
	}
}

// Flush replaces execution.json atomically if SetItem or AppendEvent
// changed the record since it was last written.
func (r *ExecutionRecord) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return ErrExecutionFinished
	}
	if !r.dirty {
		return nil
	}
	return r.write()
}

// write replaces execution.json with r.e: temp + fsync + rename. The
// directory is not fsynced: a replacement a power cut loses leaves the
// execution.json before it, whole, which reads as lost like any live state
// of a process that is gone. Finish makes the ended state durable.
func (r *ExecutionRecord) write() error {
	path := filepath.Join(r.dir, executionFile)
	f, err := fillTemp(path, func(f *os.File) error { return writeExecution(f, r.e, r.items) })
	if err == nil {
		err = closeTemp(f, f.Sync())
	}
	if err == nil {
		if err = os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("write execution record %s: %w", r.e.ID, err)
	}
	r.dirty = false
	return nil
}

// AppendEvent appends one event line (one JSON object, as the json view
// writes it: {"seq":N,"time":...,"type":...}) to events.jsonl in a single
// write, adding the newline if line lacks it. Lines are not fsynced: the
// page cache outlives the process, and the journal is what must survive a
// power cut. A line with a newline inside, or an empty one, is refused.
// The seq of the line, if it has one, becomes the record's LastSeq.
func (r *ExecutionRecord) AppendEvent(line []byte) error {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if len(line) == 0 {
		return errors.New("append event: empty line")
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		return errors.New("append event: a line holds a newline")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.appendEvent(line)
}

func (r *ExecutionRecord) appendEvent(line []byte) error {
	if r.finished {
		return ErrExecutionFinished
	}
	r.buf = append(append(r.buf[:0], line...), '\n')
	if _, err := r.events.Write(r.buf); err != nil {
		return fmt.Errorf("append event to execution %s: %w", r.e.ID, err)
	}
	if seq, ok := parseSeq(line); ok && seq > r.e.LastSeq {
		r.e.LastSeq = seq
		r.dirty = true
	}
	return nil
}

// EventWriter returns a writer that appends each complete line written to
// it as one event (see AppendEvent), keeping a partial line until its
// newline comes. It suits progress.NewJSON, which writes whole lines.
func (r *ExecutionRecord) EventWriter() io.Writer { return eventWriter{r} }

type eventWriter struct{ r *ExecutionRecord }

// maxKeptEventBuf is the largest buffer for joining event lines that a
// record keeps between writes.
const maxKeptEventBuf = 1 << 20

func (w eventWriter) Write(p []byte) (int, error) {
	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return 0, ErrExecutionFinished
	}
	// Every complete line of p goes out in one write: a writer that
	// batches events (a buffered json view) pays one syscall per batch.
	// Lines are copied only when they must be joined to a partial one or
	// have empty lines dropped from among them; otherwise p goes out as it
	// is (the last event names every item: megabytes in a large flow).
	copying := len(r.partial) > 0 || (len(p) > 0 && p[0] == '\n') || bytes.Contains(p, []byte("\n\n"))
	batch := r.buf[:0]
	off := 0 // bytes of p taken
	for {
		i := bytes.IndexByte(p[off:], '\n')
		if i < 0 {
			break
		}
		line := p[off : off+i]
		if len(r.partial) > 0 {
			line = append(r.partial, line...)
			r.partial = nil
		}
		if len(line) > 0 {
			if copying {
				batch = append(append(batch, line...), '\n')
			}
			if seq, ok := parseSeq(line); ok && seq > r.e.LastSeq {
				r.e.LastSeq = seq
				r.dirty = true
			}
		}
		off += i + 1
	}
	if !copying {
		batch = p[:off]
	} else if cap(batch) <= maxKeptEventBuf {
		r.buf = batch
	}
	if len(batch) > 0 {
		if _, err := r.events.Write(batch); err != nil {
			return 0, fmt.Errorf("append event to execution %s: %w", r.e.ID, err)
		}
	}
	if off < len(p) {
		r.partial = append(r.partial, p[off:]...)
	}
	return len(p), nil
}

// Log returns a writer that appends to logs/<item>.log, creating it. It
// may be called more than once for an item (each command of an item
// appends), and the writers may be used at once; each Write is one append.
// Close it when the item's command is done; Close of the record closes
// any left open.
func (r *ExecutionRecord) Log(item string) (io.WriteCloser, error) {
	if !validLogName(item) {
		return nil, fmt.Errorf("log of execution %s: %q cannot name a log file", r.e.ID, item)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return nil, ErrExecutionFinished
	}
	ld := filepath.Join(r.dir, logsDir)
	if err := os.Mkdir(ld, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("log of execution %s: %w", r.e.ID, err)
	}
	f, err := os.OpenFile(filepath.Join(ld, item+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log of execution %s: %w", r.e.ID, err)
	}
	l := &recordLog{f: f, r: r}
	r.logs[l] = struct{}{}
	return l, nil
}

// recordLog is one open item log.
type recordLog struct {
	f    *os.File
	r    *ExecutionRecord
	once sync.Once
	err  error
}

func (l *recordLog) Write(p []byte) (int, error) { return l.f.Write(p) }

func (l *recordLog) Close() error {
	l.once.Do(func() {
		l.err = l.f.Close()
		l.r.mu.Lock()
		delete(l.r.logs, l)
		l.r.mu.Unlock()
	})
	return l.err
}

// Finish ends the execution: it writes outcome.json (atomically, if
// outcome is not nil: the JSON result of the command), then execution.json
// with state s, ended now and exitCode. s must be complete, interrupted or
// failed. Append every event before Finish: a follower stops at the end of
// events.jsonl once it sees an ended state, and AppendEvent refuses lines
// after Finish.
func (r *ExecutionRecord) Finish(s ExecState, exitCode int, outcome []byte) error {
	if outcome == nil {
		return r.FinishWith(s, exitCode, nil)
	}
	if !json.Valid(outcome) {
		return fmt.Errorf("finish execution %s: outcome is not JSON", r.e.ID)
	}
	return r.FinishWith(s, exitCode, func(w io.Writer) error {
		_, err := w.Write(outcome)
		return err
	})
}

// FinishWith is Finish with outcome.json written by writeOutcome (one JSON
// document; nil writes none), streamed to the file rather than held whole
// in memory: a big flow's outcome is megabytes. The file is replaced as
// atomically and durably as by Finish.
func (r *ExecutionRecord) FinishWith(s ExecState, exitCode int, writeOutcome func(io.Writer) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return ErrExecutionFinished
	}
	if !r.e.State.CanMoveTo(s) || !s.Ended() {
		return &TransitionError{ID: r.e.ID, From: r.e.State, To: s}
	}
	prev := r.e
	now := time.Now().UTC()
	r.e.State = s
	r.e.Actions = s.Actions()
	r.e.Ended = &now
	r.e.ExitCode = &exitCode
	if err := r.finish(writeOutcome); err != nil {
		r.e = prev
		return err
	}
	r.finished = true
	return r.events.Close()
}

// finish writes outcome.json (unless writeOutcome is nil) and
// execution.json with the ended r.e: both temporary files fsynced at once,
// renamed in that order, and the directory fsynced once for both. A power
// cut may keep the second rename without the first: a record ended without
// its outcome reads as one that has none (ErrNoOutcome), never as a wrong
// one.
func (r *ExecutionRecord) finish(writeOutcome func(io.Writer) error) error {
	path := filepath.Join(r.dir, executionFile)
	f, err := fillTemp(path, func(f *os.File) error { return writeExecution(f, r.e, r.items) })
	if err != nil {
		return fmt.Errorf("write execution record %s: %w", r.e.ID, err)
	}
	if writeOutcome == nil {
		err = closeTemp(f, f.Sync())
	} else {
		opath := filepath.Join(r.dir, outcomeFile)
		of, oerr := writeTempStreamed(opath, writeOutcome)
		if oerr != nil {
			closeTemp(f, oerr)
			return fmt.Errorf("write outcome of execution %s: %w", r.e.ID, oerr)
		}
		err = syncBoth(f.Sync, of.Sync)
		if oerr = closeTemp(of, err); oerr == nil {
			if oerr = os.Rename(of.Name(), opath); oerr != nil {
				os.Remove(of.Name())
			}
		}
		if err = closeTemp(f, oerr); oerr != nil {
			return fmt.Errorf("write outcome of execution %s: %w", r.e.ID, oerr)
		}
	}
	if err == nil {
		if err = os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
		}
	}
	if err == nil {
		err = durable.SyncDir(r.dir)
	}
	if err != nil {
		return fmt.Errorf("write execution record %s: %w", r.e.ID, err)
	}
	r.dirty = false
	return nil
}

// Close releases the files the writer holds (events, open logs). It does
// not change the record: an execution closed without Finish keeps its live
// state, and readers see it lost once this process is gone.
func (r *ExecutionRecord) Close() error {
	r.mu.Lock()
	logs := make([]*recordLog, 0, len(r.logs))
	for l := range r.logs {
		logs = append(logs, l)
	}
	var err error
	if !r.finished {
		r.finished = true
		err = r.events.Close()
	}
	r.mu.Unlock()
	for _, l := range logs {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// parseSeq returns the seq of an event line: at once for the json view's
// lines, which begin {"seq":N, and by decoding otherwise. A line with no
// seq (the view's version record) or that is not JSON has none.
func parseSeq(line []byte) (int64, bool) {
	const prefix = `{"seq":`
	if bytes.HasPrefix(line, []byte(prefix)) {
		rest := line[len(prefix):]
		n := 0
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n > 0 && n < len(rest) && n <= 18 && (rest[n] == ',' || rest[n] == '}') {
			var seq int64
			for _, c := range rest[:n] {
				seq = seq*10 + int64(c-'0')
			}
			return seq, true
		}
	}
	var v struct {
		Seq *int64 `json:"seq"`
	}
	if json.Unmarshal(line, &v) != nil || v.Seq == nil {
		return 0, false
	}
	return *v.Seq, true
}

// writeTempStreamed is fillTemp with what write writes, then a
// newline if it did not end with one, streamed to the file.
func writeTempStreamed(path string, write func(io.Writer) error) (*os.File, error) {
	return fillTemp(path, func(f *os.File) error {
		w := &lastByteWriter{w: bufio.NewWriterSize(f, 64<<10)}
		err := write(w)
		if err == nil && w.last != '\n' {
			_, err = w.Write([]byte{'\n'})
		}
		if err == nil {
			err = w.w.Flush()
		}
		return err
	})
}

// lastByteWriter remembers the last byte written through it.
type lastByteWriter struct {
	w    *bufio.Writer
	last byte
}

func (l *lastByteWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.last = p[len(p)-1]
	}
	return l.w.Write(p)
}
