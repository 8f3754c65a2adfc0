package state

import (
	"encoding/json"
	"os"
	"path/filepath"
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

// A snapshot read twice is parsed once, and what a caller changes in what it
// got never reaches the next reader.
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
