package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/peace-go/peace/internal/durable"
)

// Store is the recorded state of one flow for one profile: a directory
// holding the two snapshots, the journal and the lock.
type Store struct {
	dir string

	mu      sync.Mutex
	journal *Journal // the open journal, if any

	cacheMu sync.Mutex
	parsed  map[string]parsedSnapshot // path -> last parse, see readSnapshot
}

// Open prepares the store in dir. It reads nothing, and dir is created on
// the first write, not here.
func Open(dir string) *Store {
	return &Store{dir: dir}
}

// Path returns the store's directory.
func (s *Store) Path() string { return s.dir }

func (s *Store) currentPath() string { return filepath.Join(s.dir, currentFile) }
func (s *Store) goalPath() string    { return filepath.Join(s.dir, goalFile) }
func (s *Store) journalPath() string { return filepath.Join(s.dir, journalFile) }
func (s *Store) lockPath() string    { return filepath.Join(s.dir, lockFile) }

func (s *Store) journalClosed(j *Journal) {
	s.mu.Lock()
	if s.journal == j {
		s.journal = nil
	}
	s.mu.Unlock()
}

// Recorded is what the store knows: both snapshots with the journal replayed
// on top.
type Recorded struct {
	Current map[string]json.RawMessage // item ID -> last recorded current state
	Goal    map[string]json.RawMessage // item ID -> last recorded goal state
	Unknown []string                   // items with a begin record and no end: a run died mid-apply
	// Groups are the process groups that the applies of Unknown items
	// started, by item ID: what may still be running of a run that died.
	// Check each with proc.Same before killing it.
	Groups map[string][]ProcessGroup
	// InProgress are the items a live run is applying now (Load only):
	// begun and not ended, yet not unknown, since that run is not over.
	InProgress []string
	Notices    []string // what the user should be told, e.g. a torn journal tail was ignored
}

// ProcessGroup is a process group an item's apply started, as recorded by
// Journal.Group: its ID and its leader's start identity.
type ProcessGroup struct {
	Pgid  int    `json:"pgid"`
	Start string `json:"start,omitempty"`
}

// Load reads both snapshots, then replays the journal on top of them, as
// recovery would. It writes nothing and takes no lock: a corrupt file is a
// *CorruptError and stays where it is, and the executions of a live lock
// holder are reported in progress, not unfinished. Missing files are empty
// state, not errors.
func (s *Store) Load() (*Recorded, error) {
	l, err := s.load(false, true)
	if err != nil {
		return nil, err
	}
	return l.rec, nil
}

// Recover is Load followed by folding the replayed journal into the
// snapshots and resetting the journal. Call it only while holding the lock.
// Items left unknown stay listed in the current snapshot until a later Fold
// records a state for them (or forgets them), so a second crash before they
// are rediscovered does not lose the fact.
func (s *Store) Recover() (*Recorded, error) {
	l, err := s.fold(nil, nil, true)
	if err != nil {
		return nil, err
	}
	return l.rec, nil
}

// RecoverEach is Recover for a caller that takes each recorded state once:
// rather than in maps of every state (the Recorded returned has nil
// Current and Goal), each state is handed to each, current or goal, in no
// set order; id is each's only during the call. Those of a snapshot in the
// form the store writes come from the file's bytes as they are read, with
// no map of them in memory, and no string made of each ID.
func (s *Store) RecoverEach(each func(id []byte, current bool, state json.RawMessage)) (*Recorded, error) {
	l, err := s.fold(nil, nil, false)
	if err != nil {
		return nil, err
	}
	rec := l.rec
	// The maps, when the fold read them (a journal replayed, a migration),
	// are the states; otherwise the snapshots are.
	cur, goal := l.cur, l.goal
	cur.states, goal.states = rec.Current, rec.Goal
	if err := cur.eachState(l.curPath, func(id []byte, st json.RawMessage) { each(id, true, st) }); err != nil {
		return nil, err
	}
	if err := goal.eachState(l.goalPath, func(id []byte, st json.RawMessage) { each(id, false, st) }); err != nil {
		return nil, err
	}
	rec.Current, rec.Goal = nil, nil
	return rec, nil
}

// Fold merges updates into the snapshots, together with whatever the journal
// holds, and resets the journal. For each item, a non-nil state replaces the
// recorded one and a nil one deletes it; either way the item is no longer
// unknown. goal is applied likewise to the goal snapshot; a nil map leaves a
// snapshot unchanged. Snapshots are replaced atomically, and the journal is
// reset only after both are durable. Call it while holding the lock, after
// Journal.Close.
func (s *Store) Fold(current, goal map[string]json.RawMessage) error {
	_, err := s.fold(current, goal, false)
	return err
}

// fold is Fold and Recover. Only with forCaller does the Recorded returned
// hold the recorded states: otherwise they are read only if the fold
// needs them, and a fold with nothing to change reads none.
func (s *Store) fold(current, goal map[string]json.RawMessage, forCaller bool) (*loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil {
		return nil, errors.New("fold state: the journal is still open")
	}
	l, err := s.load(true, forCaller)
	if err != nil {
		// Check every update before a corrupt file is moved aside: a bad
		// update changes nothing at all.
		if _, uerr := normalizeUpdates(current); uerr != nil {
			return nil, uerr
		}
		if _, uerr := normalizeUpdates(goal); uerr != nil {
			return nil, uerr
		}
		return nil, setAside(err)
	}
	rec := l.rec
	// A snapshot not yet on disk is written by the first fold given states
	// for it, even none.
	newCurrent, newGoal := current != nil && l.currentRaw == nil, goal != nil && l.goalRaw == nil
	// The states are needed to compare updates with, to clear unknown
	// items given a state, and to write a snapshot: the goals only when
	// that snapshot may be written, the current states whenever any may.
	needGoal := len(goal) > 0 || l.migrated || newGoal
	if needGoal || len(current) > 0 || len(rec.Unknown) > 0 || l.changed || newCurrent {
		if err := l.loadStates(true, needGoal); err != nil {
			return nil, err
		}
	}
	// The updates go straight into the states read, which are this fold's
	// own; all of them before anything is written, so a bad one changes
	// nothing on disk.
	curChanges, err := applyUpdates(rec.Current, current)
	if err != nil {
		return nil, err
	}
	goalChanges, err := applyUpdates(rec.Goal, goal)
	if err != nil {
		return nil, err
	}
	unknown := make(map[string]bool, len(rec.Unknown))
	for _, id := range rec.Unknown {
		unknown[id] = true
	}
	for _, id := range rec.Unknown {
		if _, ok := current[id]; ok {
			delete(unknown, id)
			curChanges++ // no longer unknown: a change
		}
	}
	rec.Unknown = sortedKeys(unknown)
	for id := range rec.Groups {
		if !unknown[id] {
			delete(rec.Groups, id)
		}
	}

	// Nothing replayed, migrated or changed: the snapshots stay as they
	// are, and are not even encoded to find that out.
	if l.changed || l.migrated || curChanges > 0 || goalChanges > 0 || newCurrent || newGoal {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, fmt.Errorf("fold state: %w", err)
		}
		// The goal first: the journal never holds goals, so once the current
		// snapshot (which marks the journal folded) is written, nothing of
		// this fold is left to redo.
		// A snapshot whose bytes would not change is not rewritten: a run
		// with nothing to do costs no fsync here.
		if goalChanges > 0 || l.migrated || newGoal {
			if data := encodeSnapshot(rec.Goal, nil, nil, foldMark{}); !bytes.Equal(data, l.goalRaw) {
				if err := writeFileAtomic(s.goalPath(), data); err != nil {
					return nil, err
				}
			}
		}
		CrashPoint("fold:between_snapshots")
		var mark foldMark
		if l.journal.id != "" {
			mark = foldMark{journal: l.journal.id, bytes: l.journal.end}
		}
		if data := encodeSnapshot(rec.Current, rec.Unknown, rec.Groups, mark); !bytes.Equal(data, l.currentRaw) {
			if err := writeFileAtomic(s.currentPath(), data); err != nil {
				return nil, err
			}
		}
	}
	if l.journal.exists {
		// Only a fold with a journal to reset has an instant between the
		// two; a recovery with nothing to replay passes no crash point.
		CrashPoint("fold:after_snapshots")
		if l.journal.torn > 0 {
			kept, err := keepTorn(s.journalPath(), l.journal.tail)
			if err != nil {
				return nil, err
			}
			rec.Notices[l.tornNotice] += "; its bytes are kept in " + kept
		}
		if err := os.Remove(s.journalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reset journal: %w", err)
		}
		if err := durable.SyncDir(s.dir); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// normalizeUpdates checks item IDs and states, returning the states in the
// form they are kept in (see normalizeState); an empty state means nil.
func normalizeUpdates(updates map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if updates == nil {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(updates))
	for id, state := range updates {
		if id == "" || !utf8.ValidString(id) {
			return nil, fmt.Errorf("fold state: item ID %q is empty or not UTF-8", id)
		}
		if len(state) == 0 {
			out[id] = nil
			continue
		}
		norm, err := normalizeState(state)
		if err != nil {
			return nil, fmt.Errorf("fold state of %q: %w", id, err)
		}
		out[id] = norm
	}
	return out, nil
}

// applyUpdates puts updates into states, normalized (see
// normalizeUpdates), and counts those that change it: an update with the
// recorded bytes, or a deletion of what is not recorded, changes nothing.
// An update whose bytes are those recorded needs no check: recorded
// states are normalized already. On an error, states is left part
// changed.
func applyUpdates(states, updates map[string]json.RawMessage) (changes int, err error) {
	for id, state := range updates {
		if id == "" || !utf8.ValidString(id) {
			return 0, fmt.Errorf("fold state: item ID %q is empty or not UTF-8", id)
		}
		old, ok := states[id]
		switch {
		case len(state) == 0 && !ok, ok && len(state) > 0 && bytes.Equal(state, old):
			continue
		case len(state) == 0:
			delete(states, id)
			changes++
			continue
		}
		norm, err := normalizeState(state)
		if err != nil {
			return 0, fmt.Errorf("fold state of %q: %w", id, err)
		}
		if ok && bytes.Equal(norm, old) {
			continue // normalizing made it the recorded text after all
		}
		states[id] = norm
		changes++
	}
	return changes, nil
}

// loaded is what load found.
type loaded struct {
	rec      *Recorded
	journal  journalScan
	changed  bool // the journal held begin or end records not yet folded
	migrated bool // a snapshot was in an older format
	// tornNotice is the index of the notice about a torn journal tail.
	tornNotice int
	// currentRaw and goalRaw are the snapshot files as read: a fold that
	// would write the same bytes leaves the file alone.
	currentRaw, goalRaw []byte
	// cur and goal are the snapshots read, for their states when
	// rec.Current or rec.Goal is nil: not read yet (see loadStates).
	cur, goal         snapshot
	curPath, goalPath string
}

// loadStates reads the states of the current snapshot, and of the goal
// snapshot with goal, into rec, if they are not there yet.
func (l *loaded) loadStates(current, goal bool) error {
	if current {
		if err := l.cur.loadStates(l.curPath); err != nil {
			return err
		}
		l.rec.Current = l.cur.states
	}
	if goal {
		if err := l.goal.loadStates(l.goalPath); err != nil {
			return err
		}
		l.rec.Goal = l.goal.states
	}
	return nil
}

// load reads what is recorded. A writer holds the lock; a reader does not,
// and may find another process's live run in the journal. Without
// withStates, the maps of states may be nil until loaded.loadStates reads
// them (see readSnapshot); a journal to replay reads them anyway.
func (s *Store) load(writer, withStates bool) (*loaded, error) {
	// The journal is read before the snapshots: if another process folds in
	// between, the current snapshot then names this journal as folded, and
	// replay skips what it already holds.
	jr, err := readJournal(s.journalPath())
	if err != nil {
		return nil, err
	}
	cur, err := s.readSnapshot(s.currentPath(), withStates)
	if err != nil {
		return nil, err
	}
	goal, err := s.readSnapshot(s.goalPath(), withStates)
	if err != nil {
		return nil, err
	}
	l := &loaded{
		rec:        &Recorded{Current: cur.states, Goal: goal.states},
		journal:    jr,
		migrated:   cur.from < FormatVersion || goal.from < FormatVersion,
		currentRaw: cur.raw, goalRaw: goal.raw,
		cur: cur, goal: goal, curPath: s.currentPath(), goalPath: s.goalPath(),
	}
	for _, snap := range []struct {
		path string
		from int
	}{{s.currentPath(), cur.from}, {s.goalPath(), goal.from}} {
		if snap.from < FormatVersion {
			l.rec.Notices = append(l.rec.Notices, fmt.Sprintf(
				"state file %s is in format version %d; it was read as version %d and is rewritten so on the next change",
				snap.path, snap.from, FormatVersion))
		}
	}
	// A reader may look while another process holds the lock: that run's
	// items are in progress, not unknown, it has not failed to finish, and
	// a last record it is writing is not torn.
	holder, live := LockInfo{}, false
	if !writer {
		holder, live = s.liveHolder()
	}
	if jr.torn > 0 && !live {
		l.tornNotice = len(l.rec.Notices)
		l.rec.Notices = append(l.rec.Notices, fmt.Sprintf(
			"journal %s: ignored a torn last record (%d bytes)", s.journalPath(), jr.torn))
	}

	unknown := make(map[string]bool, len(cur.unknown))
	for _, id := range cur.unknown {
		unknown[id] = true
	}
	groups := map[string][]ProcessGroup{}
	for id, g := range cur.groups {
		groups[id] = slices.Clone(g)
	}
	begun := map[string]bool{}
	type execution struct {
		start record
		stage string
		begun []string
	}
	var order []string
	open := map[string]*execution{}
	for _, r := range jr.records {
		if cur.folded.journal != "" && cur.folded.journal == jr.id && r.off < cur.folded.bytes {
			continue // already in the snapshot
		}
		switch r.Kind {
		case kindExecStart:
			if open[r.Exec] == nil {
				order = append(order, r.Exec)
			}
			open[r.Exec] = &execution{start: r}
		case kindExecEnd:
			delete(open, r.Exec)
		case kindSignal:
			if e := open[r.Exec]; e != nil {
				e.stage = r.Stage
			}
		case kindBegin:
			l.changed = true
			begun[r.Item] = true
			if e := open[r.Exec]; e != nil {
				e.begun = append(e.begun, r.Item)
			}
		case kindGroup:
			if begun[r.Item] {
				l.changed = true
				groups[r.Item] = append(groups[r.Item], ProcessGroup{Pgid: r.Pgid, Start: r.Start})
			}
		case kindEnd:
			l.changed = true
			if err := l.loadStates(true, false); err != nil {
				return nil, err
			}
			delete(begun, r.Item)
			delete(unknown, r.Item)
			delete(groups, r.Item)
			if r.State != nil {
				l.rec.Current[r.Item] = r.State
			} else {
				delete(l.rec.Current, r.Item)
			}
		}
	}
	inProgress := map[string]bool{}
	reported := false
	for _, id := range order {
		e := open[id]
		if e == nil {
			continue
		}
		if live && holder.runs(id, e.start.Time) {
			reported = true
			for _, item := range e.begun {
				if begun[item] {
					inProgress[item] = true
				}
			}
			l.rec.Notices = append(l.rec.Notices, inProgressNotice(holder, id, e.start, e.begun, begun))
			continue
		}
		l.rec.Notices = append(l.rec.Notices, unfinishedNotice(id, e.start, e.stage, e.begun, begun))
	}
	if live && !reported {
		l.rec.Notices = append(l.rec.Notices, inProgressNotice(holder, holder.Execution, record{Command: holder.Command, Time: holder.Started}, nil, nil))
	}
	for id := range begun {
		if !inProgress[id] {
			unknown[id] = true
		}
	}
	for id := range groups {
		if !unknown[id] {
			delete(groups, id)
		}
	}
	l.rec.Unknown = sortedKeys(unknown)
	l.rec.InProgress = sortedKeys(inProgress)
	if len(groups) > 0 {
		l.rec.Groups = groups
	}
	return l, nil
}

// liveHolder returns who holds the lock, if anyone does who may be alive.
// It only reads: a lock file that cannot be read is the writer's business.
func (s *Store) liveHolder() (LockInfo, bool) {
	raw, err := os.ReadFile(s.lockPath())
	if err != nil {
		return LockInfo{}, false
	}
	h, err := parseLock(raw)
	if err != nil || provablyDead(h) {
		return LockInfo{}, false
	}
	return h, true
}

// runs reports whether the holder is running execution exec, which started
// at started. A holder that did not record its execution runs every
// execution that started once it held the lock; those before it are of a
// run that died.
func (h LockInfo) runs(exec string, started time.Time) bool {
	if h.Execution != "" {
		return h.Execution == exec
	}
	return !started.Before(h.Started)
}

// inProgressNotice tells about the execution of a live lock holder.
func inProgressNotice(h LockInfo, exec string, start record, itsBegun []string, stillBegun map[string]bool) string {
	var b strings.Builder
	b.WriteString(start.Command)
	if start.Command == "" {
		b.WriteString("a run")
	}
	b.WriteString(" is in progress (")
	if exec != "" {
		fmt.Fprintf(&b, "execution %s, ", exec)
	}
	fmt.Fprintf(&b, "pid %d", h.PID)
	if h.Host != hostname() {
		fmt.Fprintf(&b, " on %s", h.Host)
	}
	fmt.Fprintf(&b, "), started %s", start.Time.Local().Format(time.DateTime))
	if inFlight := stillApplying(itsBegun, stillBegun); len(inFlight) > 0 {
		fmt.Fprintf(&b, "; items it is applying: %s", strings.Join(inFlight, ", "))
	}
	return b.String()
}

// unfinishedNotice tells about an execution that never recorded its end:
// the process was killed or crashed.
func unfinishedNotice(exec string, start record, stage string, itsBegun []string, stillBegun map[string]bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "execution %s (%s, started %s) did not finish", exec, start.Command,
		start.Time.Local().Format(time.DateTime))
	if stage != "" {
		fmt.Fprintf(&b, " after an interrupt (%s)", stage)
	}
	if inFlight := stillApplying(itsBegun, stillBegun); len(inFlight) > 0 {
		fmt.Fprintf(&b, "; items it was applying are unknown until rediscovered: %s", strings.Join(inFlight, ", "))
	}
	return b.String()
}

// stillApplying returns the items of itsBegun with no end yet, sorted.
func stillApplying(itsBegun []string, stillBegun map[string]bool) []string {
	var inFlight []string
	for _, id := range itsBegun {
		if stillBegun[id] {
			inFlight = append(inFlight, id)
		}
	}
	slices.Sort(inFlight)
	return slices.Compact(inFlight)
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
