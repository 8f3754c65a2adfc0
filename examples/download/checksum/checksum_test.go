package checksum

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

func TestGoalFollowsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	it, err := New("sums", Params{Dir: "out", Output: "out/SHA256SUMS"}, items.Env{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}

	if _, err := it.Goal(ctx, fc); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("goal without the directory: %v", err)
	}
	out := filepath.Join(dir, "out")
	os.MkdirAll(filepath.Join(out, "sub"), 0o755)
	os.WriteFile(filepath.Join(out, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(out, "sub", "b"), []byte("b"), 0o644)

	ensure := func() items.State {
		t.Helper()
		cur, err := it.Current(ctx, fc)
		if err != nil {
			t.Fatal(err)
		}
		goal, err := it.Goal(ctx, fc)
		if err != nil {
			t.Fatal(err)
		}
		chk, err := it.ApplyCheck(ctx, fc, cur, goal)
		if err != nil || !chk.Required {
			return cur
		}
		s, err := it.Apply(ctx, fc, cur, goal)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := ensure().(State)
	if s.Files != 2 {
		t.Fatalf("state %+v: want 2 files (the output is not listed)", s)
	}
	if again := ensure().(State); again != s {
		t.Fatalf("second ensure changed %+v to %+v", s, again)
	}
	os.WriteFile(filepath.Join(out, "a"), []byte("changed"), 0o644)
	if changed := ensure().(State); changed.SHA256 == s.SHA256 {
		t.Fatal("a changed file did not change the sums")
	}

	clean, _ := it.Clean(ctx, fc)
	cur, _ := it.Current(ctx, fc)
	if _, err := it.Apply(ctx, items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker}, cur, clean); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "SHA256SUMS")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("clean left the output: %v", err)
	}
}
