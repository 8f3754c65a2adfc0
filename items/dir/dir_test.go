package dir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/dir"
	"github.com/peace-go/peace/progress"
)

func build(t *testing.T, base, params string) (items.Item, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(params), &doc); err != nil {
		t.Fatal(err)
	}
	return dir.Type.New("out_dir", doc.Content[0], items.Env{Dir: base})
}

func mustBuild(t *testing.T, base, params string) items.Item {
	t.Helper()
	it, err := build(t, base, params)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// must returns the state an item function returned, failing t on an error.
func must(t *testing.T) func(items.State, error) dir.State {
	return func(s items.State, err error) dir.State {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s.(dir.State)
	}
}

// steps is a Tracker that counts what it was advanced by.
type steps struct{ n int64 }

func (s *steps) SetLimit(progress.Limit) {}
func (s *steps) Advance(n int64)         { s.n += n }
func (s *steps) Message(string)          {}
func (s *steps) Output(string)           {}

var (
	ensure = items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	clean  = items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker}
)

func TestParams(t *testing.T) {
	base := t.TempDir()
	for params, want := range map[string]string{
		`{path: out}`:              "0755",
		`{path: out, mode: 0700}`:  "0700",
		`{path: out, mode: "750"}`: "0750",
	} {
		it := mustBuild(t, base, params)
		g := must(t)(it.Goal(context.Background(), ensure))
		if want := (dir.State{Path: filepath.Join(base, "out"), Exists: true, Mode: want}); g != want {
			t.Errorf("%s: goal %+v, want %+v", params, g, want)
		}
	}
	for params, want := range map[string]string{
		`{mode: 0700}`:            "item out_dir: param path is required",
		`{path: out, mode: 9}`:    `mode "9" is not an octal number like 0644`,
		`{path: out, owner: bob}`: `unknown param "owner" (expected one of: path, mode)`,
	} {
		_, err := build(t, base, params)
		var ie *items.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want an InputError containing %q", params, err, want)
		}
	}
}

func TestEnsure(t *testing.T) {
	base := t.TempDir()
	it := mustBuild(t, base, `{path: a/b/c, mode: 0777}`)
	ctx := context.Background()
	path := filepath.Join(base, "a/b/c")

	cur := must(t)(it.Current(ctx, ensure))
	if want := (dir.State{Path: path}); cur != want {
		t.Errorf("current %+v, want %+v", cur, want)
	}
	goal := must(t)(it.Goal(ctx, ensure))
	if d, _ := it.Diff(cur, goal); d.Text != "absent → present (mode 0777)" {
		t.Errorf("diff %q", d.Text)
	}
	if chk, _ := it.ApplyCheck(ctx, ensure, cur, goal); chk != items.Required(progress.Steps(1)) {
		t.Errorf("apply check %+v", chk)
	}
	if dry := must(t)(it.ApplyDry(ctx, ensure, cur, goal)); dry != goal {
		t.Errorf("dry %+v", dry)
	}
	if _, err := os.Stat(filepath.Join(base, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dry run created something: %v", err)
	}
	tr := &steps{}
	got := must(t)(it.Apply(ctx, items.FnCtx{Op: items.OpEnsure, Progress: tr}, cur, goal))
	if got != goal {
		t.Errorf("applied %+v, want %+v", got, goal)
	}
	if tr.n != 1 {
		t.Errorf("advanced %d steps, want 1", tr.n)
	}
	// The mode is exact, umask or not.
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("stat %v %v", fi, err)
	}
	cur = must(t)(it.Current(ctx, ensure))
	if chk, _ := it.ApplyCheck(ctx, ensure, cur, goal); chk.Required {
		t.Errorf("after apply still required: %+v", cur)
	}

	// An existing directory with another mode gets chmodded.
	if err := os.Chmod(path, 0o700); err != nil {
		t.Fatal(err)
	}
	cur = must(t)(it.Current(ctx, ensure))
	if d, _ := it.Diff(cur, goal); d.Text != "mode 0700 → 0777" {
		t.Errorf("diff %q", d.Text)
	}
	if got := must(t)(it.Apply(ctx, ensure, cur, goal)); got != goal {
		t.Errorf("applied %+v, want %+v", got, goal)
	}
}

func TestFileInTheWay(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "out")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	it := mustBuild(t, base, `{path: out}`)
	ctx := context.Background()
	if _, err := it.Current(ctx, ensure); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("current: error %v", err)
	}
	goal := must(t)(it.Goal(ctx, ensure))
	if _, err := it.Apply(ctx, ensure, dir.State{Path: path}, goal); err == nil {
		t.Error("ensure over a file succeeded")
	}
	if _, err := it.Apply(ctx, clean, goal, dir.State{Path: path}); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("clean of a file: error %v", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "x" {
		t.Errorf("the file was touched: %q %v", data, err)
	}
}

func TestClean(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "out")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	it := mustBuild(t, base, `{path: out}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, clean))
	target := must(t)(it.Clean(ctx, clean))
	if want := (dir.State{Path: path}); target != want {
		t.Errorf("clean state %+v, want %+v", target, want)
	}
	if d, _ := it.Diff(cur, target); d.Text != "present → absent" {
		t.Errorf("diff %q", d.Text)
	}
	if got := must(t)(it.Apply(ctx, clean, cur, target)); got != target {
		t.Errorf("applied %+v", got)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("still there: %v", err)
	}
	// Already gone is fine, and needs nothing.
	if _, err := it.Apply(ctx, clean, cur, target); err != nil {
		t.Errorf("second clean: %v", err)
	}
	if chk, _ := it.ApplyCheck(ctx, clean, target, target); chk.Required {
		t.Error("clean of a missing directory is required")
	}
}

func TestCleanNotEmptyNamesWhatIsLeft(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "out")
	if err := os.MkdirAll(filepath.Join(path, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := os.WriteFile(filepath.Join(path, fmt.Sprintf("f%d.txt", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	it := mustBuild(t, base, `{path: out}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, clean))
	target := must(t)(it.Clean(ctx, clean))
	_, err := it.Apply(ctx, clean, cur, target)
	want := "directory " + path + " is not empty, not removing it: it holds f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 2 more"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
	if entries, _ := os.ReadDir(path); len(entries) != 7 {
		t.Errorf("clean removed contents: %d entries left", len(entries))
	}

	// A few entries are all named; directories end in a slash.
	for i := range 6 {
		os.Remove(filepath.Join(path, fmt.Sprintf("f%d.txt", i)))
	}
	_, err = it.Apply(ctx, clean, cur, target)
	if want := "it holds sub/"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %v, want it to end with %q", err, want)
	}
}

func TestCancelled(t *testing.T) {
	base := t.TempDir()
	it := mustBuild(t, base, `{path: out}`)
	goal := must(t)(it.Goal(context.Background(), ensure))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := it.Apply(ctx, ensure, dir.State{Path: goal.Path}, goal); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(goal.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled apply created the directory: %v", err)
	}
}

func TestStateJSON(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{path: out}`)
	for _, s := range []dir.State{{Path: "/out"}, {Path: "/out", Exists: true, Mode: "0755"}} {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Exists && string(data) != `{"path":"/out","exists":false}` {
			t.Errorf("absent state JSON %s", data)
		}
		back, err := it.DecodeState(data)
		if err != nil || back != s {
			t.Errorf("round trip %s = %+v, %v", data, back, err)
		}
	}
}

func TestDiffEqual(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{path: out}`)
	s := dir.State{Path: "/out", Exists: true, Mode: "0755"}
	if d, err := it.Diff(s, s); err != nil || !d.Equal || d.Text != "" {
		t.Errorf("diff of equal states %+v, %v", d, err)
	}
}

// A file write killed between its temporary file and the rename leaves
// ".NAME.peace-tmp-*" behind: clean removes it with the directory, and still
// refuses a directory that holds anything else.
func TestCleanRemovesPeaceLeftovers(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "out")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(path, ".f0.txt.peace-tmp-xyz")
	user := filepath.Join(path, "notes.txt")
	for _, f := range []string{leftover, user} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	it := mustBuild(t, base, `{path: out}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, clean))
	target := must(t)(it.Clean(ctx, clean))
	_, err := it.Apply(ctx, clean, cur, target)
	if err == nil || !strings.HasSuffix(err.Error(), "it holds notes.txt") {
		t.Fatalf("clean with a user file: error %v, want it to name only notes.txt", err)
	}
	if _, err := os.Stat(user); err != nil {
		t.Errorf("user file removed: %v", err)
	}
	if err := os.WriteFile(leftover, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(user); err != nil {
		t.Fatal(err)
	}
	if got := must(t)(it.Apply(ctx, clean, cur, target)); got != target {
		t.Errorf("applied %+v", got)
	}
	if entries, err := os.ReadDir(base); err != nil || len(entries) != 0 {
		t.Errorf("left behind: %v (%v)", entries, err)
	}
}

// Every directory an apply makes or removes is an entry in its parent: the
// parent's fsync is left to the DirSyncs the apply's context carries, for
// the block to make before the apply's record.
func TestApplyLeavesParentSyncs(t *testing.T) {
	base := t.TempDir()
	it := mustBuild(t, base, `{path: a/b/c}`)
	var ds durable.DirSyncs
	ctx := durable.WithDirSyncs(context.Background(), &ds)
	goal := must(t)(it.Goal(ctx, ensure))
	must(t)(it.Apply(ctx, ensure, dir.State{}, goal))
	want := []string{filepath.Join(base, "a/b"), filepath.Join(base, "a"), base}
	if got := ds.Take(); !slices.Equal(got, want) {
		t.Errorf("made a/b/c: left to sync %v, want %v", got, want)
	}
	must(t)(it.Apply(ctx, ensure, goal, goal))
	if got := ds.Take(); len(got) != 0 {
		t.Errorf("made nothing: left to sync %v", got)
	}
	target := must(t)(it.Clean(ctx, clean))
	must(t)(it.Apply(ctx, clean, goal, target))
	if got := ds.Take(); !slices.Equal(got, []string{filepath.Join(base, "a/b")}) {
		t.Errorf("removed a/b/c: left to sync %v", got)
	}
}
