package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/state"
)

func TestPrescan(t *testing.T) {
	for _, tc := range []struct {
		args             []string
		format, progress string
	}{
		{nil, "text", "auto"},
		{[]string{"--format", "json", "ensure"}, "json", "auto"},
		{[]string{"ensure", "--format=yaml", "--progress=plain"}, "yaml", "plain"},
		{[]string{"--progress", "json", "--bogus"}, "text", "json"},
		{[]string{"--", "--format", "json"}, "text", "auto"},
		{[]string{"--format"}, "text", "auto"},
	} {
		f, p := prescan(tc.args)
		if f != tc.format || p != tc.progress {
			t.Errorf("prescan(%q) = %q, %q; want %q, %q", tc.args, f, p, tc.format, tc.progress)
		}
	}
}

// run runs peace in process in dir with the given flow file content.
func run(t *testing.T, dir string, tty bool, env map[string]string, args ...string) (ExitCode, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &IOStreams{
		In: strings.NewReader(""), Out: &out, ErrOut: &errOut, OutTTY: tty,
		Getenv: func(k string) string { return env[k] },
	}
	args = append([]string{"-f", filepath.Join(dir, "flow.yaml")}, args...)
	code := Run(context.Background(), args, io)
	return code, out.String(), errOut.String()
}

func writeFlow(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const okFlow = `flow: ok
items:
  - id: note
    type: file
    params: {path: note.txt, content: "hi"}
`

func TestExitCodes(t *testing.T) {
	failing := `flow: bad
items:
  - id: breaks
    type: sh_cmd
    params: {current: "echo a", goal: "echo b", ensure: "echo broken >&2; exit 3"}
  - id: later
    type: sh_cmd
    depends_on: [breaks]
    params: {current: "echo a", goal: "echo b", ensure: "true"}
`
	for _, tc := range []struct {
		name     string
		flow     string
		args     []string
		code     ExitCode
		out, err string
	}{
		{"done", okFlow, []string{"ensure", "--progress", "none"}, ExitOK, "ensure complete: 1 applied", ""},
		{"item failed", failing, []string{"ensure", "--progress", "none"}, ExitItemFailed, "failed breaks: ensure: exit status 3", ""},
		{"not started after failure", failing, []string{"ensure", "--progress", "none"}, ExitItemFailed, "not started: later", ""},
		{"bad flag", okFlow, []string{"ensure", "--nope"}, ExitBadInput, "", "unknown flag: --nope"},
		{"extra arg", okFlow, []string{"ensure", "now"}, ExitBadInput, "", `unknown command "now"`},
		{"bad flow", "flow: x\nitems: {}\n", []string{"status"}, ExitBadInput, "", "flow.yaml:2:"},
		{"bad profile", okFlow, []string{"status", "-p", "Prod!"}, ExitBadInput, "", `profile "Prod!" is malformed`},
		{"no command", okFlow, nil, ExitOK, "Available Commands:", ""},
		{"help command", okFlow, []string{"help"}, ExitOK, "Exit codes:", ""},
		{"help of a command", okFlow, []string{"help", "ensure"}, ExitOK, "4    changes pending (diff --exit-code)", ""},
		{"shell completion", okFlow, []string{"__complete", "ens"}, ExitOK, "ensure", ""},
		{"unknown command", okFlow, []string{"bogus"}, ExitBadInput, "", `unknown command "bogus" for "peace"`},
		{"mistyped command", okFlow, []string{"ensre"}, ExitBadInput, "", "Did you mean this?\n\tensure"},
		{"unknown command hint", okFlow, []string{"ensre"}, ExitBadInput, "", "Run 'peace --help' for usage."},
		{"unknown command as JSON", okFlow, []string{"--format", "json", "ensre"}, ExitBadInput, `"code": 2`, ""},
		{"unknown command as JSON events", okFlow, []string{"--progress", "json", "bogus"}, ExitBadInput, "", `"type":"fatal"`},
		{"unknown command as JSON events code", okFlow, []string{"--progress", "json", "bogus"}, ExitBadInput, "", `"code":2`},
		{"bad flag before the command", okFlow, []string{"--nope", "ensure"}, ExitBadInput, "", "unknown flag: --nope"},
		{"bad flag as JSON", okFlow, []string{"--format", "json", "status", "--jobs", "x"}, ExitBadInput, `"code": 2`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFlow(t, tc.flow)
			code, out, errOut := run(t, dir, false, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout %q does not contain %q", out, tc.out)
			}
			if !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.err)
			}
		})
	}
}

func TestLockedExitsThree(t *testing.T) {
	dir := writeFlow(t, okFlow)
	store := state.Open(state.Dir(filepath.Join(dir, ".peace"), "default", "ok"))
	lock, _, err := store.Lock(context.Background(), "peace ensure", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	code, _, errOut := run(t, dir, false, nil, "ensure", "--progress", "none")
	if code != ExitLocked || !strings.Contains(errOut, "locked") || !strings.Contains(errOut, "peace ensure") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "note.txt")); err == nil {
		t.Error("applied while locked")
	}
}

func TestCorruptStateExitsTwoAndKeepsTheFile(t *testing.T) {
	dir := writeFlow(t, okFlow)
	if code, _, errOut := run(t, dir, false, nil, "ensure", "--progress", "none"); code != ExitOK {
		t.Fatalf("ensure: %d %s", code, errOut)
	}
	snap := filepath.Join(dir, ".peace", "default", "ok", "states_current.yaml")
	if err := os.WriteFile(snap, []byte("version: 1\nstates: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, dir, false, nil, "ensure", "--progress", "none")
	if code != ExitBadInput || !strings.Contains(errOut, "states_current.yaml") || !strings.Contains(errOut, "peace status") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	kept, _ := filepath.Glob(snap + ".corrupt-*")
	if len(kept) != 1 {
		t.Fatalf("corrupt snapshot not kept aside: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != "version: 1\nstates: [unclosed\n" {
		t.Errorf("kept file changed: %q", b)
	}
	// status rediscovers and records the world again.
	if code, _, errOut := run(t, dir, false, nil, "status", "--progress", "none"); code != ExitOK {
		t.Fatalf("status after corruption: %d %s", code, errOut)
	}
}

func TestColourOnlyOnATerminal(t *testing.T) {
	flow := `flow: c
items:
  - id: s
    type: sh_cmd
    params: {current: "echo old", goal: "echo new", ensure: "true"}
`
	dir := writeFlow(t, flow)
	for _, tc := range []struct {
		name  string
		tty   bool
		env   map[string]string
		args  []string
		color bool
	}{
		{"terminal", true, nil, nil, true},
		{"pipe", false, nil, nil, false},
		{"NO_COLOR", true, map[string]string{"NO_COLOR": "1"}, nil, false},
		{"--no-color", true, nil, []string{"--no-color"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, dir, tc.tty, tc.env, append([]string{"diff", "--progress", "none"}, tc.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "- old") || !strings.Contains(out, "+ new") {
				t.Errorf("diff output %q", out)
			}
			if got := strings.Contains(out, "\x1b["); got != tc.color {
				t.Errorf("colour %v, want %v: %q", got, tc.color, out)
			}
		})
	}
}

func TestResultFormats(t *testing.T) {
	dir := writeFlow(t, okFlow)
	code, out, _ := run(t, dir, false, nil, "ensure", "--progress", "none", "--format", "yaml")
	if code != ExitOK || !strings.Contains(out, "outcome: complete") || !strings.Contains(out, "status: applied") {
		t.Errorf("yaml: %d %q", code, out)
	}
	code, out, _ = run(t, dir, false, nil, "status", "--stored", "--format", "json")
	if code != ExitOK || !strings.Contains(out, `"states": {`) || !strings.Contains(out, `"exists": true`) {
		t.Errorf("stored json: %d %q", code, out)
	}
}

func TestStopTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want time.Duration
		code ExitCode
		err  string
	}{
		{"default never", "", nil, 0, ExitOK, ""},
		{"flag", "", []string{"--stop-timeout", "30s"}, 30 * time.Second, ExitOK, ""},
		{"environment", "2m", nil, 2 * time.Minute, ExitOK, ""},
		{"flag wins over environment", "2m", []string{"--stop-timeout=5s"}, 5 * time.Second, ExitOK, ""},
		{"bad flag", "", []string{"--stop-timeout", "soon"}, 0, ExitBadInput, `invalid argument "soon"`},
		{"negative flag", "", []string{"--stop-timeout", "-1s"}, -time.Second, ExitBadInput, "want a duration of zero or more"},
		{"bad environment", "soon", nil, 0, ExitBadInput, `PEACE_STOP_TIMEOUT="soon"`},
		{"bad environment, flag given", "soon", []string{"--stop-timeout", "1s"}, time.Second, ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			g := &GlobalOptions{IO: &IOStreams{
				In: strings.NewReader(""), Out: &out, ErrOut: &errOut,
				Getenv: func(k string) string {
					if k == stopTimeoutEnv {
						return tc.env
					}
					return ""
				},
			}, Format: "text", Progress: "none"}
			root := newRootCmd(g)
			root.SetArgs(append([]string{"version"}, tc.args...))
			root.SetOut(&out)
			root.SetErr(&errOut)
			err := root.Execute()
			if code := exitCode(err); code != tc.code {
				t.Fatalf("exit %d, want %d: %v", code, tc.code, err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if g.StopTimeout != tc.want {
				t.Errorf("StopTimeout %s, want %s", g.StopTimeout, tc.want)
			}
		})
	}
}

func TestExitCodeOf(t *testing.T) {
	denied := func(errno syscall.Errno) error {
		return fmt.Errorf("lock: %w", &fs.PathError{Op: "mkdir", Path: "/ro/.peace", Err: errno})
	}
	for _, tc := range []struct {
		name string
		err  error
		want ExitCode
	}{
		{"nil", nil, ExitOK},
		{"usage", usageErrorf("--jobs 0"), ExitBadInput},
		{"workspace permission denied", denied(syscall.EACCES), ExitBadInput},
		{"workspace operation not permitted", denied(syscall.EPERM), ExitBadInput},
		{"read-only workspace", denied(syscall.EROFS), ExitBadInput},
		{"read-only rename", fmt.Errorf("lock: %w", &os.LinkError{Op: "link", Old: "/ro/.peace/x", New: "/ro/.peace/lock", Err: syscall.EROFS}), ExitBadInput},
		{"disk full is no usage error", denied(syscall.ENOSPC), ExitItemFailed},
		{"stopped while waiting", fmt.Errorf("stopped waiting: %w", context.Canceled), ExitInterrupted},
		{"locked", &state.LockedError{}, ExitLocked},
		{"outcome", outcomeError{ExitChangesPending}, ExitChangesPending},
		{"other", errors.New("boom"), ExitItemFailed},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestUnwritableMessage(t *testing.T) {
	ws := filepath.Join(t.TempDir(), "ro", ".peace")
	for _, tc := range []struct {
		name, path string
		names      bool // names the workspace and -w
	}{
		{"inside the workspace", filepath.Join(ws, "default", "ok"), true},
		{"the workspace", ws, true},
		{"a parent MkdirAll could not make", filepath.Dir(ws), true},
		{"elsewhere", filepath.Join(t.TempDir(), "x"), false},
		{"a sibling with a common prefix", ws + "-other", false},
	} {
		err := fmt.Errorf("lock: %w", &fs.PathError{Op: "mkdir", Path: tc.path, Err: syscall.EROFS})
		msg, hint := unwritableMessage(err, tc.path, ws)
		got := strings.Contains(msg, "workspace "+ws+" is not writable") && strings.Contains(hint, "-w DIR")
		if got != tc.names {
			t.Errorf("%s: %q, %q; names the workspace: %v, want %v", tc.name, msg, hint, got, tc.names)
		}
		if !strings.Contains(msg, tc.path) {
			t.Errorf("%s: %q does not name %s", tc.name, msg, tc.path)
		}
	}
}

// unwritableDir returns a directory this process may not create files in.
func unwritableDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return dir
	}
	// Permissions do not stop root; a kernel file system does.
	for _, dir := range []string{"/sys", "/proc/sys"} {
		probe := filepath.Join(dir, "peace-probe")
		err := os.Mkdir(probe, 0o755)
		if err == nil {
			os.Remove(probe)
			continue
		}
		if _, ok := unwritable(err); ok {
			return dir
		}
	}
	t.Skip("running as root, and no directory here refuses root")
	return ""
}

func TestUnwritableWorkspaceExitsTwo(t *testing.T) {
	ws := filepath.Join(unwritableDir(t), "peace-workspace")
	dir := writeFlow(t, okFlow)
	for _, args := range [][]string{
		{"ensure", "--progress", "none"},
		{"status", "--progress", "plain"},
	} {
		code, out, errOut := run(t, dir, false, nil, append([]string{"-w", ws}, args...)...)
		if code != ExitBadInput {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", args[0], code, ExitBadInput, out, errOut)
		}
		for _, want := range []string{"workspace " + ws + " is not writable", "-w DIR"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr %q does not say %q", args[0], errOut, want)
			}
		}
	}
	code, out, _ := run(t, dir, false, nil, "-w", ws, "--format", "json", "ensure", "--progress", "none")
	if code != ExitBadInput || !strings.Contains(out, `"code": 2`) || !strings.Contains(out, "-w DIR") {
		t.Errorf("as JSON: exit %d, stdout %q", code, out)
	}
}
