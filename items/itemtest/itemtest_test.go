package itemtest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/file"
	"github.com/peace-go/peace/items/itemtest"
)

func TestApplyEnsureThenClean(t *testing.T) {
	dir := t.TempDir()
	it, err := file.New("note", file.Params{Path: "note.txt", Content: "hi"}, items.Env{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	applied, stored, err := itemtest.Apply(ctx, it, items.OpEnsure, nil, nil)
	if err != nil || !applied {
		t.Fatalf("ensure: applied %v, %v", applied, err)
	}
	if s, ok := stored.(file.State); !ok || !s.Exists {
		t.Fatalf("recorded %#v", stored)
	}
	if applied, _, err = itemtest.Apply(ctx, it, items.OpEnsure, nil, stored); applied || err != nil {
		t.Errorf("second ensure: applied %v, %v", applied, err)
	}
	if applied, _, err = itemtest.Apply(ctx, it, items.OpClean, nil, stored); !applied || err != nil {
		t.Errorf("clean: applied %v, %v", applied, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "note.txt")); !os.IsNotExist(err) {
		t.Errorf("after clean: %v", err)
	}
}
