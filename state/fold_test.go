package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// A fold that changes nothing leaves the snapshot files alone (no rewrite,
// no fsync); one that changes a state rewrites them.
func TestFoldWithoutChangeWritesNothing(t *testing.T) {
	s := Open(t.TempDir())
	states := map[string]json.RawMessage{"a": json.RawMessage(`"on"`)}
	if err := s.Fold(states, states); err != nil {
		t.Fatal(err)
	}
	cur, goal := filepath.Join(s.Path(), "states_current.yaml"), filepath.Join(s.Path(), "states_goal.yaml")
	before := [2]uint64{inode(t, cur), inode(t, goal)}
	if err := s.Fold(states, states); err != nil {
		t.Fatal(err)
	}
	if after := [2]uint64{inode(t, cur), inode(t, goal)}; after != before {
		t.Errorf("unchanged fold rewrote the snapshots: inodes %v -> %v", before, after)
	}
	if err := s.Fold(map[string]json.RawMessage{"a": json.RawMessage(`"off"`)}, nil); err != nil {
		t.Fatal(err)
	}
	if inode(t, cur) == before[0] {
		t.Error("a changed state did not rewrite states_current.yaml")
	}
	rec, err := s.Load()
	if err != nil || string(rec.Current["a"]) != `"off"` || string(rec.Goal["a"]) != `"on"` {
		t.Errorf("recorded %v %v, %v", rec.Current, rec.Goal, err)
	}
}

// A large state (a tar_x item's list of entries) is read without the YAML
// parser; only a state with an object key too long for a plain YAML key
// needs it.
func TestLargeStatesReadCanonically(t *testing.T) {
	big := []byte(`{"entries":[` + strings.Repeat(`{"path":"data/f.bin","size":10000},`, 200) + `{"path":"x"}]}`)
	data := encodeSnapshot(map[string]json.RawMessage{"unpack": big}, nil, nil, foldMark{})
	snap, ok := decodeCanonical(summed(t, data))
	if !ok || string(snap.states["unpack"]) != string(big) {
		t.Fatalf("canonical read of a %d-byte state: ok %v", len(big), ok)
	}
	longKey := []byte(`{"` + strings.Repeat("k", 1100) + `":1}`)
	data = encodeSnapshot(map[string]json.RawMessage{"odd": longKey}, nil, nil, foldMark{})
	if _, ok := decodeCanonical(summed(t, data)); ok {
		t.Error("a state with a long key was read canonically")
	}
	snap, err := decodeSnapshot(data)
	if err != nil || string(snap.states["odd"]) != string(longKey) {
		t.Errorf("long key through YAML: %v %s", err, snap.states["odd"])
	}
}

// Each read of a snapshot gives its reader states of its own: what a caller
// changes in what it got never reaches the next reader.
func TestSnapshotReadsAreIndependent(t *testing.T) {
	s := Open(t.TempDir())
	if err := s.Fold(map[string]json.RawMessage{"a": json.RawMessage(`"on"`)}, nil); err != nil {
		t.Fatal(err)
	}
	first, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	first.Current["a"] = json.RawMessage(`"changed by a caller"`)
	first.Current["b"] = json.RawMessage(`"added by a caller"`)
	second, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Current["a"]) != `"on"` || second.Current["b"] != nil {
		t.Errorf("second read %v", second.Current)
	}
	// Another writer's change is seen: the bytes differ, so they are parsed.
	other := Open(s.Path())
	if err := other.Fold(map[string]json.RawMessage{"a": json.RawMessage(`"off"`)}, nil); err != nil {
		t.Fatal(err)
	}
	third, err := s.Load()
	if err != nil || string(third.Current["a"]) != `"off"` {
		t.Errorf("after another writer: %v, %v", third.Current, err)
	}
}

// A fold given exactly what is recorded, as a no-op run gives it, neither
// encodes nor writes a snapshot; one that only clears an unknown item, or
// changes one state among many, does.
func TestFoldOfUnchangedStatesEncodesNothing(t *testing.T) {
	s := Open(t.TempDir())
	states := map[string]json.RawMessage{}
	for i := range 100 {
		states[fmt.Sprintf("i%d", i)] = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
	}
	if err := s.Fold(states, states); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(s.Path(), "states_current.yaml")
	before := inode(t, cur)
	n := snapshotEncodes.Load()
	if err := s.Fold(states, states); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := snapshotEncodes.Load() - n; got != 0 {
		t.Errorf("an unchanged fold and a recovery encoded %d snapshots", got)
	}
	if inode(t, cur) != before {
		t.Error("an unchanged fold rewrote states_current.yaml")
	}
	// Deleting what is not recorded is no change either.
	if err := s.Fold(map[string]json.RawMessage{"gone": nil}, nil); err != nil {
		t.Fatal(err)
	}
	if got := snapshotEncodes.Load() - n; got != 0 {
		t.Errorf("deleting an unrecorded item encoded %d snapshots", got)
	}

	// Equal JSON in another spelling is normalized, found equal, and
	// written nowhere.
	if err := s.Fold(map[string]json.RawMessage{"i1": json.RawMessage(`{ "n": 1 }`)}, nil); err != nil {
		t.Fatal(err)
	}
	if inode(t, cur) != before {
		t.Error("a differently spelled equal state rewrote states_current.yaml")
	}

	// The parse cache keeps no states, so a fold cannot change them in
	// place; what a fold changes is read from the file again.
	if cached, ok := s.parsed[s.currentPath()]; !ok || cached.states != nil || cached.raw != nil {
		t.Errorf("the parse cache holds %d states, %d bytes (cached: %v)", len(cached.states), len(cached.raw), ok)
	}
	changed := maps.Clone(states)
	changed["i7"] = json.RawMessage(`{"n":700}`)
	delete(changed, "i9")
	changed["i9"] = nil
	if err := s.Fold(changed, nil); err != nil {
		t.Fatal(err)
	}
	delete(changed, "i9")
	rec, err := s.Load()
	if err != nil || string(rec.Current["i7"]) != `{"n":700}` || string(rec.Current["i8"]) != `{"n":8}` || len(rec.Current) != 99 {
		t.Fatalf("after one change: %s %s (%d states), %v", rec.Current["i7"], rec.Current["i8"], len(rec.Current), err)
	}

	// An unknown item given its recorded state again is no longer unknown.
	j := openJournal(t, s)
	must(t, j.Begin("i3"))
	crashed := crashCopy(t, s) // the process dies while i3 is applied
	must(t, j.Close("complete"))
	restoreJournal(t, s, crashed)
	if rec, err = s.Recover(); err != nil || !slices.Equal(rec.Unknown, []string{"i3"}) {
		t.Fatalf("recover: unknown %v, %v", rec.Unknown, err)
	}
	if err := s.Fold(changed, nil); err != nil {
		t.Fatal(err)
	}
	if rec, err = s.Load(); err != nil || len(rec.Unknown) != 0 {
		t.Errorf("after the fold: unknown %v, %v", rec.Unknown, err)
	}
}

// compactJSON agrees with encoding/json: valid, and unchanged by Compact.
func TestCompactJSON(t *testing.T) {
	for _, s := range compactJSONCases {
		if got, want := compactJSON([]byte(s)), compactByJSON([]byte(s)); got != want {
			t.Errorf("compactJSON(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

var compactJSONCases = []string{
	``, `1`, `-0`, `-01`, `01`, `1.`, `1.5e+3`, `1E-2`, `1e`, `-`, `+1`, `.5`, `1.5.5`,
	`"a"`, `"\u00e9\n\"\\\/"`, `"\u00g0"`, `"\x"`, "\"\x01\"", `"ab`, `"`, "\"\xff\"",
	`true`, `tru`, `false`, `null`, `nul`, `truex`,
	`[]`, `[1,2]`, `[1,]`, `[,1]`, `[1 ,2]`, ` []`, `[] `, `[[[]]]`, `[`, `]`,
	`{}`, `{"a":1}`, `{"a":1,}`, `{"a" :1}`, `{a:1}`, `{"a":1,"b":[true,null,{"c":"d"}]}`, `{"a"}`, `{"a":}`, `{`,
	`{"path":"/x","exists":true,"size":14,"seen":{"mtime_ns":1796307898394048456}}`,
	"[1,\n2]", `1 2`, `{}{}`,
}

func compactByJSON(s []byte) bool {
	var buf bytes.Buffer
	return json.Compact(&buf, s) == nil && bytes.Equal(buf.Bytes(), s)
}

func FuzzCompactJSON(f *testing.F) {
	for _, s := range compactJSONCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if got, want := compactJSON(s), compactByJSON(s); got != want && jsonDepth(s) <= maxDepth {
			t.Errorf("compactJSON(%q) = %v, encoding/json says %v", s, got, want)
		}
	})
}

// RecoverEach hands on exactly the states Recover returns, whether they
// come from a canonical snapshot, one read as YAML, or a journal replayed
// over a snapshot; and it leaves the snapshots as Recover would.
func TestRecoverEachHandsOnWhatRecoverReturns(t *testing.T) {
	collect := func(s *Store) (cur, goal map[string]string, rec *Recorded) {
		cur, goal = map[string]string{}, map[string]string{}
		rec, err := s.RecoverEach(func(id []byte, current bool, st json.RawMessage) {
			m := goal
			if current {
				m = cur
			}
			if _, dup := m[string(id)]; dup {
				t.Errorf("%s handed on twice (current %v)", id, current)
			}
			m[string(id)] = string(st)
		})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Current != nil || rec.Goal != nil {
			t.Errorf("RecoverEach returned maps of states: %d, %d", len(rec.Current), len(rec.Goal))
		}
		return cur, goal, rec
	}
	asStrings := func(m map[string]json.RawMessage) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	check := func(name string, s *Store) {
		t.Helper()
		// Both on copies of the same directory: each recovery folds.
		other := Open(t.TempDir())
		for _, f := range []string{currentFile, goalFile, journalFile} {
			if b, err := os.ReadFile(filepath.Join(s.Path(), f)); err == nil {
				must(t, os.WriteFile(filepath.Join(other.Path(), f), b, 0o644))
			}
		}
		want, err := other.Recover()
		if err != nil {
			t.Fatal(err)
		}
		cur, goal, rec := collect(s)
		if !maps.Equal(cur, asStrings(want.Current)) || !maps.Equal(goal, asStrings(want.Goal)) {
			t.Errorf("%s: handed on %v / %v, Recover %v / %v", name, cur, goal, asStrings(want.Current), asStrings(want.Goal))
		}
		if !slices.Equal(rec.Unknown, want.Unknown) {
			t.Errorf("%s: unknown %v, Recover %v", name, rec.Unknown, want.Unknown)
		}
		for _, f := range []string{"states_current.yaml", "states_goal.yaml"} {
			a, _ := os.ReadFile(filepath.Join(s.Path(), f))
			b, _ := os.ReadFile(filepath.Join(other.Path(), f))
			if !bytes.Equal(a, b) {
				t.Errorf("%s: %s after RecoverEach differs from after Recover", name, f)
			}
		}
	}

	s := Open(t.TempDir())
	states := map[string]json.RawMessage{}
	for i := range 50 {
		states[fmt.Sprintf("i%d", i)] = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
	}
	must(t, s.Fold(states, map[string]json.RawMessage{"i1": json.RawMessage(`"g"`)}))
	check("canonical", s)
	check("canonical, parsed before", s) // from the parse cache this time

	// A journal to replay: one item applied, one begun and never ended.
	j := openJournal(t, s)
	must(t, j.Begin("i2"))
	must(t, j.End("i2", "applied", json.RawMessage(`{"n":200}`)))
	must(t, j.Begin("i3"))
	crashed := crashCopy(t, s)
	must(t, j.Close("complete"))
	restoreJournal(t, s, crashed)
	check("journal replayed", s)

	// An older format, read as YAML.
	y := Open(t.TempDir())
	must(t, os.WriteFile(filepath.Join(y.Path(), "states_current.yaml"),
		[]byte("version: 1\nstates:\n  a: {\"x\":1}\n  b: \"s\"\nunknown:\n  - c\n"), 0o644))
	check("version 1", y)
}
