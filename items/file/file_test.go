package file_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/file"
	"github.com/peace-go/peace/progress"
)

// build makes an item from params written as YAML, the way a flow file does.
func build(t *testing.T, dir, params string) (items.Item, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(params), &doc); err != nil {
		t.Fatal(err)
	}
	return file.Type.New("greeting", doc.Content[0], items.Env{Dir: dir})
}

func mustBuild(t *testing.T, dir, params string) items.Item {
	t.Helper()
	it, err := build(t, dir, params)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// recorder is a Tracker that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	limits   []progress.Limit
	advanced int64
	messages []string
}

func (r *recorder) SetLimit(l progress.Limit) {
	r.mu.Lock()
	r.limits = append(r.limits, l)
	r.mu.Unlock()
}
func (r *recorder) Advance(n int64)  { r.mu.Lock(); r.advanced += n; r.mu.Unlock() }
func (r *recorder) Message(m string) { r.mu.Lock(); r.messages = append(r.messages, m); r.mu.Unlock() }
func (r *recorder) Output(string)    {}

func ensure(tr progress.Tracker) items.FnCtx {
	return items.FnCtx{Op: items.OpEnsure, Progress: tr}
}

func clean() items.FnCtx { return items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker} }

// must returns what the state an item function returned says of the file
// (without Seen), failing t on an error.
func must(t *testing.T) func(items.State, error) file.State {
	return func(s items.State, err error) file.State {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s.(file.State).Content()
	}
}

// tempFiles lists the leftovers of atomic writes in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".peace-tmp-") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestParams(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		params string
		mode   string // goal mode, or
		err    string // error
	}{
		{params: `{path: a}`, mode: "0644"},
		{params: `{path: a, mode: "0600"}`, mode: "0600"},
		{params: `{path: a, mode: 0600}`, mode: "0600"},
		{params: `{path: a, mode: 0o640}`, mode: "0640"},
		{params: `{path: a, mode: 755}`, mode: "0755"},
		{params: `{path: a, mode: "0000"}`, mode: "0000"},
		{params: `{path: a, mode: "0999"}`, err: `mode "0999" is not an octal number like 0644`},
		{params: `{path: a, mode: 04755}`, err: `mode "04755" is out of range: only permission bits 0000-0777 are supported`},
		{params: `{path: a, mode: rw}`, err: `mode "rw" is not an octal number like 0644`},
		{params: `{path: a, mode: [6, 4, 4]}`, err: `mode must be an octal number like 0644`},
		{params: `{content: x}`, err: `item greeting: param path is required`},
		{params: `{path: a, contents: x}`, err: `unknown param "contents" (expected one of: path, content, mode)`},
		{params: `{path: a, content: [x]}`, err: "cannot unmarshal !!seq into string"},
	} {
		t.Run(tc.params, func(t *testing.T) {
			it, err := build(t, dir, tc.params)
			if tc.err != "" {
				var ie *items.InputError
				if !errors.As(err, &ie) || ie.Line != 1 || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v (%T), want an InputError on line 1 containing %q", err, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := must(t)(it.Goal(context.Background(), ensure(progress.NoTracker)))
			if g.Mode != tc.mode {
				t.Errorf("goal mode %s, want %s", g.Mode, tc.mode)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{path: out.txt, content: "hello\n", mode: "0600"}`)
	path := filepath.Join(dir, "out.txt")
	ctx := context.Background()

	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	if want := (file.State{Path: path}); cur != want {
		t.Errorf("current of a missing file = %+v, want %+v", cur, want)
	}
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	want := file.State{Path: path, Exists: true, Size: 6, SHA256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", Mode: "0600"}
	if goal != want {
		t.Errorf("goal = %+v, want %+v", goal, want)
	}
	cl := must(t)(it.Clean(ctx, clean()))
	if want := (file.State{Path: path}); cl != want {
		t.Errorf("clean = %+v, want %+v", cl, want)
	}

	if err := os.WriteFile(path, []byte("hi"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	cur = must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	want = file.State{Path: path, Exists: true, Size: 2, SHA256: "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", Mode: "0640"}
	if cur != want {
		t.Errorf("current = %+v, want %+v", cur, want)
	}

	// A directory where the file should be is not a state, it is an error.
	it = mustBuild(t, dir, `{path: sub}`)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := it.Current(ctx, ensure(progress.NoTracker)); err == nil || !strings.Contains(err.Error(), "is not a regular file (a directory)") {
		t.Errorf("current of a directory: error %v", err)
	}
}

func TestRelativeAndAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "abs.txt")
	for params, want := range map[string]string{
		`{path: rel.txt}`:                filepath.Join(dir, "rel.txt"),
		`{path: sub/../rel.txt}`:         filepath.Join(dir, "rel.txt"),
		`{path: "` + abs + `"}`:          abs,
		`{path: "./a/b/c.txt"}`:          filepath.Join(dir, "a/b/c.txt"),
		`{path: "../up.txt"}`:            filepath.Join(filepath.Dir(dir), "up.txt"),
		`{path: "` + abs + `/"}`:         abs,
		`{path: "rel.txt", content: ""}`: filepath.Join(dir, "rel.txt"),
	} {
		it := mustBuild(t, dir, params)
		g := must(t)(it.Goal(context.Background(), ensure(progress.NoTracker)))
		if g.Path != want {
			t.Errorf("%s: path %s, want %s", params, g.Path, want)
		}
	}
}

func TestApplyEnsureWritesAtomically(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{path: out.txt, content: "hello\n", mode: "0666"}`)
	ctx := context.Background()
	path := filepath.Join(dir, "out.txt")

	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	chk, err := it.ApplyCheck(ctx, ensure(progress.NoTracker), cur, goal)
	if err != nil {
		t.Fatal(err)
	}
	if want := items.Required(progress.Bytes(6)); chk != want {
		t.Errorf("apply check = %+v, want %+v", chk, want)
	}
	tr := &recorder{}
	got := must(t)(it.Apply(ctx, ensure(tr), cur, goal))
	if got != goal {
		t.Errorf("applied state = %+v, want the goal %+v", got, goal)
	}
	if tr.advanced != 6 {
		t.Errorf("progress advanced %d, want 6 bytes", tr.advanced)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "hello\n" {
		t.Fatalf("file holds %q, %v", data, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// 0666 survives the process umask: the mode is set, not requested.
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("mode %v, want 0666", fi.Mode().Perm())
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temp files left: %v", tmp)
	}
	cur = must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	if chk, _ := it.ApplyCheck(ctx, ensure(progress.NoTracker), cur, goal); chk.Required {
		t.Errorf("after apply, apply check still says required (current %+v)", cur)
	}
}

func TestApplyContentChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("old content that is longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	it := mustBuild(t, dir, `{path: out.txt, content: "new"}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	if d, _ := it.Diff(cur, goal); d.Text != "content changes (sha256 b3e5ace4… → 11507a0e…)" {
		t.Errorf("diff %q", d.Text)
	}
	if got := must(t)(it.Apply(ctx, ensure(progress.NoTracker), cur, goal)); got != goal {
		t.Errorf("applied %+v, want %+v", got, goal)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Errorf("file holds %q", data)
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

func TestApplyModeOnlyKeepsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	it := mustBuild(t, dir, `{path: key, content: secret, mode: 0600}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	if d, _ := it.Diff(cur, goal); d.Text != "mode 0644 → 0600" {
		t.Errorf("diff %q", d.Text)
	}
	if chk, _ := it.ApplyCheck(ctx, ensure(progress.NoTracker), cur, goal); chk != items.Required(progress.Steps(1)) {
		t.Errorf("apply check %+v, want one step", chk)
	}
	if got := must(t)(it.Apply(ctx, ensure(progress.NoTracker), cur, goal)); got != goal {
		t.Errorf("applied %+v, want %+v", got, goal)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("a mode change replaced the file; want a chmod")
	}
	if after.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", after.Mode().Perm())
	}
}

func TestApplyMakesMissingParents(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{path: out/deeper/greeting.txt, content: hi}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	if _, err := it.Apply(ctx, ensure(progress.NoTracker), cur, goal); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "deeper", "greeting.txt"))
	if err != nil || string(b) != "hi" {
		t.Fatalf("read back %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "out"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("parent: %v %v", fi, err)
	}
}

func TestApplyThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.txt")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.txt")
	if err := os.Symlink("real.txt", link); err != nil {
		t.Fatal(err)
	}
	it := mustBuild(t, dir, `{path: link.txt, content: new}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	if got := must(t)(it.Apply(ctx, ensure(progress.NoTracker), cur, goal)); got != goal {
		t.Errorf("applied %+v, want %+v", got, goal)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(real); string(data) != "new" {
		t.Errorf("link target holds %q", data)
	}
}

func TestApplyCancelled(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{path: out.txt, content: hi}`)
	goal := must(t)(it.Goal(context.Background(), ensure(progress.NoTracker)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := it.Apply(ctx, ensure(progress.NoTracker), file.State{Path: goal.Path}, goal); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled apply wrote %v", entries)
	}
}

func TestApplyClean(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	it := mustBuild(t, dir, `{path: out.txt, content: hi}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, clean()))
	target := must(t)(it.Clean(ctx, clean()))
	// A clean does not read what it removes: the state says so.
	if want := (file.State{Path: path, Exists: true, Size: 2, Mode: "0644"}); cur != want {
		t.Errorf("current for a clean %+v, want %+v", cur, want)
	}
	if cur.String() != "2 bytes, content not read, 0644" {
		t.Errorf("string %q", cur.String())
	}
	if d, _ := it.Diff(cur, target); d.Text != "present (2 bytes, content not read) → absent" {
		t.Errorf("diff %q", d.Text)
	}
	// An ensure reads it.
	if got := must(t)(it.Current(ctx, ensure(progress.NoTracker))); got.SHA256 != "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4" {
		t.Errorf("current for an ensure %+v", got)
	}
	if chk, _ := it.ApplyCheck(ctx, clean(), cur, target); chk != items.Required(progress.Steps(1)) {
		t.Errorf("apply check %+v, want one step", chk)
	}
	if got := must(t)(it.Apply(ctx, clean(), cur, target)); got != target {
		t.Errorf("applied %+v, want %+v", got, target)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there: %v", err)
	}
	// Already gone is fine.
	if got := must(t)(it.Apply(ctx, clean(), cur, target)); got != target {
		t.Errorf("second clean %+v", got)
	}
	if chk, _ := it.ApplyCheck(ctx, clean(), target, target); chk.Required {
		t.Error("clean of a missing file is required")
	}

	// A directory in its place is not removed.
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := it.Apply(ctx, clean(), cur, target); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("clean of a directory: error %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("directory removed: %v", err)
	}
}

func TestApplyDryTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{path: out.txt, content: hi}`)
	ctx := context.Background()
	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	if got := must(t)(it.ApplyDry(ctx, ensure(progress.NoTracker), cur, goal)); got != goal {
		t.Errorf("dry ensure %+v, want %+v", got, goal)
	}
	if got := must(t)(it.ApplyDry(ctx, clean(), goal, cur)); got != cur {
		t.Errorf("dry clean %+v, want %+v", got, cur)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a dry run wrote %v", entries)
	}
}

func TestDiff(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{path: a}`)
	absent := file.State{Path: "/a"}
	one := file.State{Path: "/a", Exists: true, Size: 1, SHA256: "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", Mode: "0644"}
	twelve := file.State{Path: "/a", Exists: true, Size: 12, SHA256: "ab12cd34ef56", Mode: "0600"}
	for _, tc := range []struct {
		from, to file.State
		want     items.Diff
	}{
		{absent, absent, items.Diff{Equal: true}},
		{one, one, items.Diff{Equal: true}},
		{absent, twelve, items.Diff{Text: "absent → present (12 bytes, sha256 ab12cd34…)"}},
		{absent, one, items.Diff{Text: "absent → present (1 byte, sha256 ca978112…)"}},
		{twelve, absent, items.Diff{Text: "present (12 bytes, sha256 ab12cd34…) → absent"}},
		{one, twelve, items.Diff{Text: "content changes (sha256 ca978112… → ab12cd34…); mode 0644 → 0600"}},
		{absent, file.State{Path: "/b"}, items.Diff{Text: "path /a → /b"}},
	} {
		got, err := it.Diff(tc.from, tc.to)
		if err != nil || got != tc.want {
			t.Errorf("diff %+v → %+v = %+v, %v; want %+v", tc.from, tc.to, got, err, tc.want)
		}
	}
}

func TestStateJSON(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{path: a, content: x}`)
	for _, s := range []file.State{
		{Path: "/a"},
		{Path: "/a", Exists: true, Size: 1, SHA256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", Mode: "0644"},
	} {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Exists && string(data) != `{"path":"/a","exists":false}` {
			t.Errorf("absent state JSON %s keeps fields that mean nothing", data)
		}
		back, err := it.DecodeState(data)
		if err != nil || back != s {
			t.Errorf("round trip %s = %+v, %v", data, back, err)
		}
	}
}

func TestWriteAtomicRemovesTempOnFailure(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory cannot be renamed over.
	target := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := file.WriteAtomic(context.Background(), target, []byte("data"), 0o644); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]fs.FileMode{"0644": 0o644, "644": 0o644, "0o700": 0o700, "0": 0, "777": 0o777} {
		m, err := file.ParseMode(in)
		if err != nil || !m.Set || m.Perm != want {
			t.Errorf("ParseMode(%q) = %+v, %v; want %v", in, m, err, want)
		}
	}
	for _, in := range []string{"", "0o", "+644", "-1", "8", "1000", "0x1ff"} {
		if m, err := file.ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q) = %+v, want an error", in, m)
		}
	}
	if got := file.FormatMode(0o755 | fs.ModeSetuid | fs.ModeSticky); got != "5755" {
		t.Errorf("FormatMode = %s, want 5755", got)
	}
}

func TestBadModeNamesItsLine(t *testing.T) {
	_, err := build(t, t.TempDir(), "path: a\ncontent: x\nmode: \"0o9\"\n")
	var ie *items.InputError
	if !errors.As(err, &ie) || ie.Line != 3 {
		t.Fatalf("error %v, want an InputError on line 3", err)
	}
}

func TestCurrentOfANamedPipeDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	it := mustBuild(t, dir, `{path: pipe}`)
	if _, err := it.Current(context.Background(), ensure(progress.NoTracker)); err == nil || !strings.Contains(err.Error(), "not a regular file (a named pipe)") {
		t.Errorf("error %v", err)
	}
}

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    file.State
		want string
	}{
		{file.State{Path: "/x"}, "absent"},
		{file.State{Path: "/x", Exists: true, Size: 26, SHA256: "3a18a72d07c341b5", Mode: "0644"}, "26 bytes, sha256 3a18a72d…, 0644"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

// A write killed between its temporary file and the rename leaves
// ".NAME.peace-tmp-*" beside the file: the next ensure removes it, and so
// does clean, whether the file is there or not. Another file's are kept.
func TestStaleTempsSwept(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{path: f0.txt, content: "hello\n"}`)
	ctx := context.Background()
	// Each stale file is left by a killed run, and found by the next,
	// which takes the lock: durable.ForgetSweeps.
	stale := func(names ...string) {
		t.Helper()
		durable.ForgetSweeps()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("part"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(what string, names ...string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if strings.Join(got, " ") != strings.Join(names, " ") {
			t.Errorf("after %s: %v, want %v", what, got, names)
		}
	}
	stale(".f0.txt.peace-tmp-xyz", ".f0.txt.peace-tmp-abc", ".other.peace-tmp-1")
	cur := must(t)(it.Current(ctx, ensure(progress.NoTracker)))
	goal := must(t)(it.Goal(ctx, ensure(progress.NoTracker)))
	must(t)(it.Apply(ctx, ensure(progress.NoTracker), cur, goal))
	want("ensure", ".other.peace-tmp-1", "f0.txt")

	for _, present := range []bool{true, false} {
		stale(".f0.txt.peace-tmp-xyz")
		cur = must(t)(it.Current(ctx, clean()))
		target := must(t)(it.Clean(ctx, clean()))
		must(t)(it.Apply(ctx, clean(), cur, target))
		want(fmt.Sprintf("clean (file there: %v)", present), ".other.peace-tmp-1")
	}
}
