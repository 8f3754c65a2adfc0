package tarx_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/tarx"
	"github.com/peace-go/peace/progress"
)

// A tar_x item built in Go extracts an archive, and refuses one whose
// entries would land outside dest.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	write := func(name string, entries map[string]string) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for path, body := range entries {
			tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(body))})
			tw.Write([]byte(body))
		}
		tw.Close()
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	write("good.tar", map[string]string{"docs/hello.txt": "hello\n"})
	write("evil.tar", map[string]string{"../evil.txt": "gotcha\n"})

	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	for _, archive := range []string{"good.tar", "evil.tar"} {
		it, _ := tarx.New("unpack", tarx.Params{Archive: archive, Dest: "out"}, items.Env{Dir: dir})
		current, _ := it.Current(ctx, fc)
		goal, err := it.Goal(ctx, fc)
		if err != nil {
			fmt.Println(archive+":", strings.ReplaceAll(err.Error(), dir, "DIR"))
			continue
		}
		diff, _ := it.Diff(current, goal)
		fmt.Println(archive+":", diff.Text)
		it.Apply(ctx, fc, current, goal)
	}
	hello, _ := os.ReadFile(filepath.Join(dir, "out", "docs", "hello.txt"))
	fmt.Printf("%q\n", hello)
	// Output:
	// good.tar: docs/hello.txt to add
	// evil.tar: archive DIR/evil.tar: entry "../evil.txt": path contains "..": refused
	// "hello\n"
}
