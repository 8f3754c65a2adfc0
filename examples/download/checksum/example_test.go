package checksum_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/peace-go/peace/examples/download/checksum"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/builtin"
	"github.com/peace-go/peace/progress"
)

// An item written in Go runs like a built-in: discover its current and goal
// states, diff them, ask whether an apply is needed, apply.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "checksum")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "out", "a.txt"), []byte("alpha\n"), 0o644)

	it, err := checksum.New("sums", checksum.Params{Dir: "out", Output: "out/SHA256SUMS"}, items.Env{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	current, _ := it.Current(ctx, fc)
	goal, _ := it.Goal(ctx, fc)
	diff, _ := it.Diff(current, goal)
	check, _ := it.ApplyCheck(ctx, fc, current, goal)
	fmt.Println(diff.Text)
	fmt.Println("apply needed:", check.Required, check.Limit.Kind, check.Limit.Total)

	applied, _ := it.Apply(ctx, fc, current, goal)
	diff, _ = it.Diff(applied, goal)
	fmt.Println("at goal:", diff.Equal)
	sums, _ := os.ReadFile(filepath.Join(dir, "out", "SHA256SUMS"))
	fmt.Print(string(sums))
	// Output:
	// absent → 1 files (sha256 9d8bca13ebed…)
	// apply needed: true steps 1
	// at goal: true
	// b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060  a.txt
}

// A flow file can use the type once it is in the registry next to the
// built-ins.
func Example_registry() {
	reg := builtin.Registry()
	reg.Add(checksum.Type)

	flow, err := items.Parse("flow.yaml", []byte(`
flow: fetch
items:
  - id: payload
    type: file_download
    params: {url: "http://127.0.0.1:8000/payload.tar.gz", dest: dl/payload.tar.gz}
  - id: unpack
    type: tar_x
    depends_on: [payload]
    params: {archive: dl/payload.tar.gz, dest: out}
  - id: sums
    type: checksum_file
    depends_on: [unpack]
    params: {dir: out, output: out/SHA256SUMS}
`), "/srv/fetch", reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range flow.Items() {
		fmt.Println(it.ID(), it.Type(), flow.Deps(it.ID()))
	}
	// Output:
	// payload file_download []
	// unpack tar_x [payload]
	// sums checksum_file [unpack]
}
