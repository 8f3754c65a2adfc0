package state

import (
	"encoding/json"
	"os"
	"path/filepath"
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
