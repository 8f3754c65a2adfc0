package shcmd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

func TestMain(m *testing.M) {
	// Become the reaper of orphaned grandchildren, so that a test can reap
	// the dead of a process group and see the group vanish (ESRCH) even
	// where PID 1 never reaps orphans, as in some containers.
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		os.Stderr.WriteString("prctl(PR_SET_CHILD_SUBREAPER): " + errno.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// build makes an item from params written as YAML, the way a flow file does.
func build(t *testing.T, dir, params string) (items.Item, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(params), &doc); err != nil {
		t.Fatal(err)
	}
	return shcmd.Type.New("build", doc.Content[0], items.Env{Dir: dir})
}

// yamlOf writes params as a flow file would hold them, quoting taken care of.
func yamlOf(t *testing.T, params map[string]string) string {
	t.Helper()
	data, err := yaml.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustBuild(t *testing.T, dir, params string) items.Item {
	t.Helper()
	it, err := build(t, dir, params)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// recorder is a Tracker that keeps every message and hands them to a test
// waiting for one.
type recorder struct {
	mu       sync.Mutex
	messages []string
	limits   []progress.Limit
	ch       chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 1000)} }

func (r *recorder) SetLimit(l progress.Limit) {
	r.mu.Lock()
	r.limits = append(r.limits, l)
	r.mu.Unlock()
}
func (r *recorder) Advance(int64) {}
func (r *recorder) Message(m string) {
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
	select {
	case r.ch <- m:
	default:
	}
}

// Output is a line the command printed; the tests read it with the
// messages.
func (r *recorder) Output(line string) { r.Message(line) }

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.messages...)
}

// next waits for the next message. The timeout only keeps a broken test
// from hanging; it is not a measure of speed.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.ch:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message from the command")
		return ""
	}
}

func fc(op items.Op, tr progress.Tracker, stored *string) items.FnCtx {
	c := items.FnCtx{Op: op, Progress: tr}
	if stored != nil {
		c.Stored = *stored
	}
	return c
}

func str(t *testing.T) func(items.State, error) string {
	return func(s items.State, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s.(string)
	}
}

// groupGone fails t unless every process of the group pgid is gone: the
// dead reaped, and kill(-pgid, 0) says ESRCH.
func groupGone(t *testing.T, pgid int) {
	t.Helper()
	// SIGKILL is delivered asynchronously: give the kernel a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		for {
			if pid, err := syscall.Wait4(-pgid, nil, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process group %d is still there (kill -0: %v)", pgid, err)
			syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParams(t *testing.T) {
	dir := t.TempDir()
	for params, want := range map[string]string{
		`{current: a, goal: b}`: "item build: param ensure is required",
		`{ensure: c}`:           "item build: params current, goal are required",
		`{current: a, goal: b, ensure: c, clean: d}`:                 "item build: param clean needs clean_state",
		`{current: a, goal: b, ensure: c, clean_state: e}`:           "item build: param clean_state needs clean",
		`{current: a, goal: b, ensure: c, cleanup: d}`:               `unknown param "cleanup" (expected one of: current, goal, ensure, clean, clean_state, env)`,
		`{current: a, goal: " ", ensure: c}`:                         "item build: param goal is required",
		`{current: a, goal: b, ensure: c, clean: d, clean_state: e}`: "",
		`{current: a, goal: b, ensure: c}`:                           "",
	} {
		_, err := build(t, dir, params)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", params, err)
			}
			continue
		}
		var ie *items.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want an InputError containing %q", params, err, want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	// Variables of an outer run must not leak into this item's commands.
	t.Setenv(shcmd.EnvGoalState, "outer goal")
	t.Setenv(shcmd.EnvStoredState, "outer stored")
	t.Setenv("SHCMD_TEST_INHERITED", "inherited")
	t.Setenv(shcmd.EnvStateOut, "outer state out")
	show := `printf '%s|%s|%s|%s|%s' "$PEACE_ITEM_ID" "$PEACE_STORED_STATE" "${PEACE_GOAL_STATE-unset}" "$SHCMD_TEST_INHERITED" "$(pwd)"`
	// ensure and clean print their log: what they report goes to $PEACE_STATE_OUT.
	report := show + ` > "$PEACE_STATE_OUT"`
	it := mustBuild(t, dir, yamlOf(t, map[string]string{"current": show, "goal": show, "ensure": report, "clean": report, "clean_state": show}))
	ctx := context.Background()
	stored := "last recorded"
	want := func(stored, goal string) string {
		return "build|" + stored + "|" + goal + "|inherited|" + dir
	}

	if got := str(t)(it.Current(ctx, fc(items.OpEnsure, progress.NoTracker, &stored))); got != want(stored, "unset") {
		t.Errorf("current printed %q, want %q", got, want(stored, "unset"))
	}
	if got := str(t)(it.Goal(ctx, fc(items.OpEnsure, progress.NoTracker, nil))); got != want("", "unset") {
		t.Errorf("goal without a stored state printed %q, want %q", got, want("", "unset"))
	}
	if got := str(t)(it.Clean(ctx, fc(items.OpClean, progress.NoTracker, &stored))); got != want(stored, "unset") {
		t.Errorf("clean_state printed %q", got)
	}
	if got := str(t)(it.Apply(ctx, fc(items.OpEnsure, progress.NoTracker, &stored), "absent", "built")); got != want(stored, "built") {
		t.Errorf("ensure printed %q, want %q", got, want(stored, "built"))
	}
	if got := str(t)(it.Apply(ctx, fc(items.OpClean, progress.NoTracker, &stored), "built", "absent")); got != want(stored, "unset") {
		t.Errorf("clean printed %q, want %q", got, want(stored, "unset"))
	}
	// Only ensure and clean are told where to write a state.
	probe := mustBuild(t, dir, yamlOf(t, map[string]string{"current": `echo "${PEACE_STATE_OUT-unset}"`, "goal": "echo built", "ensure": "true"}))
	if got := str(t)(probe.Current(ctx, fc(items.OpEnsure, progress.NoTracker, nil))); got != "unset" {
		t.Errorf("current saw PEACE_STATE_OUT=%q", got)
	}
}

func TestStatesAreTrimmedStdout(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{current: "printf '\n  absent \n\n'; echo noise >&2", goal: "echo built", ensure: "true"}`)
	ctx := context.Background()
	if got := str(t)(it.Current(ctx, fc(items.OpEnsure, progress.NoTracker, nil))); got != "absent" {
		t.Errorf("current %q, want %q", got, "absent")
	}
	if got := str(t)(it.Goal(ctx, fc(items.OpEnsure, progress.NoTracker, nil))); got != "built" {
		t.Errorf("goal %q", got)
	}
}

func TestStateOutIsTheAppliedState(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, tc := range []struct{ ensure, want string }{
		{`echo "id-$PEACE_GOAL_STATE-42" > "$PEACE_STATE_OUT"`, "id-built-42"}, // a physical state only ensure knows
		{`printf '  id-7 \n\n' > "$PEACE_STATE_OUT"`, "id-7"},                  // trimmed
		{`echo "id-$PEACE_GOAL_STATE-42"`, "built"},                            // printed: the log, not a state
		{`echo made > out`, "built"},                                           // nothing written: the goal
		{`printf '  \n\t\n' > "$PEACE_STATE_OUT"`, "built"},                    // only blanks: the goal
		{`echo progress >&2`, "built"},                                         // stderr is not a state
	} {
		it := mustBuild(t, dir, yamlOf(t, map[string]string{"current": "echo absent", "goal": "echo built", "ensure": tc.ensure}))
		got := str(t)(it.Apply(ctx, fc(items.OpEnsure, progress.NoTracker, nil), "absent", "built"))
		if got != tc.want {
			t.Errorf("ensure %s: applied state %q, want %q", tc.ensure, got, tc.want)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(data) != "made\n" {
		t.Errorf("ensure did not run in the flow directory: %q %v", data, err)
	}
}

// TestStateOutLeavesNothing: each command in flight gets a name of its
// own in a directory no one else can write to; the file does not exist
// until the command writes it, and once no command is in flight, nothing
// of them is left in the temporary directory.
func TestStateOutLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	// Each command checks the file is not there yet and the directory is
	// private, waits for the others to start (so they overlap), then writes
	// its own ID.
	const n = 4
	ensure := `test ! -e "$PEACE_STATE_OUT" || exit 3
[ "$(stat -c %a "$(dirname "$PEACE_STATE_OUT")")" = 700 ] || exit 4
echo "$PEACE_STATE_OUT" > "$PEACE_ITEM_ID.path"
while [ "$(ls *.path | wc -l)" -lt ` + strconv.Itoa(n) + ` ]; do sleep 0.01; done
echo "id-$PEACE_ITEM_ID" > "$PEACE_STATE_OUT"`
	errs := make(chan error, n)
	got := make([]string, n)
	for i := range n {
		go func() {
			it, err := shcmd.New(items.ID("i"+strconv.Itoa(i)), shcmd.Params{Current: "echo a", Goal: shcmd.Source{Command: "echo b"}, Ensure: ensure}, items.Env{Dir: dir})
			if err == nil {
				var s items.State
				s, err = it.Apply(context.Background(), fc(items.OpEnsure, progress.NoTracker, nil), "a", "b")
				got[i], _ = s.(string)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	paths := map[string]bool{}
	for i := range n {
		if want := "id-i" + strconv.Itoa(i); got[i] != want {
			t.Errorf("item %d: applied state %q, want %q", i, got[i], want)
		}
		b, err := os.ReadFile(filepath.Join(dir, "i"+strconv.Itoa(i)+".path"))
		if err != nil {
			t.Fatal(err)
		}
		paths[strings.TrimSpace(string(b))] = true
	}
	if len(paths) != n {
		t.Errorf("commands in flight shared names: %v", paths)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
}

func TestFixedStatesRunNothing(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{current: "echo absent", goal: {value: " built "}, ensure: "touch out", clean: "rm -f out", clean_state: {value: absent}}`)
	ctx := context.Background()
	g := &groups{}
	ensure, clean := fc(items.OpEnsure, progress.NoTracker, nil), fc(items.OpClean, progress.NoTracker, nil)
	ensure.Processes, clean.Processes = g, g
	if got := str(t)(it.Goal(ctx, ensure)); got != "built" {
		t.Errorf("goal %q, want the fixed value trimmed", got)
	}
	if got := str(t)(it.Clean(ctx, clean)); got != "absent" {
		t.Errorf("clean state %q", got)
	}
	if len(g.started) != 0 {
		t.Errorf("fixed states started process groups %v", g.started)
	}
	for _, bad := range []string{`{current: a, goal: {value: [x]}, ensure: c}`, `{current: a, goal: {vale: x}, ensure: c}`, `{current: a, goal: {}, ensure: c}`} {
		if _, err := build(t, dir, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestEchoedStatesRunNothing: a goal or clean_state that only echoes
// plain words is what sh would print, known without a process; anything
// else runs.
func TestEchoedStatesRunNothing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("X", "from the environment")
	for _, tc := range []struct {
		script string
		runs   bool
	}{
		{"echo done", false},
		{"  echo   built  v1.2_3 a/b:c@d%e+f-g,h  ", false},
		{"echo", false},
		{"echo\tdone", false},
		{"echo $X", true},
		{"echo 'a  b'", true},
		{"echo a*", true},
		{"echo ~", true},
		{"echo -n done", true},
		{`echo a\\tb`, true},
		{"echo a; echo b", true},
		{"echo a\necho b", true},
		{"echo {a,b}", true},
		{"echo done # note", true},
		{"echo a >&2", true},
		{"printf done", true},
	} {
		want, err := exec.Command("sh", "-c", tc.script).Output()
		if err != nil {
			t.Fatal(err)
		}
		it := mustBuild(t, dir, yamlOf(t, map[string]string{"current": "echo a", "goal": tc.script, "ensure": "true", "clean": "true", "clean_state": tc.script}))
		g := &groups{}
		c := fc(items.OpEnsure, progress.NoTracker, nil)
		c.Processes = g
		goal := str(t)(it.Goal(context.Background(), c))
		cleanState := str(t)(it.Clean(context.Background(), c))
		if w := strings.TrimSpace(string(want)); goal != w || cleanState != w {
			t.Errorf("%q: goal %q, clean state %q; sh prints %q", tc.script, goal, cleanState, w)
		}
		if ran := len(g.started) > 0; ran != tc.runs {
			t.Errorf("%q: started %v, want a process: %v", tc.script, g.started, tc.runs)
		}
	}
}

func TestFlow(t *testing.T) {
	// The sh_cmd of DESIGN §4, through every function.
	dir := t.TempDir()
	it := mustBuild(t, dir, `
current: "cat built 2>/dev/null || echo absent"
goal: "echo built"
ensure: "echo building >&2 && echo built > built"
clean: "rm -f built"
clean_state: "echo absent"
`)
	ctx := context.Background()
	ens := fc(items.OpEnsure, progress.NoTracker, nil)
	cln := fc(items.OpClean, progress.NoTracker, nil)

	cur := str(t)(it.Current(ctx, ens))
	goal := str(t)(it.Goal(ctx, ens))
	if cur != "absent" || goal != "built" {
		t.Fatalf("current %q goal %q", cur, goal)
	}
	if d, err := it.Diff(cur, goal); err != nil || d != (items.Diff{Text: "absent → built"}) {
		t.Errorf("diff %+v %v", d, err)
	}
	if chk, err := it.ApplyCheck(ctx, ens, cur, goal); err != nil || chk != items.Required(progress.Unknown()) {
		t.Errorf("apply check %+v %v", chk, err)
	}
	if dry := str(t)(it.ApplyDry(ctx, ens, cur, goal)); dry != goal {
		t.Errorf("dry %q", dry)
	}
	if _, err := os.Stat(filepath.Join(dir, "built")); err == nil {
		t.Fatal("the dry run ran ensure")
	}
	if got := str(t)(it.Apply(ctx, ens, cur, goal)); got != "built" {
		t.Errorf("applied %q", got)
	}
	cur = str(t)(it.Current(ctx, ens))
	if chk, _ := it.ApplyCheck(ctx, ens, cur, goal); chk.Required {
		t.Errorf("after ensure current is %q: still required", cur)
	}

	target := str(t)(it.Clean(ctx, cln))
	if target != "absent" {
		t.Errorf("clean state %q", target)
	}
	if dry := str(t)(it.ApplyDry(ctx, cln, cur, target)); dry != target {
		t.Errorf("dry clean %q", dry)
	}
	if got := str(t)(it.Apply(ctx, cln, cur, target)); got != "absent" {
		t.Errorf("cleaned %q", got)
	}
	if cur := str(t)(it.Current(ctx, ens)); cur != "absent" {
		t.Errorf("after clean current is %q", cur)
	}
	if d, _ := it.Diff(cur, cur); !d.Equal {
		t.Errorf("diff of equal states %+v", d)
	}
}

func TestWithoutCleanCleanDoesNothing(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{current: "cat state 2>/dev/null || echo absent", goal: "echo built", ensure: "echo built > state; echo ran > ensure_ran"}`)
	if err := os.WriteFile(filepath.Join(dir, "state"), []byte("built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cln := fc(items.OpClean, progress.NoTracker, nil)
	cur := str(t)(it.Current(ctx, cln))
	target := str(t)(it.Clean(ctx, cln))
	if target != cur {
		t.Errorf("clean state %q, want the current state %q", target, cur)
	}
	if chk, _ := it.ApplyCheck(ctx, cln, cur, target); chk.Required {
		t.Error("clean without a clean command is required")
	}
	// Even if asked, an apply for clean runs nothing.
	if got := str(t)(it.Apply(ctx, cln, cur, "absent")); got != cur {
		t.Errorf("clean apply returned %q, want the current state", got)
	}
	if got := str(t)(it.ApplyDry(ctx, cln, cur, "absent")); got != cur {
		t.Errorf("dry clean returned %q, want the current state", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "ensure_ran")); err == nil {
		t.Error("a clean ran the ensure command")
	}
}

func TestOutputLinesStreamAsMessages(t *testing.T) {
	dir := t.TempDir()
	// The command cannot finish until the test has seen its first line, so
	// the line must arrive while it runs.
	it := mustBuild(t, dir, `{current: "echo absent", goal: "echo built", ensure: "echo waiting >&2; while [ ! -e go ]; do sleep 0.01; done; echo out; sleep 0.2; printf 'a\rb\n\n   \nlast' >&2"}`)
	tr := newRecorder()
	done := make(chan error, 1)
	go func() {
		_, err := it.Apply(context.Background(), fc(items.OpEnsure, tr, nil), "absent", "built")
		done <- err
	}()
	if m := tr.next(t); m != "waiting" {
		t.Fatalf("first message %q, want %q", m, "waiting")
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := tr.all()
	// Lines printed faster than they are shown may be skipped (the newest
	// wins), but nothing else appears, and the last line is always shown.
	lines := map[string]bool{"waiting": true, "out": true, "a": true, "b": true, "": true, "   ": true, "last": true}
	for _, m := range got {
		if !lines[m] {
			t.Errorf("unexpected message %q", m)
		}
	}
	if len(got) == 0 || got[len(got)-1] != "last" {
		t.Errorf("messages %q: the last is not the command's last line", got)
	}
}

// A view that blocks (a paused terminal) holds up the output lines it is
// handed, never the command, and loses none of them: every line arrives,
// in order, once the view moves again.
func TestBlockedViewLosesNoOutput(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{current: "echo absent", goal: "echo built", ensure: "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; touch finished; echo vol-42 > \"$PEACE_STATE_OUT\""}`)
	release := make(chan struct{})
	tr := &blockingTracker{release: release}
	done := make(chan struct{})
	var got items.State
	var err error
	go func() {
		got, err = it.Apply(context.Background(), fc(items.OpEnsure, tr, nil), "absent", "built")
		close(done)
	}()
	// The command runs to its end while the view is held.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "finished")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command was held up by a blocked view")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if got != "vol-42" {
		t.Errorf("applied state %q", got)
	}
	if len(tr.lines) != 2000 {
		t.Fatalf("%d lines delivered, want 2000", len(tr.lines))
	}
	for i, l := range tr.lines {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q: out of order or lost", i, l)
		}
	}
}

type blockingTracker struct {
	release chan struct{}
	lines   []string // one goroutine delivers them
}

func (b *blockingTracker) SetLimit(progress.Limit) {}
func (b *blockingTracker) Advance(int64)           {}
func (b *blockingTracker) Message(string)          { <-b.release }
func (b *blockingTracker) Output(line string) {
	<-b.release
	b.lines = append(b.lines, line)
}

func TestExitError(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, tc := range []struct{ ensure, want string }{
		{`echo out; echo first >&2; echo second >&2; exit 3`, "ensure: exit status 3: out | first | second"}, // the log: both streams, in order
		{`for i in 1 2 3 4 5; do echo "line $i" >&2; done; exit 1`, "ensure: exit status 1: line 3 | line 4 | line 5"},
		{`echo only stdout; exit 2`, "ensure: exit status 2: only stdout"},
		{`exit 4`, "ensure: exit status 4"},
		{`no_such_command_here`, "ensure: exit status 127: sh: 1: no_such_command_here: not found"},
		// A first line that does not parse fails before the gate opens:
		// the shell's own message, not one about the gate.
		{`if then`, `ensure: exit status 2: sh: 1: Syntax error: "then" unexpected`},
		{"echo one\nno_such_command_here", "ensure: exit status 127: one | sh: 2: no_such_command_here: not found"},
		{`echo "$0 $#"; exit 1`, "ensure: exit status 1: sh 0"},
	} {
		it := mustBuild(t, dir, yamlOf(t, map[string]string{"current": "echo a", "goal": "echo b", "ensure": tc.ensure}))
		_, err := it.Apply(ctx, fc(items.OpEnsure, progress.NoTracker, nil), "a", "b")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v\nwant %s", tc.ensure, err, tc.want)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("%s: error %v does not wrap the exit status", tc.ensure, err)
		}
	}
	// Discovery commands name themselves too.
	it := mustBuild(t, dir, `{current: "exit 5", goal: "echo nope >&2; exit 6", ensure: "true"}`)
	if _, err := it.Current(ctx, fc(items.OpEnsure, progress.NoTracker, nil)); err == nil || err.Error() != "current: exit status 5" {
		t.Errorf("current: %v", err)
	}
	if _, err := it.Goal(ctx, fc(items.OpEnsure, progress.NoTracker, nil)); err == nil || err.Error() != "goal: exit status 6: nope" {
		t.Errorf("goal: %v", err)
	}
}

func TestExitErrorOnNoSuchShellDirectory(t *testing.T) {
	it := mustBuild(t, filepath.Join(t.TempDir(), "missing"), `{current: "echo a", goal: "echo b", ensure: "true"}`)
	_, err := it.Current(context.Background(), fc(items.OpEnsure, progress.NoTracker, nil))
	if err == nil || !strings.HasPrefix(err.Error(), "current: ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want a current: error about the missing directory", err)
	}
}

// promptly bounds how long a cancelled call may take in these tests: far
// below the 30 s their commands would run, so returning before it means the
// group was stopped, yet loose enough for a loaded machine. How fast a
// cancel really is, BenchmarkCancel measures (well under a second).
const promptly = 10 * time.Second

// startCancellable runs ensure in the background and returns its pgid (the
// script's first line must be its $$), a cancel, and the call's result.
func startCancellable(t *testing.T, ensure string) (int, *recorder, context.CancelFunc, <-chan error) {
	t.Helper()
	it := mustBuild(t, t.TempDir(), yamlOf(t, map[string]string{"current": "echo a", "goal": "echo b", "ensure": ensure}))
	tr := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		_, err := it.Apply(ctx, fc(items.OpEnsure, tr, nil), "a", "b")
		done <- err
	}()
	pgid, err := strconv.Atoi(tr.next(t))
	if err != nil {
		t.Fatal(err)
	}
	return pgid, tr, cancel, done
}

func TestCancelStopsTheWholeGroup(t *testing.T) {
	pgid, _, cancel, done := startCancellable(t, `echo $$; sh -c "sleep 30 & sleep 30"; echo never`)
	// Wait until the grandchildren exist: both sleeps are in the group.
	for deadline := time.Now().Add(10 * time.Second); countGroup(t, pgid) < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	err := <-done
	if elapsed := time.Since(start); elapsed > promptly {
		t.Errorf("the call returned %v after cancel: it waited for the command", elapsed)
	}
	// Nothing traps TERM here: no SIGKILL, and no wait for the grace.
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "ensure: stopped with SIGTERM") {
		t.Errorf("error %v, want an ensure: error about SIGTERM wrapping context.Canceled", err)
	}
	groupGone(t, pgid)
}

func TestCancelKillsWhatIgnoresTERM(t *testing.T) {
	pgid, tr, cancel, done := startCancellable(t, `trap "echo got TERM >&2" TERM; echo $$; while :; do sleep 0.05; done`)
	start := time.Now()
	cancel()
	err := <-done
	elapsed := time.Since(start)
	if elapsed < shcmd.Grace {
		t.Errorf("killed %v after cancel, before the %v grace", elapsed, shcmd.Grace)
	}
	if elapsed > promptly {
		t.Errorf("the call returned %v after cancel: SIGKILL never came", elapsed)
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "SIGKILL") {
		t.Errorf("error %v, want one that says SIGKILL and wraps context.Canceled", err)
	}
	sawTERM := false
	for _, m := range tr.all() {
		sawTERM = sawTERM || m == "got TERM"
	}
	if !sawTERM {
		t.Errorf("the command never saw SIGTERM; messages %q", tr.all())
	}
	groupGone(t, pgid)
}

func TestCancelledBeforeStartRunsNothing(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{current: "touch ran", goal: "touch ran", ensure: "touch ran"}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := it.Current(ctx, fc(items.OpEnsure, progress.NoTracker, nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("a command ran on a cancelled context")
	}
}

func TestNormalExitKillsNothing(t *testing.T) {
	for _, script := range []string{
		`sleep 30 >/dev/null 2>&1 & echo $!`,
		// The background child holds stdout: the call must still return.
		`sleep 30 & echo $!`,
	} {
		it := mustBuild(t, t.TempDir(), yamlOf(t, map[string]string{"current": script, "goal": "echo b", "ensure": "true"}))
		out := str(t)(it.Current(context.Background(), fc(items.OpEnsure, progress.NoTracker, nil)))
		pid, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("%s printed %q", script, out)
		}
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("%s: background child %d is gone after a normal exit: %v", script, pid, err)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Wait4(pid, nil, 0, nil) // it is our orphan now
	}
}

func TestDiff(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{current: a, goal: b, ensure: c}`)
	for _, tc := range []struct {
		from, to string
		want     items.Diff
	}{
		{"absent", "built", items.Diff{Text: "absent → built"}},
		{"built", "built", items.Diff{Equal: true}},
		{"", "x", items.Diff{Text: `"" → x`}},
		{"one\ntwo", "one", items.Diff{Text: "one … → one"}},
		{strings.Repeat("é", 70), "x", items.Diff{Text: strings.Repeat("é", 59) + "… → x"}},
	} {
		if got, err := it.Diff(tc.from, tc.to); err != nil || got != tc.want {
			t.Errorf("diff %q → %q = %+v %v, want %+v", tc.from, tc.to, got, err, tc.want)
		}
	}
}

func TestDecodeState(t *testing.T) {
	it := mustBuild(t, t.TempDir(), `{current: a, goal: b, ensure: c}`)
	s, err := it.DecodeState([]byte(`"id-42"`))
	if err != nil || s != "id-42" {
		t.Errorf("decoded %v %v", s, err)
	}
}

// countGroup counts the processes of group pgid, from /proc.
func countGroup(t *testing.T, pgid int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces: state ppid pgrp.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			n++
		}
	}
	return n
}

// TestCancelKillsGrandchildThatIgnoresTERM: the command's leader dies of
// SIGTERM at once, but a grandchild that ignores it is still in the group:
// it gets SIGKILL after the grace, and the call returns only once it is
// gone.
func TestCancelKillsGrandchildThatIgnoresTERM(t *testing.T) {
	pgid, tr, cancel, done := startCancellable(t, `echo $$; sh -c 'trap "" TERM; echo $$; exec sleep 30' & wait`)
	grandchild, err := strconv.Atoi(tr.next(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	err = <-done
	elapsed := time.Since(start)
	// SIGKILL has been sent when the call returns; the kernel may take a
	// moment to finish the process, which runs no code of its own again.
	for deadline := time.Now().Add(time.Second); alive(grandchild); {
		if time.Now().After(deadline) {
			t.Fatalf("the grandchild %d that ignores SIGTERM is alive a second after the call returned", grandchild)
		}
		time.Sleep(time.Millisecond)
	}
	if elapsed < shcmd.Grace {
		t.Errorf("returned %v after cancel, before the %v grace", elapsed, shcmd.Grace)
	}
	if elapsed > promptly {
		t.Errorf("the call returned %v after cancel", elapsed)
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "SIGKILL") {
		t.Errorf("error %v, want one that says SIGKILL and wraps context.Canceled", err)
	}
	groupGone(t, pgid)
}

// alive reports whether pid runs: not gone, not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// groups is an items.ProcessGroups that keeps what it was told.
type groups struct {
	mu      sync.Mutex
	refuse  error
	started []int
	ended   []int
}

func (g *groups) Started(pgid int) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refuse != nil {
		return nil, g.refuse
	}
	g.started = append(g.started, pgid)
	// The group has run nothing yet: its only process is the gate.
	if n := countGroupNoT(pgid); n != 1 {
		g.started = append(g.started, -n)
	}
	return func() {
		g.mu.Lock()
		g.ended = append(g.ended, pgid)
		g.mu.Unlock()
	}, nil
}

// TestProcessGroupsAreTold: every command's group is told before it runs
// and ended after; a group refused runs nothing.
func TestProcessGroupsAreTold(t *testing.T) {
	dir := t.TempDir()
	it := mustBuild(t, dir, `{current: "echo $$ > current.pgid; echo a", goal: "echo b", ensure: "echo $$ > ensure.pgid; echo b"}`)
	g := &groups{}
	c := fc(items.OpEnsure, progress.NoTracker, nil)
	c.Processes = g
	if _, err := it.Current(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := it.Apply(context.Background(), c, "a", "b"); err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, name := range []string{"current.pgid", "ensure.pgid"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, pgid)
	}
	if !slices.Equal(g.started, want) || !slices.Equal(g.ended, want) {
		t.Errorf("told of groups started %v, ended %v; want %v for both (a negative count: processes that ran before the group was told)",
			g.started, g.ended, want)
	}

	refused := errors.New("no more groups")
	g = &groups{refuse: refused}
	c.Processes = g
	if _, err := it.Apply(context.Background(), c, "a", "b"); !errors.Is(err, refused) {
		t.Errorf("apply with its group refused: %v, want %v", err, refused)
	}
	os.Remove(filepath.Join(dir, "ensure.pgid"))
	if _, err := it.Apply(context.Background(), c, "a", "b"); err == nil {
		t.Error("apply with its group refused succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "ensure.pgid")); err == nil {
		t.Error("a command whose group was refused ran")
	}
}

// countGroupNoT counts the live processes of group pgid, from /proc.
func countGroupNoT(pgid int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			n++
		}
	}
	return n
}
