package file_test

import (
	"context"
	"strings"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/file"
	"github.com/peace-go/peace/progress"
)

// BenchmarkCurrent is the discovery of a 4 KiB file at its goal: open,
// stat, hash.
func BenchmarkCurrent(b *testing.B) {
	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	it, err := file.New("f", file.Params{Path: "f", Content: strings.Repeat("x", 4096)}, items.Env{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	goal, _ := it.Goal(ctx, fc)
	if _, err := it.Apply(ctx, fc, file.State{}, goal); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := it.Current(ctx, fc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply is one durable write of a 4 KiB file: temp file, fsync,
// rename, directory fsync. The file is removed between writes so each one
// writes.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	it, err := file.New("f", file.Params{Path: "f", Content: strings.Repeat("x", 4096)}, items.Env{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	goal, _ := it.Goal(ctx, fc)
	absent, _ := it.Clean(ctx, fc)
	for b.Loop() {
		if _, err := it.Apply(ctx, fc, absent, goal); err != nil {
			b.Fatal(err)
		}
		if _, err := it.Apply(ctx, items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker}, goal, absent); err != nil {
			b.Fatal(err)
		}
	}
}
