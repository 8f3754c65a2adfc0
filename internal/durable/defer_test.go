package durable

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Every level MkdirAll makes is an entry of its parent: each such parent
// is synced, and no other.
func TestMkdirAllSyncsEveryNewLevel(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	var d DirSyncs
	ctx := WithDirSyncs(context.Background(), &d)
	path := filepath.Join(root, "a", "b", "c")
	if err := MkdirAll(ctx, path, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("not made: %v", err)
	}
	got := d.Take()
	slices.Sort(got)
	want := []string{filepath.Join(root, "a"), filepath.Join(root, "a", "b")}
	if !slices.Equal(got, want) {
		t.Errorf("synced %q, want %q", got, want)
	}
	// Nothing new: nothing to sync.
	if err := MkdirAll(ctx, path, 0o755); err != nil || len(d.Take()) != 0 {
		t.Errorf("an existing directory: %v", err)
	}
}
