package cmdctx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/builtin"
)

const cachedFlow = "flow: cached\nitems:\n  - {id: a, type: file, params: {path: out/a.txt, content: \"a\"}}\n"

// cacheFiles lists the flow cache of a workspace.
func cacheFiles(t *testing.T, ws string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(ws, flowCacheDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestFlowCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, []byte(cachedFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dir, ".peace")
	reg := builtin.Registry()
	load := func(write bool) *items.Flow {
		t.Helper()
		f, err := LoadFlow(path, reg, FlowCache(ws, write))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	// No workspace yet: the cache does not make one.
	load(true)
	if _, err := os.Stat(ws); !os.IsNotExist(err) {
		t.Fatalf("workspace made by the flow cache: %v", err)
	}
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	// A reader never writes it.
	load(false)
	if got := cacheFiles(t, ws); len(got) != 0 {
		t.Fatalf("a reader wrote %v", got)
	}
	load(true)
	got := cacheFiles(t, ws)
	if len(got) != 1 || !strings.HasSuffix(got[0], ".nodes") {
		t.Fatalf("cache = %v, want one .nodes file", got)
	}
	cached, err := os.ReadFile(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if f := load(false); f.ID != "cached" || len(f.IDs()) != 1 {
		t.Fatalf("flow from the cache: %q %v", f.ID, f.IDs())
	}

	// A damaged cache file is no error, and a writer replaces it.
	if err := os.WriteFile(got[0], cached[:len(cached)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if f := load(true); f.ID != "cached" {
		t.Fatalf("flow = %q", f.ID)
	}
	if b, _ := os.ReadFile(got[0]); string(b) != string(cached) {
		t.Fatal("damaged cache not rewritten")
	}

	// The flow file changes: the new file is loaded, not the cached tree,
	// and its mistakes are reported at their line and column.
	bad := strings.Replace(cachedFlow, "type: file", "type: fiel", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFlow(path, reg, FlowCache(ws, true))
	if err == nil || !strings.Contains(err.Error(), "flow.yaml:3:") || !strings.Contains(err.Error(), `"fiel"`) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(got[0]); string(b) != string(cached) {
		t.Fatal("a flow with a mistake was cached")
	}
	// A leftover temporary file of the cache is removed by the next write.
	good := strings.Replace(cachedFlow, "cached", "changed", 1)
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(got[0]), "."+filepath.Base(got[0])+".peace-tmp-1234")
	if err := os.WriteFile(tmp, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	durable.ForgetSweeps() // as a new process would
	if f := load(true); f.ID != "changed" {
		t.Fatalf("flow = %q", f.ID)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary file kept: %v", err)
	}
	if b, _ := os.ReadFile(got[0]); string(b) == string(cached) {
		t.Fatal("the changed flow was not cached")
	}
}
