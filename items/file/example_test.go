package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/file"
	"github.com/peace-go/peace/progress"
)

// A file item built in Go: discover, diff, apply, and discover again.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	it, _ := file.New("greeting", file.Params{Path: "greeting.txt", Content: "hello\n", Mode: file.Perm(0o600)}, items.Env{Dir: dir})
	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}

	current, _ := it.Current(ctx, fc)
	goal, _ := it.Goal(ctx, fc)
	diff, _ := it.Diff(current, goal)
	fmt.Println(diff.Text)

	applied, _ := it.Apply(ctx, fc, current, goal)
	diff, _ = it.Diff(applied, goal)
	fmt.Println("at goal:", diff.Equal)

	content, _ := os.ReadFile(filepath.Join(dir, "greeting.txt"))
	fmt.Printf("%q %s\n", content, applied.(file.State).Mode)
	// Output:
	// absent → present (6 bytes, sha256 5891b5b5…)
	// at goal: true
	// "hello\n" 0600
}
