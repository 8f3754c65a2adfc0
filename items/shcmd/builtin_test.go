package shcmd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// TestBuiltinsRunNothing: a current command made only of echo, test, [,
// true and false on plain words, joined by && and ||, gives what sh -c
// prints without a process; one that fails, or is anything else, runs.
func TestBuiltinsRunNothing(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"full": "x", "empty": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, to := range map[string]string{"link": "full", "dangling": "missing", "dirlink": "sub"} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	abs := filepath.Join(dir, "full")
	// "dirlink/../full" is dir/full only if resolved lexically: through the
	// symlink, .. is the link's target's parent. "full/" is no file at all.
	if err := os.Symlink(filepath.Join(dir, "sub", "deep"), filepath.Join(dir, "deeplink")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	paths := []string{"full", "empty", "sub", "link", "dangling", "dirlink", "missing", "sub/../full", abs,
		"deeplink/../full", "deeplink/../deep", "full/", "sub/", "link/", "./full", "full/."}
	type tc struct {
		script string
		runs   bool
	}
	var cases []tc
	for _, op := range []string{"-e", "-f", "-d", "-s", "-L", "-h"} {
		for _, p := range paths {
			cases = append(cases,
				tc{"test " + op + " " + p + " && echo yes || echo no", false},
				tc{"[ " + op + " " + p + " ] || echo no", false})
		}
	}
	cases = append(cases, []tc{
		{"echo a && echo b", false},
		{"false || echo b", false},
		{"true && false || echo c && echo d", false},
		{"false && echo a || echo b || echo c", false},
		{"[\t-f full ]\t&&\techo  x   y", false},
		{"true", false},
		// sh fails: its own status and message are reported.
		{"test -f missing", true},
		{"false", true},
		{"echo a && false", true},
		// Anything else runs.
		{"test -f $X && echo a", true},
		{"test -f 'full' && echo a", true},
		{"test -x full && echo a", true},
		{"test -f full -a -f empty && echo a", true},
		{"test ! -f full || echo a", true},
		{"! test -f full && echo a", true},
		{"[ -f full && echo a", true},
		{"test -f full; echo a", true},
		{"test -f full && echo a >&2", true},
		{"test -f full && echo a\necho b", true},
		{"test -f f* && echo a", true},
		{"test -f full & echo a", true},
		{"test -f full | echo a", true},
		{"test -f full && echo -n a", true},
		{"test -f full &&", true},
		{"&& echo a", true},
		{"test -f full && echo a # note", true},
		{"if test -f full; then echo a; fi", true},
		{"cat full || echo a", true},
	}...)
	t.Setenv("X", "full")
	for _, c := range cases {
		sh := exec.Command("sh", "-c", c.script)
		sh.Dir = dir
		want, shErr := sh.Output()
		it := mustBuild(t, dir, yamlOf(t, map[string]string{"current": c.script, "goal": "echo b", "ensure": "true"}))
		g := &groups{}
		f := fc(items.OpEnsure, progress.NoTracker, nil)
		f.Processes = g
		got, err := it.Current(context.Background(), f)
		if (err != nil) != (shErr != nil) {
			t.Errorf("%q: error %v; sh: %v", c.script, err, shErr)
		} else if err == nil && got.(string) != strings.TrimSpace(string(want)) {
			t.Errorf("%q: %q; sh prints %q", c.script, got, want)
		}
		if ran := len(g.started) > 0; ran != c.runs {
			t.Errorf("%q: started %v, want a process: %v", c.script, g.started, c.runs)
		}
	}
}

// TestBuiltinsNotWithFunctions: where the command's environment may hold
// a function bash would define in place of echo or test, sh runs the
// command. (An item's env cannot: its names are variable names.)
func TestBuiltinsNotWithFunctions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BASH_FUNC_echo%%", "() { printf x; }")
	it := mustBuild(t, dir, `{current: "echo a", goal: "echo b", ensure: "true"}`)
	g := &groups{}
	f := fc(items.OpEnsure, progress.NoTracker, nil)
	f.Processes = g
	if _, err := it.Current(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if len(g.started) == 0 {
		t.Error("no process with a function in the item's environment")
	}
}

// TestBuiltinsNeedTheDirectory: where sh could not start, the builtin is
// not worked out either: the error is the one running it gives.
func TestBuiltinsNeedTheDirectory(t *testing.T) {
	it := mustBuild(t, filepath.Join(t.TempDir(), "missing"), `{current: "test -f a && echo a || echo b", goal: "echo b", ensure: "true"}`)
	if _, err := it.Current(context.Background(), fc(items.OpEnsure, progress.NoTracker, nil)); err == nil {
		t.Error("no error for a directory that does not exist")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	it = mustBuild(t, t.TempDir(), `{current: "echo a", goal: "echo b", ensure: "true"}`)
	if _, err := it.Current(ctx, fc(items.OpEnsure, progress.NoTracker, nil)); err == nil {
		t.Error("no error once cancelled")
	}
}
