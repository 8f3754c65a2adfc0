package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openJournal(t *testing.T, s *Store) *Journal {
	t.Helper()
	j, err := s.OpenJournal("e1", "peace ensure")
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestJournalReplay(t *testing.T) {
	s := newStore(t)
	must(t, s.Fold(states("b", `{"old":1}`, "d", `{"keep":1}`), states("a", `{"goal":1}`)))

	j := openJournal(t, s)
	must(t, j.Begin("a"))
	must(t, j.End("a", "applied", raw(`{"x": 1}`)))
	must(t, j.Begin("b"))
	must(t, j.End("b", "failed", nil))
	must(t, j.Begin("c"))
	must(t, j.Signal("stop"))
	must(t, j.Close("interrupted"))

	before := readAll(t, s.Path())
	rec := mustLoad(t, s)
	assertStates(t, "current", rec.Current, states("a", `{"x":1}`, "d", `{"keep":1}`))
	assertStates(t, "goal", rec.Goal, states("a", `{"goal":1}`))
	if !slices.Equal(rec.Unknown, []string{"c"}) {
		t.Errorf("unknown = %q, want [c]", rec.Unknown)
	}
	if len(rec.Notices) != 0 {
		t.Errorf("notices = %q", rec.Notices)
	}
	if after := readAll(t, s.Path()); !mapsEqual(before, after) {
		t.Error("Load changed the state directory")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// crashCopy returns the journal as it is on disk now: what a crash at this
// moment would leave.
func crashCopy(t *testing.T, s *Store) []byte {
	t.Helper()
	b, err := os.ReadFile(s.journalPath())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func restoreJournal(t *testing.T, s *Store, data []byte) {
	t.Helper()
	must(t, os.WriteFile(s.journalPath(), data, 0o600))
}

func TestUnknownSurvivesRecover(t *testing.T) {
	s := newStore(t)
	must(t, s.Fold(states("c", `"before"`), nil))
	j := openJournal(t, s)
	must(t, j.Begin("a"))
	must(t, j.End("a", "applied", raw(`"done"`)))
	must(t, j.Begin("c"))
	crashed := crashCopy(t, s) // the process dies while c is applied
	must(t, j.Close("complete"))
	restoreJournal(t, s, crashed)

	rec := mustLoad(t, s)
	if !slices.Equal(rec.Unknown, []string{"c"}) {
		t.Fatalf("unknown = %q, want [c]", rec.Unknown)
	}
	if len(rec.Notices) != 1 || !strings.Contains(rec.Notices[0], "did not finish") || !strings.Contains(rec.Notices[0], "c") {
		t.Errorf("notices = %q, want one about the unfinished execution", rec.Notices)
	}

	for i := range 2 { // a second crash before rediscovery must not lose it
		rec, err := s.Recover()
		must(t, err)
		if !slices.Equal(rec.Unknown, []string{"c"}) {
			t.Fatalf("Recover %d: unknown = %q", i, rec.Unknown)
		}
		if _, err := os.Stat(s.journalPath()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Recover %d left the journal: %v", i, err)
		}
		rec = mustLoad(t, s)
		if !slices.Equal(rec.Unknown, []string{"c"}) {
			t.Fatalf("Load after Recover %d: unknown = %q", i, rec.Unknown)
		}
		assertStates(t, "current", rec.Current, states("a", `"done"`, "c", `"before"`))
	}

	// A later run that ends c without a state still clears it.
	j = openJournal(t, s)
	must(t, j.Begin("c"))
	must(t, j.End("c", "failed", nil))
	must(t, j.Close("failed"))
	rec = mustLoad(t, s)
	if len(rec.Unknown) != 0 {
		t.Errorf("unknown after end = %q", rec.Unknown)
	}
	assertStates(t, "current", rec.Current, states("a", `"done"`))
}

func TestFoldClearsUnknown(t *testing.T) {
	for name, update := range map[string]map[string]json.RawMessage{
		"state":  states("c", `"found"`, "d", `"found"`),
		"delete": {"c": nil, "d": nil},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			j := openJournal(t, s)
			must(t, j.Begin("c"))
			must(t, j.Begin("d"))
			must(t, j.Close("interrupted"))
			rec, err := s.Recover()
			must(t, err)
			if !slices.Equal(rec.Unknown, []string{"c", "d"}) {
				t.Fatalf("unknown = %q", rec.Unknown)
			}
			must(t, s.Fold(map[string]json.RawMessage{"c": update["c"]}, nil))
			if got := mustLoad(t, s).Unknown; !slices.Equal(got, []string{"d"}) {
				t.Errorf("after folding c: unknown = %q, want [d]", got)
			}
			must(t, s.Fold(map[string]json.RawMessage{"d": update["d"]}, nil))
			rec = mustLoad(t, s)
			if len(rec.Unknown) != 0 {
				t.Errorf("unknown = %q", rec.Unknown)
			}
			want := map[string]json.RawMessage{}
			for id, state := range update {
				if state != nil {
					want[id] = state
				}
			}
			assertStates(t, "current", rec.Current, want)
		})
	}
}

// journalWithTail writes a journal whose last record is an end with a state,
// and returns its bytes and where that last record starts.
func journalWithTail(t *testing.T, s *Store) ([]byte, int) {
	t.Helper()
	j := openJournal(t, s)
	must(t, j.Begin("a"))
	must(t, j.End("a", "applied", raw(`{"a":1}`)))
	must(t, j.Begin("b"))
	must(t, j.End("b", "applied", raw(`{"b":"a state long enough to cut in many places"}`)))
	data := crashCopy(t, s)
	must(t, j.Close("complete"))
	frames, end, _ := scanFrames(data)
	if end != len(data) {
		t.Fatalf("journal has %d bytes of damage", len(data)-end)
	}
	return data, frames[len(frames)-1].off
}

func TestTornTailIgnored(t *testing.T) {
	s := newStore(t)
	data, last := journalWithTail(t, s)
	for n := 1; n < len(data)-last; n++ {
		restoreJournal(t, s, data[:last+n])
		rec, err := s.Load()
		if err != nil {
			t.Fatalf("torn after %d bytes: %v", n, err)
		}
		assertStates(t, fmt.Sprintf("torn after %d bytes", n), rec.Current, states("a", `{"a":1}`))
		if !slices.Equal(rec.Unknown, []string{"b"}) {
			t.Errorf("torn after %d bytes: unknown = %q, want [b]", n, rec.Unknown)
		}
		want := fmt.Sprintf("journal %s: ignored a torn last record (%d bytes)", s.journalPath(), n)
		if !slices.Contains(rec.Notices, want) {
			t.Errorf("torn after %d bytes: notices = %q", n, rec.Notices)
		}
	}
}

func TestTornTailCutOffByOpenJournal(t *testing.T) {
	s := newStore(t)
	data, last := journalWithTail(t, s)
	for _, n := range []int{1, frameHeader - 1, frameHeader, frameHeader + 1, len(data) - last - 1} {
		restoreJournal(t, s, data[:last+n])
		j := openJournal(t, s)
		must(t, j.Begin("c"))
		must(t, j.End("c", "applied", raw(`"c"`)))
		must(t, j.Close("complete"))
		rec := mustLoad(t, s)
		if len(rec.Notices) != 0 {
			t.Errorf("torn after %d bytes, appended: notices = %q", n, rec.Notices)
		}
		assertStates(t, "current", rec.Current, states("a", `{"a":1}`, "c", `"c"`))
		if !slices.Equal(rec.Unknown, []string{"b"}) {
			t.Errorf("unknown = %q, want [b]", rec.Unknown)
		}
		after := crashCopy(t, s)
		if string(after[:last]) != string(data[:last]) || after[last] != frameMagic[0] {
			t.Errorf("torn after %d bytes: appends do not start where the intact records end", n)
		}
	}
}

func TestTornTailOfZeros(t *testing.T) {
	s := newStore(t)
	data, _ := journalWithTail(t, s)
	// After a power cut a file can end in zeros where data was not written.
	restoreJournal(t, s, append(slices.Clone(data), make([]byte, 300)...))
	rec := mustLoad(t, s)
	assertStates(t, "current", rec.Current, states("a", `{"a":1}`, "b", `{"b":"a state long enough to cut in many places"}`))
	if !slices.ContainsFunc(rec.Notices, func(n string) bool { return strings.HasSuffix(n, "torn last record (300 bytes)") }) {
		t.Errorf("notices = %q", rec.Notices)
	}
}

// Damage to any byte of any record but the last is corruption: reported,
// left as it is by a reader and kept byte for byte beside by a writer.
func TestJournalCorruptionMidFile(t *testing.T) {
	s := newStore(t)
	data, last := journalWithTail(t, s)
	for i := 0; i < last; i++ {
		bad := slices.Clone(data)
		bad[i] ^= 0x5a
		restoreJournal(t, s, bad)
		checkCorrupt(t, s, s.journalPath(), string(bad))
		kept, _ := filepath.Glob(s.journalPath() + ".corrupt-*")
		for _, k := range kept {
			must(t, os.Remove(k))
		}
	}
}

func TestJournalCorruptionStopsOpenAndRecover(t *testing.T) {
	s := newStore(t)
	data, _ := journalWithTail(t, s)
	bad := slices.Clone(data)
	bad[frameHeader+3] ^= 1
	for name, call := range map[string]func() error{
		"OpenJournal": func() error { _, err := s.OpenJournal("e2", "peace ensure"); return err },
		"Recover":     func() error { _, err := s.Recover(); return err },
		"Fold":        func() error { return s.Fold(states("z", "1"), nil) },
	} {
		restoreJournal(t, s, bad)
		var cerr *CorruptError
		if err := call(); !errors.As(err, &cerr) {
			t.Fatalf("%s: %v, want *CorruptError", name, err)
		}
		checkMovedAside(t, cerr, s.journalPath(), string(bad))
	}
	if _, err := os.Stat(filepath.Join(s.Path(), currentFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a snapshot was written despite the corrupt journal")
	}
}

func TestJournalNewerVersionRefused(t *testing.T) {
	s := newStore(t)
	must(t, os.MkdirAll(s.Path(), 0o755))
	newer := FormatVersion + 1
	data := appendFrame(nil, fmt.Appendf(nil, `{"v":%d,"kind":"journal","id":"x","time":"2026-11-22T15:04:05Z"}`, newer))
	data = appendFrame(data, fmt.Appendf(nil, `{"v":%d,"kind":"teleport","item":"a"}`, newer))
	restoreJournal(t, s, data)
	for name, call := range map[string]func() error{
		"Load":        func() error { _, err := s.Load(); return err },
		"Recover":     func() error { _, err := s.Recover(); return err },
		"OpenJournal": func() error { _, err := s.OpenJournal("e", "peace ensure"); return err },
	} {
		var verr *VersionError
		if err := call(); !errors.As(err, &verr) || verr.Found != newer || verr.Path != s.journalPath() {
			t.Fatalf("%s: %v, want *VersionError for version %d", name, err, newer)
		}
	}
	if got := crashCopy(t, s); string(got) != string(data) {
		t.Error("journal changed")
	}
}

func TestJournalRecordChecks(t *testing.T) {
	for _, payload := range []string{
		`{"v":0,"kind":"begin","item":"a"}`,
		`{"kind":"begin","item":"a"}`,
		`{"v":1,"kind":"begin"}`,
		`{"v":1,"kind":"end","item":"a"}`,
		`{"v":1,"kind":"signal"}`,
		`{"v":1,"kind":"journal"}`,
		`{"v":1,"kind":"nonsense"}`,
		`{"v":1,"kind":"end","item":"a","outcome":"applied","state":{bad}}`,
		`not json`,
	} {
		if _, err := decodeRecord([]byte(payload)); err == nil {
			t.Errorf("%s: accepted", payload)
		}
	}
}

func TestGroupCommit(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	synced := syncWatch(j)
	const n = 64
	// The first fsync waits until half the records are queued behind it,
	// so a loaded machine that starts the writers slowly cannot make every
	// record take an fsync of its own.
	watched, first := j.sync, true
	j.sync = func(f *os.File) error {
		if first {
			first = false
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				j.mu.Lock()
				queued := len(j.queue)
				j.mu.Unlock()
				if queued >= n/2 {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		return watched(f)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			item := fmt.Sprintf("item_%02d", i)
			if err := j.End(item, "applied", raw(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Only fsyncs that completed count, seen by the file's own Sync.
	fsyncs := synced()
	syncs := len(fsyncs)
	switch {
	case syncs == 0:
		t.Errorf("no fsync for %d records", n)
	case syncs >= n:
		t.Errorf("%d fsyncs for %d records: no group commit", syncs, n)
	case fsyncs[syncs-1] != int64(len(crashCopy(t, s))):
		t.Errorf("the last fsync covered %d of %d bytes", fsyncs[syncs-1], len(crashCopy(t, s)))
	}
	if got := j.syncs.Load(); got != int64(syncs) {
		t.Errorf("the journal counted %d fsyncs, %d completed", got, syncs)
	}
	t.Logf("%d records, %d fsyncs", n, syncs)
	// Every End returned, so every record is on disk now, before Close.
	rec, err := Open(s.Path()).Load()
	must(t, err)
	if len(rec.Current) != n {
		t.Errorf("%d states recorded, want %d", len(rec.Current), n)
	}
	must(t, j.Close("complete"))
}

func TestSignalSharesTheNextSync(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	must(t, j.Signal("stop"))
	if got := j.syncs.Load(); got != 0 {
		t.Errorf("%d fsyncs after a signal alone", got)
	}
	if !strings.Contains(string(crashCopy(t, s)), `"stage":"stop"`) {
		t.Error("signal not written when Signal returned")
	}
	must(t, j.Close("interrupted"))
	if got := j.syncs.Load(); got != 1 {
		t.Errorf("%d fsyncs after close", got)
	}
}

func TestJournalLifecycle(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	if _, err := s.OpenJournal("e2", "peace ensure"); err == nil {
		t.Error("a second journal opened")
	}
	if err := s.Fold(states("a", "1"), nil); err == nil {
		t.Error("Fold ran with the journal open")
	}
	if err := j.End("a", "applied", raw(`{"a":`)); err == nil {
		t.Error("End accepted invalid JSON")
	}
	if err := j.Begin(""); err == nil {
		t.Error("Begin accepted an empty item")
	}
	must(t, j.Close("complete"))
	must(t, j.Close("complete"))
	if err := j.End("a", "applied", raw("1")); !errors.Is(err, errJournalClosed) {
		t.Errorf("End after Close: %v", err)
	}
	j2 := openJournal(t, s)
	must(t, j2.Close("complete"))
	must(t, s.Fold(nil, nil))
	if names := dirFiles(t, s.Path()); slices.Contains(names, journalFile) {
		t.Errorf("journal not reset: %v", names)
	}
}

// A crash after the snapshots are written but before the journal is reset
// must not replay the journal over what the fold wrote.
func TestFoldIsNotReplayedTwice(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	must(t, j.Begin("x"))
	must(t, j.End("x", "applied", raw(`"applied"`)))
	must(t, j.Begin("y"))
	must(t, j.Close("interrupted"))
	folded := crashCopy(t, s)
	must(t, s.Fold(states("x", `"rediscovered"`), nil))
	restoreJournal(t, s, folded) // the reset never happened

	rec := mustLoad(t, s)
	assertStates(t, "current", rec.Current, states("x", `"rediscovered"`))
	if !slices.Equal(rec.Unknown, []string{"y"}) {
		t.Errorf("unknown = %q", rec.Unknown)
	}
	// Records appended after the fold point still count.
	j = openJournal(t, s)
	must(t, j.End("y", "applied", raw(`"y"`)))
	must(t, j.Close("complete"))
	rec, err := s.Recover()
	must(t, err)
	assertStates(t, "current", rec.Current, states("x", `"rediscovered"`, "y", `"y"`))
	if len(rec.Unknown) != 0 {
		t.Errorf("unknown = %q", rec.Unknown)
	}
}

// A journal damaged from its first byte (zero-filled, garbage) is
// corruption, never a torn tail: no record in it is dropped silently, and
// the file is kept. Only a first record cut short is a torn tail.
func TestJournalDamagedFirstRecord(t *testing.T) {
	s := newStore(t)
	data, _ := journalWithTail(t, s)
	garbage := make([]byte, len(data))
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	overwrite := func(n int, b byte) []byte {
		bad := slices.Clone(data)
		for i := range n {
			bad[i] = b
		}
		return bad
	}
	for name, bad := range map[string][]byte{
		"zero-filled":       make([]byte, len(data)),
		"zero-filled short": make([]byte, 5),
		"garbage":           garbage,
		"first bytes zero":  overwrite(frameHeader, 0),
		"magic damaged":     overwrite(1, 'X'),
		"first payload hit": func() []byte { b := slices.Clone(data); b[frameHeader+2] ^= 0x20; return b }(),
		"garbage appended":  append(slices.Clone(garbage[:40]), data...),
		"text":              []byte("version: 2\nstates: {}\n"),
	} {
		t.Run(name, func(t *testing.T) {
			restoreJournal(t, s, bad)
			checkCorrupt(t, s, s.journalPath(), string(bad))
			kept, _ := filepath.Glob(s.journalPath() + ".corrupt-*")
			for _, k := range kept {
				must(t, os.Remove(k))
			}
		})
	}

	// The first write cut short: nothing was recorded yet.
	first, _, _ := frameAt(data, 0)
	for _, n := range []int{1, 2, frameHeader - 1, frameHeader, frameHeader + len(first)/2} {
		restoreJournal(t, s, data[:n])
		rec, err := s.Load()
		if err != nil {
			t.Fatalf("first record cut after %d bytes: %v", n, err)
		}
		if len(rec.Current)+len(rec.Unknown) != 0 || len(rec.Notices) != 1 {
			t.Errorf("first record cut after %d bytes: %+v", n, rec)
		}
	}
}

// Damage in a record whose full length is in the file, with more bytes
// after it, is corruption even when no intact record follows.
func TestJournalDamageFollowedByData(t *testing.T) {
	s := newStore(t)
	data, last := journalWithTail(t, s)
	frames, _, _ := scanFrames(data)
	before := frames[len(frames)-2].off
	bad := slices.Clone(data[:len(data)-3]) // the last record is cut short...
	bad[before+frameHeader+1] ^= 0x20       // ...and the one before it damaged
	restoreJournal(t, s, bad)
	checkCorrupt(t, s, s.journalPath(), string(bad))

	// The same damage in the last record, running to the end, is torn.
	bad = slices.Clone(data)
	bad[last+frameHeader+1] ^= 0x20
	restoreJournal(t, s, bad)
	rec := mustLoad(t, s)
	if !slices.ContainsFunc(rec.Notices, func(n string) bool { return strings.Contains(n, "torn last record") }) {
		t.Errorf("notices %q", rec.Notices)
	}
}

// The bytes of a torn tail are never deleted: a writer that cuts or resets
// the journal keeps them in journal.log.torn-<time> first, and says where.
func TestTornTailKeptAside(t *testing.T) {
	s := newStore(t)
	data, last := journalWithTail(t, s)
	tail := data[last : len(data)-5]
	torn := data[:len(data)-5]
	for name, write := range map[string]func() string{
		"Recover": func() string {
			rec, err := s.Recover()
			must(t, err)
			for _, n := range rec.Notices {
				if strings.Contains(n, "torn last record") {
					return n
				}
			}
			t.Errorf("notices %q", rec.Notices)
			return ""
		},
		"OpenJournal": func() string {
			must(t, openJournal(t, s).Close("complete"))
			return ""
		},
	} {
		t.Run(name, func(t *testing.T) {
			for _, f := range dirFiles(t, s.Path()) {
				if strings.Contains(f, ".torn-") {
					must(t, os.Remove(filepath.Join(s.Path(), f)))
				}
			}
			restoreJournal(t, s, torn)
			notice := write()
			kept, _ := filepath.Glob(s.journalPath() + ".torn-*")
			if len(kept) != 1 {
				t.Fatalf("kept %v", kept)
			}
			if got, _ := os.ReadFile(kept[0]); string(got) != string(tail) {
				t.Errorf("kept %q, want %q", got, tail)
			}
			if notice != "" && !strings.Contains(notice, kept[0]) {
				t.Errorf("notice %q does not say where", notice)
			}
		})
	}
	// Two tails in the same second each keep their own file.
	restoreJournal(t, s, torn)
	_, err := s.Recover()
	must(t, err)
	restoreJournal(t, s, torn)
	_, err = s.Recover()
	must(t, err)
	if kept, _ := filepath.Glob(s.journalPath() + ".torn-*"); len(kept) != 3 {
		t.Errorf("kept %v, want 3 files", kept)
	}
}

// syncWatch replaces j's fsync with one that remembers how much of the file
// each completed fsync covered.
func syncWatch(j *Journal) func() []int64 {
	var mu sync.Mutex
	var covered []int64
	j.sync = func(f *os.File) error {
		if err := f.Sync(); err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		mu.Lock()
		covered = append(covered, fi.Size())
		mu.Unlock()
		return nil
	}
	return func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(covered)
	}
}

// Begin and End return only once an fsync covering their record has
// completed; Signal and Group only once their record is written.
func TestRecordsDurableOnReturn(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	synced := syncWatch(j)
	size := func() int64 { return int64(len(crashCopy(t, s))) }
	durable := func(what string) {
		t.Helper()
		got := synced()
		if len(got) == 0 || got[len(got)-1] < size() {
			t.Errorf("%s returned before an fsync covered it: fsyncs covered %v of %d bytes", what, got, size())
		}
	}
	must(t, j.Begin("a"))
	durable("Begin")
	n := len(synced())
	must(t, j.Group("a", 4242, "boot:1"))
	must(t, j.Signal("stop"))
	if len(synced()) != n {
		t.Error("Group or Signal waited for an fsync")
	}
	for _, kind := range []string{`"kind":"group"`, `"kind":"signal"`} {
		if !strings.Contains(string(crashCopy(t, s)), kind) {
			t.Errorf("%s not written when its call returned", kind)
		}
	}
	must(t, j.End("a", "applied", raw(`"a"`)))
	durable("End")
	must(t, j.End("b", "failed", nil))
	durable("End without a state")
	must(t, j.Close("complete"))
	if got := synced(); got[len(got)-1] != size() {
		t.Errorf("Close returned before an fsync covered the journal: %v of %d bytes", got, size())
	}
}

// Group is written by its caller, not queued behind another record's
// fsync: a command waits for it before it runs. It returns, its record
// written, while the writer is held in an fsync.
func TestGroupNeedsNoFsync(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	inSync, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	j.sync = func(f *os.File) error {
		once.Do(func() {
			close(inSync)
			<-release
		})
		return f.Sync()
	}
	began := make(chan error, 1)
	go func() { began <- j.Begin("a") }()
	<-inSync
	grouped := make(chan error, 1)
	go func() { grouped <- j.Group("a", 4242, "boot:1") }()
	select {
	case err := <-grouped:
		must(t, err)
	case <-time.After(30 * time.Second): // a broken test's bound, not a speed
		t.Fatal("Group waited for another record's fsync")
	}
	if !strings.Contains(string(crashCopy(t, s)), `"kind":"group"`) {
		t.Error("group record not written when Group returned")
	}
	close(release)
	must(t, <-began)
	must(t, j.End("a", "applied", raw(`"a"`)))
	must(t, j.Close("complete"))
	if err := j.Group("a", 4243, ""); err == nil {
		t.Error("Group after Close")
	}
	rec := mustLoad(t, s)
	if len(rec.Groups) != 0 || len(rec.Unknown) != 0 {
		t.Errorf("after a complete execution: groups %+v, unknown %q", rec.Groups, rec.Unknown)
	}
}

// Process groups an item's apply started are exposed for items a run left
// unknown, until the item is recorded again; a journal without them reads
// as before.
func TestGroupsOfUnknownItems(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	must(t, j.Begin("a"))
	must(t, j.Group("a", 100, "boot:1"))
	must(t, j.End("a", "applied", raw(`"a"`))) // ended: its groups are over
	must(t, j.Begin("b"))
	must(t, j.Group("b", 200, "boot:2"))
	must(t, j.Group("b", 201, ""))
	must(t, j.Begin("c"))
	must(t, j.Group("zzz", 300, "boot:3")) // never begun: ignored
	crashed := crashCopy(t, s)
	must(t, j.Close("complete"))
	restoreJournal(t, s, crashed)

	want := map[string][]ProcessGroup{"b": {{200, "boot:2"}, {201, ""}}}
	check := func(what string, rec *Recorded) {
		t.Helper()
		if !reflect.DeepEqual(rec.Groups, want) {
			t.Errorf("%s: groups %+v, want %+v", what, rec.Groups, want)
		}
		if !slices.Equal(rec.Unknown, []string{"b", "c"}) {
			t.Errorf("%s: unknown %q", what, rec.Unknown)
		}
	}
	check("Load", mustLoad(t, s))
	// Recovery folds the journal away; the groups stay with the unknown
	// items, so a second crash before they are killed loses nothing.
	for i := range 2 {
		rec, err := s.Recover()
		must(t, err)
		check(fmt.Sprintf("Recover %d", i), rec)
		check(fmt.Sprintf("Load after Recover %d", i), mustLoad(t, s))
	}
	must(t, s.Fold(states("b", `"rediscovered"`), nil))
	rec := mustLoad(t, s)
	if len(rec.Groups) != 0 || !slices.Equal(rec.Unknown, []string{"c"}) {
		t.Errorf("after b is recorded: groups %+v, unknown %q", rec.Groups, rec.Unknown)
	}

	if err := j.Group("x", 1, ""); err == nil {
		t.Error("Group after Close")
	}
	j = openJournal(t, s)
	for _, bad := range []struct {
		item string
		pgid int
	}{{"", 5}, {"x", 0}, {"x", -3}} {
		if err := j.Group(bad.item, bad.pgid, ""); err == nil {
			t.Errorf("Group(%q, %d) accepted", bad.item, bad.pgid)
		}
	}
	must(t, j.Close("complete"))
}

// A journal written before group records existed reads as it did.
func TestJournalVersion1Reads(t *testing.T) {
	s := newStore(t)
	must(t, os.MkdirAll(s.Path(), 0o755))
	var data []byte
	for _, p := range []string{
		`{"v":1,"kind":"journal","id":"0123456789abcdef","time":"2026-11-22T15:04:05Z"}`,
		`{"v":1,"kind":"exec_start","exec":"e","command":"peace ensure","time":"2026-11-22T15:04:05Z"}`,
		`{"v":1,"kind":"begin","exec":"e","item":"a","time":"2026-11-22T15:04:05Z"}`,
		`{"v":1,"kind":"end","exec":"e","item":"a","outcome":"applied","state":{"x":1},"time":"2026-11-22T15:04:05Z"}`,
		`{"v":1,"kind":"begin","exec":"e","item":"b","time":"2026-11-22T15:04:05Z"}`,
	} {
		data = appendFrame(data, []byte(p))
	}
	restoreJournal(t, s, data)
	rec := mustLoad(t, s)
	assertStates(t, "current", rec.Current, states("a", `{"x":1}`))
	if !slices.Equal(rec.Unknown, []string{"b"}) || rec.Groups != nil {
		t.Errorf("unknown %q, groups %+v", rec.Unknown, rec.Groups)
	}
}

// EndSynced fsyncs the directories its record waits for before the record
// is written, once each for a batch; a directory that cannot be fsynced
// fails only the records waiting for it, which are not written.
func TestEndSyncedSyncsDirsFirst(t *testing.T) {
	s := newStore(t)
	j := openJournal(t, s)
	var mu sync.Mutex
	var calls [][]string
	item := "a" // whose end record waits for the fsync
	j.fsyncDirs = func(dirs []string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, slices.Clone(dirs))
		if strings.Contains(string(crashCopy(t, s)), `"item":"`+item+`","outcome"`) {
			t.Error("the end record was written before its directories were fsynced")
		}
		if slices.Contains(dirs, "/bad") {
			return []string{"/bad"}, errors.New("fsync /bad: no")
		}
		return nil, nil
	}
	must(t, j.Begin("a"))
	must(t, j.EndSynced("a", "applied", raw(`"a"`), []string{"/d1", "/d2"}))
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"/d1", "/d2"}) {
		t.Errorf("directory fsyncs %v, want [/d1 /d2] once", calls)
	}
	if !strings.Contains(string(crashCopy(t, s)), `"item":"a","outcome"`) {
		t.Error("the end record was not written")
	}
	mu.Lock()
	item = "c"
	mu.Unlock()
	if err := j.EndSynced("c", "applied", raw(`"c"`), []string{"/bad"}); err == nil || !strings.Contains(err.Error(), "/bad") {
		t.Errorf("end after a failed directory fsync: %v", err)
	}
	if strings.Contains(string(crashCopy(t, s)), `"item":"c","outcome"`) {
		t.Error("an end record was written although its directory could not be fsynced")
	}
	must(t, j.End("d", "applied", raw(`"d"`)))
	must(t, j.Close("complete"))
}

// Records are encoded without reflection exactly as json.Marshal encodes
// them, and those it cannot encode so fall back to it.
func TestRecordEncodingIsJSONs(t *testing.T) {
	at := time.Date(2026, 12, 3, 16, 1, 2, 345678900, time.UTC)
	state, err := normalizeState([]byte(`{"path": "/a/<b>&c", "n": [1, 2.5e3, null], "s": "\u2028é"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []record{
		{V: 2, Kind: kindJournal, ID: "0123abcd", Time: at},
		{V: 2, Kind: kindExecStart, Exec: "20261203-160102-abcdef", Command: "ensure -j 8", Time: at},
		{V: 2, Kind: kindBegin, Exec: "x", Item: "f1", Time: at.Truncate(time.Second)},
		{V: 2, Kind: kindEnd, Exec: "x", Item: "f1", Outcome: "applied", State: state, Time: at},
		{V: 2, Kind: kindEnd, Exec: "x", Item: "f1", Outcome: "failed", Time: at.In(time.FixedZone("x", 3600))},
		{V: 2, Kind: kindSignal, Exec: "x", Stage: "stop", Time: at},
		{V: 2, Kind: kindGroup, Exec: "x", Item: "f1", Pgid: 4242, Start: "boot:123", Time: at},
		{V: 2, Kind: kindBegin, Exec: "x", Item: `a "quoted" <item> & \ é` + "\t\x7f", Time: at},
		{V: 2, Kind: kindEnd, Exec: "x", Item: "f", Outcome: "applied", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		want, werr := json.Marshal(r)
		got, gerr := frameRecord(r)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%+v: error %v, json.Marshal's %v", r, gerr, werr)
			continue
		}
		if werr != nil {
			continue
		}
		payload, _, ok := frameAt(got, 0)
		if !ok || string(payload) != string(want) {
			t.Errorf("encoded\n%s\nwant\n%s", payload, want)
		}
		// What is encoded without reflection is decoded so too.
		if _, plain := appendRecord(nil, &r); plain {
			back, ok := parseRecord(payload)
			if r.Time.Location() != time.UTC {
				r.Time = r.Time.In(back.Time.Location())
			}
			if !ok || !reflect.DeepEqual(back, r) {
				t.Errorf("%s decoded to %+v (%v)", payload, back, ok)
			}
		}
	}
}
