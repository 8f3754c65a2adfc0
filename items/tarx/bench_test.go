package tarx

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// benchArchive is W3's payload: 2000 files of 10,000 random bytes, gzipped.
func benchArchive(b *testing.B) *fixture {
	f := &fixture{t: b, dir: b.TempDir()}
	f.x = NewExtract(Params{Archive: "dl/payload.tar.gz", Dest: "out"}, items.Env{Dir: f.dir})
	f.item = f.x.Item("unpack")
	ents := make([]ent, 2000)
	for i := range ents {
		ents[i] = file(fmt.Sprintf("data/f%d.bin", i), string(randomBytes(10000)))
	}
	if err := os.MkdirAll(filepath.Dir(f.x.Archive), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(f.x.Archive, archiveBytes(f.t, true, ents...), 0o644); err != nil {
		b.Fatal(err)
	}
	return f
}

func randomBytes(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

// BenchmarkExtract measures a first ensure: goal (read every header), then
// extract every file.
func BenchmarkExtract(b *testing.B) {
	f := benchArchive(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(f.x.Dest)
		f.stored = nil
		b.StartTimer()
		if applied, err := f.run(ctx, items.OpEnsure, progress.NoTracker); err != nil || !applied {
			b.Fatal(applied, err)
		}
	}
}

// BenchmarkNoop measures an ensure with nothing to do: stat every entry,
// goal from the record.
func BenchmarkNoop(b *testing.B) {
	f := benchArchive(b)
	ctx := context.Background()
	if _, err := f.run(ctx, items.OpEnsure, progress.NoTracker); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if applied, err := f.run(ctx, items.OpEnsure, progress.NoTracker); err != nil || applied {
			b.Fatal(applied, err)
		}
	}
}

// BenchmarkScan measures reading every header of the archive.
func BenchmarkScan(b *testing.B) {
	f := benchArchive(b)
	for b.Loop() {
		if _, _, err := scan(context.Background(), f.x.Archive); err != nil {
			b.Fatal(err)
		}
	}
}
