package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

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

// The file type as a flow file uses it: params in YAML, paths relative to
// the flow's directory.
func ExampleType() {
	var params yaml.Node
	_ = yaml.Unmarshal([]byte(`{path: out/greeting.txt, content: "hello\n", mode: 0640}`), &params)

	it, err := file.Type.New("greeting", params.Content[0], items.Env{Dir: "/srv/site"})
	if err != nil {
		fmt.Println(err)
		return
	}
	goal, _ := it.Goal(context.Background(), items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker})
	g := goal.(file.State)
	fmt.Println(it.Type(), it.ID(), g.Path, g.Size, g.Mode)

	// A mistake in the params is an input error with its position.
	_ = yaml.Unmarshal([]byte(`{path: a, mode: rw-r--r--}`), &params)
	_, err = file.Type.New("greeting", params.Content[0], items.Env{Dir: "/srv/site"})
	fmt.Println(err)
	// Output:
	// file greeting /srv/site/out/greeting.txt 6 0640
	// 1:17: mode "rw-r--r--" is not an octal number like 0644
}
