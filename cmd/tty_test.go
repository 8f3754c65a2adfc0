//go:build linux

package cmd_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/sys/unix"
)

// The terminal these tests run peace in.
const ttyCols, ttyRows = 100, 30

// Generous bounds: they catch a hang, not a slow machine.
const (
	showsWithin = 60 * time.Second
	exitsWithin = 90 * time.Second
)

// TestTTY runs the real peace binary with a pseudo-terminal as its
// controlling terminal: the tui view draws on it and Ctrl-C arrives as a
// key, not as a signal.
func TestTTY(t *testing.T) {
	peace := buildPeace(t, t.TempDir())
	t.Run("CtrlCOnceStops", func(t *testing.T) { testCtrlCOnce(t, peace) })
	t.Run("CtrlCTwiceCancels", func(t *testing.T) { testCtrlCTwice(t, peace) })
	t.Run("CtrlCThriceQuits", func(t *testing.T) { testCtrlCThrice(t, peace) })
	t.Run("CtrlCAsSignal", func(t *testing.T) { testCtrlCAsSignal(t, peace) })
	t.Run("ResultsToFile", func(t *testing.T) { testResultsToFile(t, peace) })
	t.Run("AutoWithoutTerminalIsPlain", func(t *testing.T) { testAutoPlain(t, peace) })
	t.Run("NoProbeOnAMuteTerminal", func(t *testing.T) { testNoProbe(t, peace) })
}

// probeQueries are the questions a colour library asks a terminal at start
// and then waits for: the background colour and the cursor position. A
// terminal that never answers (script -qc, Python's pty, some CI
// wrappers) made every command wait 5 s for them.
var probeQueries = []string{"\x1b]11;?", "\x1b[6n"}

// testNoProbe runs commands on a terminal that answers nothing: each ends
// well before the 5 s a start-up probe waits, and asks no probe query.
// The tui view may tell the terminal which modes it would like (and ask
// whether it has them), but it never waits for an answer.
func testNoProbe(t *testing.T, peace string) {
	const within = 3 * time.Second // a start-up probe waits 5 s
	for _, tc := range []struct {
		name   string
		args   []string
		noANSI bool // not a single escape sequence
	}{
		{"version", []string{"version"}, true},
		{"status", []string{"status"}, false},
		{"ensure plain", []string{"ensure", "--progress", "plain", "--no-color"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := flowDir(t, quickFlow)
			tty := openMutePTY(t, ttyCols, ttyRows)
			began := time.Now()
			p := startOnTTY(t, peace, dir, tty, nil, tc.args...)
			select {
			case <-p.done:
			case <-time.After(within):
				_ = p.cmd.Process.Kill()
				<-p.done
				t.Fatalf("peace %s still running after %s on a terminal that does not answer; it wrote %q",
					strings.Join(tc.args, " "), within, tty.output())
			}
			took := time.Since(began)
			if p.err != nil {
				t.Fatalf("peace %s: %v; the terminal:\n%s", strings.Join(tc.args, " "), p.err, tty.screen())
			}
			tty.drain(t)
			out := tty.output()
			t.Logf("took %s, wrote %q", took.Round(time.Millisecond), out)
			for _, q := range probeQueries {
				if strings.Contains(out, q) {
					t.Errorf("asked the terminal %q", q)
				}
			}
			if tc.noANSI && strings.ContainsRune(out, 0x1b) {
				t.Errorf("escape sequences written: %q", out)
			}
			if tc.name == "status" && !strings.Contains(tty.screen(), "one") {
				t.Errorf("no result; the terminal:\n%s", tty.screen())
			}
		})
	}
}

// gatedFlow has two sh_cmd items that run until the file "release"
// appears, and a third that depends on the first: the test decides when
// the items in flight finish, so no assertion depends on timing.
const gatedFlow = `flow: gated
items:
  - id: alpha
    type: sh_cmd
    params:
      current: "cat alpha.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo waiting for release >&2; until [ -e release ]; do sleep 0.05; done; echo done > alpha.out"
  - id: beta
    type: sh_cmd
    params:
      current: "cat beta.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo waiting too >&2; until [ -e release ]; do sleep 0.05; done; echo done > beta.out"
  - id: gamma
    type: sh_cmd
    depends_on: [alpha]
    params:
      current: "cat gamma.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo done > gamma.out"
`

// sleepFlow has one item that runs for 30 s unless cancelled.
const sleepFlow = `flow: sleepy
items:
  - id: nap
    type: sh_cmd
    params:
      current: "cat nap.out 2>/dev/null || echo absent"
      goal: "echo rested"
      ensure: "echo napping >&2; sleep 30; echo rested > nap.out"
`

// stubbornFlow has an item that outlasts a cancel: it ignores SIGTERM,
// and a child in a session of its own keeps its output open after the
// group is killed, until the pipes are closed under it.
const stubbornFlow = `flow: stubborn
items:
  - id: mule
    type: sh_cmd
    params:
      current: "echo absent"
      goal: "echo done"
      ensure: "trap '' TERM; echo $$ > mule.pid; setsid sh -c 'echo $$ > child.pid; exec sleep 30' & echo stubborn >&2; sleep 30"
`

// quickFlow finishes at once.
const quickFlow = `flow: quick
items:
  - id: one
    type: sh_cmd
    params: {current: "cat one.out 2>/dev/null || echo absent", goal: "echo done", ensure: "echo done > one.out"}
  - id: two
    type: file
    depends_on: [one]
    params: {path: two.txt, content: "two\n"}
`

func flowDir(t *testing.T, flow string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// process is a peace run started by a test.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
}

// startOnTTY starts peace in dir with tty as its controlling terminal and
// its stdin and stderr; stdout is tty too unless given.
func startOnTTY(t *testing.T, peace, dir string, tty *pty, stdout *os.File, args ...string) *process {
	t.Helper()
	c := exec.Command(peace, append([]string{"-f", filepath.Join(dir, "flow.yaml")}, args...)...)
	c.Dir = dir
	c.Env = ttyEnv()
	c.Stdin, c.Stdout, c.Stderr = tty.slave, tty.slave, tty.slave
	if stdout != nil {
		c.Stdout = stdout
	}
	// A session of its own with the terminal as its controlling terminal,
	// like a shell's job.
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return start(t, c)
}

func start(t *testing.T, c *exec.Cmd) *process {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: c, done: make(chan struct{})}
	go func() {
		p.err = c.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = c.Process.Kill()
			<-p.done
		}
	})
	return p
}

// ttyEnv is the environment of a person at a colour terminal.
func ttyEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TERM", "NO_COLOR", "COLORTERM", "CI":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "TERM=xterm-256color", "COLORTERM=truecolor")
}

// wait waits for p to exit and returns its exit code.
func (p *process) wait(t *testing.T, within time.Duration, show func() string) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		_ = p.cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump, for the log
		<-p.done
		t.Fatalf("peace did not exit within %s; the terminal:\n%s", within, show())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkRestored checks that the terminal is back in its normal mode:
// canonical input, echo and signals from keys.
func checkRestored(t *testing.T, tty *pty) {
	t.Helper()
	tio := tty.termios(t)
	for _, f := range []struct {
		name string
		bit  uint32
	}{{"ICANON", unix.ICANON}, {"ECHO", unix.ECHO}, {"ISIG", unix.ISIG}} {
		if tio.Lflag&f.bit == 0 {
			t.Errorf("terminal left without %s: lflag %#o", f.name, tio.Lflag)
		}
	}
}

// checkModesReset checks, after the program has exited, that the modes its
// output switched on are off again: the cursor is shown, bracketed paste
// is off.
func checkModesReset(t *testing.T, raw string) {
	t.Helper()
	for _, m := range []struct{ name, on, off string }{
		{"hidden cursor", "\x1b[?25l", "\x1b[?25h"},
		{"bracketed paste", "\x1b[?2004h", "\x1b[?2004l"},
	} {
		if on := strings.LastIndex(raw, m.on); on >= 0 && strings.LastIndex(raw, m.off) < on {
			t.Errorf("%s left on at the end", m.name)
		}
	}
}

// testCtrlCOnce: the rows and the footer are drawn; one Ctrl-C says what is
// in flight, lets it finish and starts nothing new; the exit is 130 and the
// terminal is restored.
func testCtrlCOnce(t *testing.T, peace string) {
	dir := flowDir(t, gatedFlow)
	tty := openPTY(t, ttyCols, ttyRows)
	before := tty.termios(t)
	p := startOnTTY(t, peace, dir, tty, nil, "ensure")

	// The messages come from ensure, so this is the apply block, not
	// discovery.
	screen := tty.waitFor(t, "alpha and beta running", showsWithin, func(s string) bool {
		return rowHas(s, "alpha", "▸", "running", "waiting for release") && rowHas(s, "beta", "▸", "running", "waiting too")
	})
	for _, want := range []string{"ensure", "flow gated", "Ctrl-C: stop after the items in flight"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if r := row(screen, "gamma"); !strings.Contains(r, "on alpha") {
		t.Errorf("gamma row %q does not say it waits on alpha", r)
	}
	if tio := tty.termios(t); tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("terminal not raw while the view runs: lflag %#o", tio.Lflag)
	}

	tty.press(t, "\x03")
	screen = tty.waitText(t, showsWithin, "stopping: 2 in flight (alpha, beta) — Ctrl-C again to cancel them")
	if exists(filepath.Join(dir, "alpha.out")) || exists(filepath.Join(dir, "beta.out")) {
		t.Fatal("the items finished before they were released")
	}
	if !rowHas(screen, "alpha", "▸", "running") || !rowHas(screen, "beta", "▸", "running") {
		t.Errorf("after the stop, the items in flight are not shown running:\n%s", screen)
	}

	// The items in flight run to completion.
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, exitsWithin, tty.screen); code != 130 {
		t.Errorf("exit %d, want 130; the terminal:\n%s", code, tty.screen())
	}
	for _, f := range []string{"alpha.out", "beta.out"} {
		if !exists(filepath.Join(dir, f)) {
			t.Errorf("%s missing: an item in flight did not finish", f)
		}
	}
	if exists(filepath.Join(dir, "gamma.out")) {
		t.Error("gamma started after the stop")
	}

	checkRestored(t, tty)
	if after := tty.termios(t); after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal mode changed: lflag %#o -> %#o, iflag %#o -> %#o, oflag %#o -> %#o",
			before.Lflag, after.Lflag, before.Iflag, after.Iflag, before.Oflag, after.Oflag)
	}
	tty.drain(t)
	checkModesReset(t, tty.output())
	raw := tty.output()
	if strings.Contains(raw, "^C") {
		t.Errorf("^C echoed on the terminal:\n%q", raw)
	}

	// The final frame stays, and the results come after it, on stdout.
	screen = tty.screen()
	t.Logf("the terminal at the end:\n%s", screen)
	summary := strings.Index(screen, "interrupted after")
	results := strings.Index(screen, "ensure interrupted: 2 applied, 1 not started")
	if summary < 0 || results < summary {
		t.Fatalf("want the summary, then the results; the terminal:\n%s", screen)
	}
	for _, id := range []string{"alpha", "beta"} {
		if r := row(screen[:results], id); !strings.Contains(r, "✓") || !strings.Contains(r, "applied") {
			t.Errorf("final row of %s is %q, want it applied", id, r)
		}
	}
	// Nothing of the discovery block is left on a row that never started.
	if r := strings.Join(strings.Fields(row(screen[:results], "gamma")), " "); r != "- gamma not started" {
		t.Errorf("final row of gamma is %q, want %q", r, "- gamma not started")
	}
	if !strings.Contains(screen[results:], "not started: gamma") {
		t.Errorf("results do not name what never started:\n%s", screen[results:])
	}
	if strings.Contains(screen, "Ctrl-C: stop after") && strings.Index(screen, "Ctrl-C: stop after") < summary {
		t.Errorf("a stale footer is left on screen:\n%s", screen)
	}
}

// testCtrlCTwice: a second Ctrl-C cancels an item that would run for 30 s;
// the run ends within a few seconds.
func testCtrlCTwice(t *testing.T, peace string) {
	dir := flowDir(t, sleepFlow)
	tty := openPTY(t, ttyCols, ttyRows)
	p := startOnTTY(t, peace, dir, tty, nil, "ensure")

	tty.waitFor(t, "nap running", showsWithin, func(s string) bool { return rowHas(s, "nap", "▸", "running", "napping") })
	tty.press(t, "\x03")
	tty.waitText(t, showsWithin, "stopping: 1 in flight (nap)")
	time.Sleep(300 * time.Millisecond) // closer presses count as one
	pressed := time.Now()
	tty.press(t, "\x03")

	code := p.wait(t, exitsWithin, tty.screen)
	if took := time.Since(pressed); took > 20*time.Second {
		t.Errorf("exit %s after the second Ctrl-C; the item was not cancelled", took)
	}
	if code != 130 {
		t.Errorf("exit %d, want 130; the terminal:\n%s", code, tty.screen())
	}
	checkRestored(t, tty)
	tty.drain(t)
	checkModesReset(t, tty.output())
	// The cancel footer may be on screen for less than a frame; the final
	// frame names what was cancelled either way.
	if plain := ansi.Strip(tty.output()); !strings.Contains(plain, "stopped, then cancelled: nap") {
		t.Errorf("the cancel was not shown; the stream:\n%s", plain)
	}
	screen := tty.screen()
	if r := row(screen, "nap"); !strings.Contains(r, "! nap") || !strings.Contains(r, "interrupted") {
		t.Errorf("final row of nap is %q, want interrupted; the terminal:\n%s", r, screen)
	}
	if !strings.Contains(screen, "interrupted while running: nap") {
		t.Errorf("results do not name the interrupted item:\n%s", screen)
	}
	if exists(filepath.Join(dir, "nap.out")) {
		t.Error("the cancelled item ran to its end")
	}
	if strings.Contains(tty.output(), "^C") {
		t.Errorf("^C echoed on the terminal")
	}
}

// testCtrlCThrice: a third Ctrl-C while the cancel is under way exits at
// once, and the terminal is restored all the same.
func testCtrlCThrice(t *testing.T, peace string) {
	dir := flowDir(t, stubbornFlow)
	t.Cleanup(func() { killPIDFile(filepath.Join(dir, "child.pid")) })
	tty := openPTY(t, ttyCols, ttyRows)
	p := startOnTTY(t, peace, dir, tty, nil, "ensure")

	tty.waitFor(t, "mule running", showsWithin, func(s string) bool { return rowHas(s, "mule", "▸", "running", "stubborn") })
	tty.press(t, "\x03")
	tty.waitText(t, showsWithin, "stopping: 1 in flight (mule)")
	time.Sleep(300 * time.Millisecond)
	tty.press(t, "\x03")
	tty.waitText(t, showsWithin, "cancelling… mule — Ctrl-C again to quit at once")
	time.Sleep(300 * time.Millisecond)
	tty.press(t, "\x03")

	if code := p.wait(t, exitsWithin, tty.screen); code != 130 {
		t.Errorf("exit %d, want 130; the terminal:\n%s", code, tty.screen())
	}
	checkRestored(t, tty)
	tty.drain(t)
	checkModesReset(t, tty.output())
	screen := tty.screen()
	t.Logf("the terminal at the end:\n%s", screen)
	if strings.Contains(tty.output(), "^C") {
		t.Errorf("^C echoed on the terminal")
	}
	// The cancel takes a grace period or two; a slow machine may see it end
	// before the third press arrives, and that ends the same way.
	if !strings.Contains(screen, "quitting at once") && !strings.Contains(screen, "interrupted while running: mule") {
		t.Errorf("neither quit at once nor ended interrupted; the terminal:\n%s", screen)
	}
}

// testCtrlCAsSignal: with stdin not the terminal (peace ensure < /dev/null)
// the view still draws on stderr, the terminal stays cooked, and Ctrl-C
// comes as SIGINT from the terminal itself. The terminal echoes "^C"
// where the cursor is; the next frame must draw over it.
func testCtrlCAsSignal(t *testing.T, peace string) {
	dir := flowDir(t, gatedFlow)
	tty := openPTY(t, ttyCols, ttyRows)
	before := tty.termios(t)
	c := exec.Command(peace, "-f", filepath.Join(dir, "flow.yaml"), "ensure")
	c.Dir, c.Env = dir, ttyEnv()
	c.Stdout, c.Stderr = tty.slave, tty.slave // stdin: /dev/null
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1}
	p := start(t, c)

	tty.waitFor(t, "alpha and beta running", showsWithin, func(s string) bool {
		return rowHas(s, "alpha", "▸", "running", "waiting for release") && rowHas(s, "beta", "▸", "running", "waiting too")
	})
	if tio := tty.termios(t); tio.Lflag != before.Lflag {
		t.Errorf("terminal mode changed with stdin not a terminal: lflag %#o -> %#o", before.Lflag, tio.Lflag)
	}
	tty.press(t, "\x03")
	screen := tty.waitText(t, showsWithin, "stopping: 2 in flight (alpha, beta) — Ctrl-C again to cancel them")
	if strings.Contains(screen, "^C") {
		t.Errorf("the echoed ^C is left on the frame:\n%s", screen)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, exitsWithin, tty.screen); code != 130 {
		t.Errorf("exit %d, want 130; the terminal:\n%s", code, tty.screen())
	}
	checkRestored(t, tty)
	tty.drain(t)
	checkModesReset(t, tty.output())
	screen = tty.screen()
	t.Logf("the terminal at the end:\n%s", screen)
	if strings.Contains(screen, "^C") {
		t.Errorf("the echoed ^C is left on the screen:\n%s", screen)
	}
	if !strings.Contains(screen, "ensure interrupted: 2 applied, 1 not started") {
		t.Errorf("no results; the terminal:\n%s", screen)
	}
}

// killPIDFile kills the process whose pid is in path, if there is one.
func killPIDFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// testResultsToFile: with stdout redirected, the view still draws on the
// terminal, and stdout holds only the result table, without escapes.
func testResultsToFile(t *testing.T, peace string) {
	dir := flowDir(t, quickFlow)
	tty := openPTY(t, ttyCols, ttyRows)
	outPath := filepath.Join(t.TempDir(), "stdout")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p := startOnTTY(t, peace, dir, tty, out, "ensure")
	if code := p.wait(t, exitsWithin, tty.screen); code != 0 {
		t.Fatalf("exit %d; the terminal:\n%s", code, tty.screen())
	}
	checkRestored(t, tty)
	tty.drain(t)
	checkModesReset(t, tty.output())

	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	want := "ITEM  STATUS   STATE\n" +
		"one   applied  done\n" +
		"two   applied  "
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "ensure complete: 2 applied\n") {
		t.Errorf("stdout:\n%s\nwant it to start with:\n%s", got, want)
	}
	if strings.ContainsAny(got, "\x1b\r") {
		t.Errorf("escape codes or carriage returns in stdout: %q", got)
	}
	screen := tty.screen()
	if !strings.Contains(screen, "done in") || strings.Contains(screen, "ITEM") {
		t.Errorf("the terminal should have the summary and no results:\n%s", screen)
	}
}

// testAutoPlain: --progress auto without a terminal is the plain view: no
// escape sequences, no carriage returns.
func testAutoPlain(t *testing.T, peace string) {
	dir := flowDir(t, quickFlow)
	var stdout, stderr bytes.Buffer
	c := exec.Command(peace, "-f", filepath.Join(dir, "flow.yaml"), "--progress", "auto", "ensure")
	c.Env = ttyEnv() // TERM says colour; the pipes decide
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(""), &stdout, &stderr
	// A session of its own: no controlling terminal of the test's either.
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	p := start(t, c)
	if code := p.wait(t, exitsWithin, stderr.String); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	e := stderr.String()
	if strings.ContainsAny(e, "\x1b\r") {
		t.Errorf("escape codes or carriage returns on stderr: %q", e)
	}
	for _, want := range []string{"one", "applied", "two"} {
		if !strings.Contains(e, want) {
			t.Errorf("stderr lacks %q:\n%s", want, e)
		}
	}
	if strings.ContainsAny(stdout.String(), "\x1b\r") || !strings.Contains(stdout.String(), "ensure complete: 2 applied") {
		t.Errorf("stdout: %q", stdout.String())
	}
}

// row is the line of screen that shows item id's row: the last line that
// has id as its second word (after the status mark).
func row(screen, id string) string {
	lines := strings.Split(screen, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) >= 2 && f[1] == id {
			return lines[i]
		}
	}
	return ""
}

// rowHas reports whether item id's row contains every one of parts.
func rowHas(screen, id string, parts ...string) bool {
	r := row(screen, id)
	if r == "" {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(r, p) {
			return false
		}
	}
	return true
}

var viewsDoc = flag.Bool("views-doc", false, "rewrite the captures in docs/views.md from real runs of the quickstart flow")

// TestViewsDoc runs the quickstart flow for real — under a terminal, as
// CI runs it, with the json view — and puts what each view showed into
// docs/views.md, between its capture markers.
func TestViewsDoc(t *testing.T) {
	if !*viewsDoc {
		t.Skip("rewrites docs/views.md; run with -views-doc")
	}
	peace := buildPeace(t, t.TempDir())
	caps := map[string]string{}
	for k, v := range captureTUI(t, peace) {
		caps[k] = v
	}
	caps["plain"] = capturePipes(t, peace, true, "--progress", "plain")
	events := strings.SplitAfter(capturePipes(t, peace, false, "--progress", "json"), "\n")
	var head, tail []string
	for i, line := range events {
		if i < 3 {
			head = append(head, line)
		}
		if strings.Contains(line, `"type":"interrupt_received"`) {
			tail = events[i:]
		}
	}
	caps["json-head"], caps["json-tail"] = strings.Join(head, ""), strings.Join(tail, "")

	path := filepath.Join("..", "docs", "views.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fillCaptures(string(doc), caps)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// quickstartDir is a fresh copy of the quickstart flow in a short path,
// since the header shows it.
func quickstartDir(t *testing.T) string {
	t.Helper()
	flow, err := os.ReadFile(filepath.Join("..", "examples", "quickstart", "flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "quickstart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), flow, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// midRun is the moment the captures are taken and Ctrl-C pressed: build
// and assets running side by side.
func midRun(s string) bool {
	return strings.Contains(s, "step 2/3") && strings.Contains(s, "packing")
}

// captureTUI runs ensure under a terminal: a frame mid-run, one after a
// Ctrl-C, the screen at the end, and the end of a second run that finishes
// what the first left.
func captureTUI(t *testing.T, peace string) map[string]string {
	dir := quickstartDir(t)
	tty := openPTY(t, 96, 24)
	p := startOnTTY(t, peace, dir, tty, nil, "ensure")
	caps := map[string]string{}
	// A frame is whole once the renderer has paused.
	caps["tui-running"] = tty.waitFor(t, "build and assets running", showsWithin, func(s string) bool {
		return midRun(s) && tty.quiet()
	})
	tty.press(t, "\x03")
	caps["tui-stopping"] = tty.waitFor(t, "the stop footer", showsWithin, func(s string) bool {
		return strings.Contains(s, "stopping: ") && tty.quiet()
	})
	if code := p.wait(t, exitsWithin, tty.screen); code != 130 {
		t.Fatalf("exit %d; the terminal:\n%s", code, tty.screen())
	}
	tty.drain(t)
	checkModesReset(t, tty.output())
	caps["tui-end"] = tty.screen()

	again := openPTY(t, 96, 24)
	p = startOnTTY(t, peace, dir, again, nil, "ensure")
	if code := p.wait(t, exitsWithin, again.screen); code != 0 {
		t.Fatalf("exit %d; the terminal:\n%s", code, again.screen())
	}
	again.drain(t)
	caps["tui-again"] = again.screen()
	return caps
}

// capturePipes runs ensure as CI does, without a terminal, and sends
// SIGINT at the same moment the terminal run got its Ctrl-C. It returns
// stderr, with stdout in the same log if results is set.
func capturePipes(t *testing.T, peace string, results bool, args ...string) string {
	dir := quickstartDir(t)
	var log lockedBuffer
	c := exec.Command(peace, append(args, "ensure")...)
	c.Dir, c.Env = dir, ttyEnv()
	c.Stderr = &log
	if results {
		c.Stdout = &log
	}
	p := start(t, c)
	deadline := time.Now().Add(showsWithin)
	// The plain view writes an item's messages at most once a second, so
	// any step will do.
	for !strings.Contains(log.String(), "step ") || !strings.Contains(log.String(), "packing") {
		if time.Now().After(deadline) {
			t.Fatalf("build and assets not running within %s:\n%s", showsWithin, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, exitsWithin, log.String); code != 130 {
		t.Fatalf("exit %d:\n%s", code, log.String())
	}
	return log.String()
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fillCaptures puts each capture into doc after its marker line
// "<!-- capture NAME -->", as a text block, replacing the block there.
func fillCaptures(doc string, caps map[string]string) (string, error) {
	lines := strings.SplitAfter(doc, "\n")
	var out strings.Builder
	used := map[string]bool{}
	for i := 0; i < len(lines); i++ {
		out.WriteString(lines[i])
		name, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "<!-- capture ")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, " -->")
		text, ok := caps[name]
		if !ok {
			return "", fmt.Errorf("docs/views.md: no capture called %q", name)
		}
		used[name] = true
		// Skip the old block: from the fence after the marker to its end.
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "```") {
			j := i + 2
			for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
				j++
			}
			i = j
		}
		out.WriteString("```text\n" + strings.TrimRight(text, "\n") + "\n```\n")
	}
	for name := range caps {
		if !used[name] {
			return "", fmt.Errorf("docs/views.md has no marker for capture %q", name)
		}
	}
	return out.String(), nil
}
