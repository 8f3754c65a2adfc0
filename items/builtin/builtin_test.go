package builtin_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/builtin"
	"github.com/peace-go/peace/progress"
)

func TestRegistryHasTheFirstWave(t *testing.T) {
	names := builtin.Registry().Names()
	for _, want := range []string{"dir", "file", "sh_cmd"} {
		if !slices.Contains(names, want) {
			t.Errorf("registry %v lacks %q", names, want)
		}
	}
	// Each call is a fresh registry: adding to one leaves the next alone.
	r := builtin.Registry()
	r.Add(items.Type{Name: "custom"})
	if _, ok := builtin.Registry().Lookup("custom"); ok {
		t.Error("Registry returned a shared registry")
	}
}

// The flow of DESIGN §4, loaded and run by hand in its order: ensure, a
// second ensure that has nothing to do, then clean in reverse order.
const helloFlow = `flow: hello
items:
  - id: out_dir
    type: dir
    params: {path: out}
  - id: greeting
    type: file
    depends_on: [out_dir]
    params: {path: out/greeting.txt, content: "hello\n"}
  - id: build
    type: sh_cmd
    depends_on: [greeting]
    params:
      current: "cat out/built 2>/dev/null || echo absent"
      goal: "echo built"
      ensure: "echo built > out/built"
      clean: "rm -f out/built"
      clean_state: "echo absent"
`

func TestHelloFlow(t *testing.T) {
	dir := t.TempDir()
	flow, err := items.Parse("flow.yaml", []byte(helloFlow), dir, builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ensure := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	clean := items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker}

	run := func(fc items.FnCtx, list []items.Item, target func(items.Item) (items.State, error)) (applied []items.ID) {
		t.Helper()
		for _, it := range list {
			cur, err := it.Current(ctx, fc)
			if err != nil {
				t.Fatalf("%s: current: %v", it.ID(), err)
			}
			tgt, err := target(it)
			if err != nil {
				t.Fatalf("%s: target: %v", it.ID(), err)
			}
			chk, err := it.ApplyCheck(ctx, fc, cur, tgt)
			if err != nil {
				t.Fatalf("%s: apply check: %v", it.ID(), err)
			}
			if !chk.Required {
				continue
			}
			got, err := it.Apply(ctx, fc, cur, tgt)
			if err != nil {
				t.Fatalf("%s: apply: %v", it.ID(), err)
			}
			if d, _ := it.Diff(got, tgt); !d.Equal {
				t.Errorf("%s: applied state differs from the target: %s", it.ID(), d.Text)
			}
			applied = append(applied, it.ID())
		}
		return applied
	}
	goal := func(it items.Item) (items.State, error) { return it.Goal(ctx, ensure) }
	cleanState := func(it items.Item) (items.State, error) { return it.Clean(ctx, clean) }

	if got := run(ensure, flow.Items(), goal); !slices.Equal(got, []items.ID{"out_dir", "greeting", "build"}) {
		t.Errorf("first ensure applied %v", got)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out/greeting.txt")); err != nil || string(data) != "hello\n" {
		t.Errorf("greeting: %q %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out/built")); err != nil || string(data) != "built\n" {
		t.Errorf("built: %q %v", data, err)
	}
	if got := run(ensure, flow.Items(), goal); len(got) != 0 {
		t.Errorf("second ensure applied %v, want nothing", got)
	}

	reversed := slices.Clone(flow.Items())
	slices.Reverse(reversed)
	if got := run(clean, reversed, cleanState); !slices.Equal(got, []items.ID{"build", "greeting", "out_dir"}) {
		t.Errorf("clean applied %v", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("clean left %v", entries)
	}
}
