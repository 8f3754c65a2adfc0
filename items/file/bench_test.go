package file_test

import (
	"context"
	"encoding/json"
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

// BenchmarkDecodeState is the decoding of one recorded state of a file that
// exists, as a no-op run restores one per file item; encoding/json is the
// decoder it replaces.
func BenchmarkDecodeState(b *testing.B) {
	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	it, err := file.New("f", file.Params{Path: "f", Content: "x"}, items.Env{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	goal, _ := it.Goal(ctx, fc)
	s, err := it.Apply(ctx, fc, file.State{}, goal)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("item", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := it.DecodeState(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s file.State
			if err := json.Unmarshal(raw, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
