package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests build the program with go build and run it as a process of its
// own, interrupted with real signals.

var (
	buildOnce sync.Once
	binary    string
	buildOut  []byte
	buildErr  error
)

func program(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "minimal-test-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "minimal")
		buildOut, buildErr = exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// The flow: a note, a pause long enough to press Ctrl-C in, another note.
const flow = `flow: notes
items:
  - id: first
    type: note
    params: {path: first.txt, text: "hello\n"}
  - id: pause
    type: sh_cmd
    depends_on: [first]
    params:
      current: "cat paused 2>/dev/null || echo no"
      goal: "echo yes"
      ensure: "sleep 2; echo yes > paused"
      clean: "rm -f paused"
      clean_state: "echo no"
  - id: second
    type: note
    depends_on: [pause]
    params: {path: second.txt, text: "world\n"}
`

func workdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func command(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(program(t), append([]string{"-f", filepath.Join(dir, "flow.yaml"), "--progress", "plain"}, args...)...)
	c.Dir = t.TempDir() // notes go beside the flow file, wherever the program runs
	return c
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// run runs the program to its end; it returns the exit code and stdout.
func run(t *testing.T, dir string, args ...string) (int, []byte) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := command(t, dir, args...)
	c.Stdout, c.Stderr = &stdout, &stderr
	code := exitCode(t, c.Run())
	t.Logf("minimal %s → %d\n%s%s", strings.Join(args, " "), code, &stdout, &stderr)
	return code, stdout.Bytes()
}

type result struct {
	Outcome string `json:"outcome"`
	Items   map[string]struct {
		Status string `json:"status"`
	} `json:"items"`
}

func (r result) String() string {
	var s []string
	for _, id := range []string{"first", "pause", "second"} {
		s = append(s, id+"="+r.Items[id].Status)
	}
	return r.Outcome + ": " + strings.Join(s, " ")
}

func decode(t *testing.T, out []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// interrupted starts ensure, sends SIGINT once the pause is running (and
// again after wait, if presses is 2), and returns the exit code, the
// result and how long the program took to end after the last press.
func interrupted(t *testing.T, dir string, presses int) (int, result, time.Duration) {
	t.Helper()
	c := command(t, dir, "ensure", "--format", "json")
	var stdout bytes.Buffer
	c.Stdout = &stdout
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill() })
	var log bytes.Buffer
	lines := bufio.NewScanner(io.TeeReader(stderr, &log))
	for lines.Scan() && !strings.Contains(lines.Text(), "pause  running") {
	}
	for i := range presses {
		if i > 0 {
			time.Sleep(400 * time.Millisecond) // closer presses count as one
		}
		if err := c.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	last := time.Now()
	io.Copy(io.Discard, io.TeeReader(stderr, &log))
	code := exitCode(t, c.Wait())
	took := time.Since(last)
	t.Logf("minimal ensure, %d × SIGINT → %d after %v\n%s%s", presses, code, took, &stdout, &log)
	var r result
	decode(t, stdout.Bytes(), &r)
	return code, r, took
}

// recorded is each note's recorded state.
func recorded(t *testing.T, dir string) map[string]*string {
	t.Helper()
	code, out := run(t, dir, "status", "--stored", "--format", "json")
	if code != 0 {
		t.Fatalf("status --stored: exit %d", code)
	}
	var s struct{ States map[string]*string }
	decode(t, out, &s)
	return s.States
}

func contents(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "absent"
	}
	return string(b)
}

// One Ctrl-C: the pause in flight finishes, the second note does not start,
// exit 130, the first note is recorded; the next ensure does the rest.
func TestCtrlC(t *testing.T) {
	dir := workdir(t)
	code, r, _ := interrupted(t, dir, 1)
	if code != 130 || r.String() != "interrupted: first=applied pause=applied second=not_started" {
		t.Fatalf("ensure stopped: exit %d, %s", code, r)
	}
	if got := contents(t, dir, "first.txt") + contents(t, dir, "second.txt"); got != "hello\nabsent" {
		t.Fatalf("notes after the stop: %q", got)
	}
	if s := recorded(t, dir); s["first"] == nil || *s["first"] != "hello\n" || s["second"] != nil {
		t.Fatalf("recorded after the stop: %v", s)
	}

	code, out := run(t, dir, "ensure", "--format", "json")
	decode(t, out, &r)
	if code != 0 || r.String() != "complete: first=unchanged pause=unchanged second=applied" {
		t.Fatalf("ensure after the stop: exit %d, %s", code, r)
	}
	if got := contents(t, dir, "second.txt"); got != "world\n" {
		t.Fatalf("second.txt = %q", got)
	}

	code, out = run(t, dir, "clean", "--format", "json")
	decode(t, out, &r)
	if code != 0 || r.String() != "complete: first=applied pause=applied second=applied" {
		t.Fatalf("clean: exit %d, %s", code, r)
	}
	if got := contents(t, dir, "first.txt") + contents(t, dir, "second.txt"); got != "absentabsent" {
		t.Fatalf("notes after clean: %q", got)
	}
}

// Ctrl-C twice: the pause is cancelled at once, exit 130; the next ensure
// completes.
func TestCtrlCTwice(t *testing.T) {
	dir := workdir(t)
	code, r, took := interrupted(t, dir, 2)
	if code != 130 || r.String() != "interrupted: first=applied pause=interrupted second=not_started" {
		t.Fatalf("ensure cancelled: exit %d, %s", code, r)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("the program ended %v after the second Ctrl-C; the pause was not cancelled", took)
	}
	code, out := run(t, dir, "ensure", "--format", "json")
	decode(t, out, &r)
	if code != 0 || r.String() != "complete: first=unchanged pause=applied second=applied" {
		t.Fatalf("ensure after the cancel: exit %d, %s", code, r)
	}
}

// The note type's params are checked as strictly as a built-in type's.
func TestParams(t *testing.T) {
	dir := workdir(t)
	bad := strings.Replace(flow, "{path: second.txt", "{paht: second.txt", 1)
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c := command(t, dir, "ensure")
	c.Stderr = &stderr
	code := exitCode(t, c.Run())
	if want := `flow.yaml:18:14: unknown param "paht" (expected one of: path, text)`; code != 2 || !strings.Contains(stderr.String(), want) {
		t.Fatalf("exit %d, want 2 and %q:\n%s", code, want, &stderr)
	}
}

// The program is written to stay small: under 40 lines.
func TestUnder40Lines(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte("\n")); n >= 40 {
		t.Fatalf("main.go has %d lines", n)
	}
}
