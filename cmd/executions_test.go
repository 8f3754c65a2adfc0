//go:build linux

// These tests run the real binary in the background and look at its
// processes through /proc and signals, as the kill harness does.

package cmd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds that catch a hang, not a slow machine.
const (
	bgWithin    = 30 * time.Second // something a background run says or writes
	bgExitsIn   = 60 * time.Second // a command to end
	itemsGone   = time.Second      // DESIGN §5: nothing a run started outlives it by more
	stageWithin = 10 * time.Second
)

// gateFlow runs gate until the file "release" appears, then after. If the
// file "fail" exists then, gate fails. gate says it waits on its output,
// so the test knows when it is in flight.
const gateFlow = `flow: bg
items:
  - id: gate
    type: sh_cmd
    params:
      current: "cat gate.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo $$ > gate.pid; echo waiting for release; until [ -e release ]; do sleep 0.02; done; if [ -e fail ]; then echo 'gate: the release broke it' >&2; exit 3; fi; echo done > gate.out"
  - id: after
    type: sh_cmd
    depends_on: [gate]
    params:
      current: "cat after.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo after ran; echo done > after.out"
`

// napFlow has an item whose command leaves a child sleeping 30 s (its pid
// in nap.child) unless the file "fast" exists, and one that ignores
// SIGTERM, so that only a kill ends it.
const napFlow = `flow: nap
items:
  - id: nap
    type: sh_cmd
    params:
      current: "cat nap.out 2>/dev/null || echo absent"
      goal: "echo rested"
      ensure: "if [ -e fast ]; then echo rested > nap.out; exit 0; fi; echo napping; sleep 30 & echo $! > nap.child; wait"
  - id: mule
    type: sh_cmd
    params:
      current: "cat mule.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "if [ -e fast ]; then echo done > mule.out; exit 0; fi; trap '' TERM; echo stubborn; sleep 30 & echo $! > mule.child; while :; do wait; done"
`

// rig is a flow directory and the peace binary that runs it.
type rig struct {
	t     testing.TB
	peace string
	dir   string
	flow  string // the flow ID, for the record's path
}

func newRig(t testing.TB, peace, flowID, flow string) *rig {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, peace: peace, dir: dir, flow: flowID}
	t.Cleanup(r.killRunners)
	return r
}

// command is peace ARGS in the rig's directory, without a terminal.
func (r *rig) command(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, r.peace, append([]string{"-f", filepath.Join(r.dir, "flow.yaml")}, args...)...)
	c.Dir = r.dir
	c.Env = append(os.Environ(), "NO_COLOR=1")
	c.WaitDelay = time.Second
	return c
}

// run runs peace ARGS to its end and returns its exit code and output.
func (r *rig) run(args ...string) (code int, stdout, stderr string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bgExitsIn)
	defer cancel()
	var out, errOut bytes.Buffer
	c := r.command(ctx, args...)
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		code = ee.ExitCode()
	case err != nil:
		r.t.Fatalf("peace %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// detach starts peace ensure --detach ARGS and returns the execution ID.
func (r *rig) detach(args ...string) string {
	r.t.Helper()
	code, out, errOut := r.run(append([]string{"ensure", "--detach"}, args...)...)
	id := strings.TrimSpace(out)
	if code != 0 || id == "" || strings.Contains(id, "\n") {
		r.t.Fatalf("ensure --detach: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	return id
}

// path is a file of the rig's directory.
func (r *rig) path(name string) string { return filepath.Join(r.dir, name) }

// release lets gate finish.
func (r *rig) release() {
	r.t.Helper()
	if err := os.WriteFile(r.path("release"), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// records is the directory of the profile's execution records.
func (r *rig) records(profile string) string {
	return filepath.Join(r.dir, ".peace", profile, r.flow, "executions")
}

func (r *rig) record(id string) string { return filepath.Join(r.records("default"), id) }

// execution is the record's execution.json as a test reads it.
type execution struct {
	ID       string            `json:"id"`
	Command  string            `json:"command"`
	PID      int               `json:"pid"`
	State    string            `json:"state"`
	ExitCode *int              `json:"exit_code"`
	Items    map[string]string `json:"items"`
	LastSeq  int64             `json:"last_seq"`
	Actions  map[string]bool   `json:"actions"`
}

// stored reads execution.json as written (no lost detection: that is the
// commands' business).
func (r *rig) stored(id string) execution {
	r.t.Helper()
	var e execution
	data, err := os.ReadFile(filepath.Join(r.record(id), "execution.json"))
	if err == nil {
		err = json.Unmarshal(data, &e)
	}
	if err != nil {
		r.t.Fatalf("execution %s: %v", id, err)
	}
	return e
}

// recEvent is one line of events.jsonl.
type recEvent struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Item     string    `json:"item"`
	Line     string    `json:"line"`
	Stage    string    `json:"stage"`
	Status   string    `json:"status"`
	Message  string    `json:"message"`
	InFlight []string  `json:"in_flight"`
	Outcome  string    `json:"outcome"`
}

// events reads the record's events.jsonl: its complete lines with a seq.
func (r *rig) events(id string) []recEvent {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.record(id), "events.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	return parseEvents(r.t, data)
}

func parseEvents(t testing.TB, data []byte) []recEvent {
	t.Helper()
	var evs []recEvent
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 || line[len(line)-1] != '\n' {
			continue // a line still being written
		}
		var ev recEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if ev.Seq > 0 {
			evs = append(evs, ev)
		}
	}
	return evs
}

// awaitEvent waits until the record has an event that match accepts.
func (r *rig) awaitEvent(id, what string, match func(recEvent) bool) recEvent {
	r.t.Helper()
	deadline := time.Now().Add(bgWithin)
	for {
		for _, ev := range r.events(id) {
			if match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("execution %s: no %s within %s; events:\n%s", id, what, bgWithin, r.eventList(id))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) awaitType(id, typ string) recEvent {
	r.t.Helper()
	return r.awaitEvent(id, typ, func(ev recEvent) bool { return ev.Type == typ })
}

// awaitOutput waits until item's command has printed line.
func (r *rig) awaitOutput(id, item, line string) {
	r.t.Helper()
	r.awaitEvent(id, fmt.Sprintf("%s saying %q", item, line), func(ev recEvent) bool {
		return ev.Type == "item_output" && ev.Item == item && ev.Line == line
	})
}

func (r *rig) eventList(id string) string {
	var b strings.Builder
	for _, ev := range r.events(id) {
		fmt.Fprintf(&b, "  %d %s %s %s %s %v\n", ev.Seq, ev.Type, ev.Item, ev.Stage, ev.Line+ev.Message, ev.InFlight)
	}
	return b.String()
}

// awaitEnd waits until the execution's record has ended and returns it.
func (r *rig) awaitEnd(id string) execution {
	r.t.Helper()
	deadline := time.Now().Add(bgExitsIn)
	for {
		e := r.stored(id)
		if e.ExitCode != nil {
			return e
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("execution %s has not ended within %s: %+v; events:\n%s", id, bgExitsIn, e, r.eventList(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killRunners kills the runners of the rig's live executions, so that no
// test leaves one behind.
func (r *rig) killRunners() {
	profiles, _ := os.ReadDir(filepath.Join(r.dir, ".peace"))
	for _, p := range profiles {
		recs, _ := os.ReadDir(r.records(p.Name()))
		for _, rec := range recs {
			var e execution
			data, err := os.ReadFile(filepath.Join(r.records(p.Name()), rec.Name(), "execution.json"))
			if err != nil || json.Unmarshal(data, &e) != nil || e.ExitCode != nil || e.PID <= 0 {
				continue
			}
			// Only a runner: the pid may have been reused.
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.PID))
			if bytes.Contains(cmdline, []byte("--detached-runner")) {
				_ = syscall.Kill(e.PID, syscall.SIGKILL)
			}
		}
	}
}

// pidIn reads the pid a command wrote to a file of the rig.
func (r *rig) pidIn(name string) int {
	r.t.Helper()
	deadline := time.Now().Add(bgWithin)
	for {
		data, _ := os.ReadFile(r.path(name))
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s holds no pid: %q", name, data)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processGone waits up to within for pid to be gone (or a zombie).
func processGone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) || zombie(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// percentiles returns the median and the longest of ds.
func percentiles(ds []time.Duration) (p50, longest time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// TestExecutions drives background executions of the real binary from
// other processes: interrupts by ID, a runner killed outright, a follower
// killed and resumed, attach under a terminal.
func TestExecutions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary in the background")
	}
	peace := buildPeace(t, t.TempDir())
	t.Run("InterruptStages", func(t *testing.T) { testInterruptStages(t, peace) })
	t.Run("InterruptKill", func(t *testing.T) { testInterruptKill(t, peace) })
	t.Run("InterruptFinishedAndUnknown", func(t *testing.T) { testInterruptFinished(t, peace) })
	t.Run("InterruptTiming", func(t *testing.T) { testInterruptTiming(t, peace) })
	t.Run("RunnerKilledIsLost", func(t *testing.T) { testRunnerKilled(t, peace) })
	t.Run("WaitResumes", func(t *testing.T) { testWaitResumes(t, peace) })
	t.Run("AttachCtrlCTwice", func(t *testing.T) { testAttachCtrlCTwice(t, peace) })
}

// testInterruptStages: interrupt, then interrupt --cancel, from other
// processes, each announced in the runner's events with the items in
// flight, and the execution's state moving with them.
func testInterruptStages(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow)
	id := r.detach()
	r.awaitOutput(id, "gate", "waiting for release")

	code, out, errOut := r.run("interrupt", id)
	if code != 0 || out != id+": stop; in flight: gate\n" {
		t.Fatalf("interrupt: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	stop := r.awaitType(id, "interrupt_received")
	if stop.Stage != "stop" || !slices.Equal(stop.InFlight, []string{"gate"}) {
		t.Errorf("stop event: %+v", stop)
	}
	if e := r.stored(id); e.State != "stopping" || !e.Actions["cancel"] || e.Actions["stop"] || e.Actions["kill"] {
		t.Errorf("after the stop the record says %s, actions %v", e.State, e.Actions)
	}
	// The stop lets gate run on: it is still in flight.
	if _, err := os.Stat(r.path("gate.out")); err == nil {
		t.Fatal("gate finished before it was released")
	}

	code, out, errOut = r.run("interrupt", id, "--cancel")
	if code != 0 || out != id+": cancel; in flight: gate\n" {
		t.Fatalf("interrupt --cancel: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	cancel := r.awaitType(id, "cancel_requested")
	if cancel.Stage != "cancel" || !slices.Equal(cancel.InFlight, []string{"gate"}) {
		t.Errorf("cancel event: %+v", cancel)
	}
	e := r.awaitEnd(id)
	if e.State != "interrupted" || *e.ExitCode != 130 || e.Items["gate"] != "interrupted" || e.Items["after"] != "not_started" {
		t.Errorf("ended %s, exit %d, items %v; want interrupted, 130, gate interrupted, after not_started", e.State, *e.ExitCode, e.Items)
	}
	if code, _, errOut := r.run("wait", id); code != 130 {
		t.Errorf("wait: exit %d, want 130:\n%s", code, errOut)
	}
}

// testInterruptKill: --kill after a cancel kills commands that ignore the
// cancel; --kill alone goes through stop and cancel first. Each stage is
// announced, the items end interrupted (not failed), and no process of the
// execution is left.
func testInterruptKill(t *testing.T, peace string) {
	for _, alone := range []bool{false, true} {
		t.Run(fmt.Sprintf("alone=%v", alone), func(t *testing.T) {
			r := newRig(t, peace, "nap", napFlow)
			id := r.detach()
			r.awaitOutput(id, "mule", "stubborn")
			r.awaitOutput(id, "nap", "napping")
			children := []int{r.pidIn("nap.child"), r.pidIn("mule.child")}
			runner := r.stored(id).PID
			if !alone {
				if code, _, errOut := r.run("interrupt", id, "--cancel"); code != 0 {
					t.Fatalf("interrupt --cancel: exit %d:\n%s", code, errOut)
				}
				r.awaitType(id, "cancel_requested")
				// mule ignores SIGTERM: still in flight.
				time.Sleep(100 * time.Millisecond)
				if e := r.stored(id); e.State != "cancelling" || !e.Actions["kill"] {
					t.Fatalf("after the cancel the record says %s, actions %v", e.State, e.Actions)
				}
			}
			began := time.Now()
			code, out, errOut := r.run("interrupt", id, "--kill")
			if code != 0 || !strings.HasPrefix(out, id+": kill") {
				t.Fatalf("interrupt --kill: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
			}
			for _, pid := range children {
				if !processGone(pid, time.Until(began.Add(itemsGone))) {
					t.Errorf("process %d of the execution still runs %s after the kill", pid, itemsGone)
				}
			}
			e := r.awaitEnd(id)
			if e.State != "interrupted" || *e.ExitCode != 130 {
				t.Errorf("ended %s, exit %d; want interrupted, 130", e.State, *e.ExitCode)
			}
			for _, item := range []string{"nap", "mule"} {
				if e.Items[item] != "interrupted" {
					t.Errorf("%s ended %q, want interrupted; events:\n%s", item, e.Items[item], r.eventList(id))
				}
			}
			var stages []string
			for _, ev := range r.events(id) {
				if ev.Stage != "" {
					stages = append(stages, ev.Type+":"+ev.Stage)
				}
			}
			want := []string{"interrupt_received:stop", "cancel_requested:cancel", "notice:kill"}
			if !slices.Equal(stages, want) {
				t.Errorf("stages announced %v, want %v; events:\n%s", stages, want, r.eventList(id))
			}
			// The runner itself ends once the execution is recorded.
			if !processGone(runner, bgWithin) {
				t.Errorf("the runner (pid %d) is still there", runner)
			}
		})
	}
}

// testInterruptFinished: on a finished execution interrupt prints its
// outcome and exits 0 (even if the execution failed), as often as it is
// asked, and changes nothing; an unknown ID is exit 2.
func testInterruptFinished(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow)
	r.release()
	for _, tc := range []struct{ state, result string }{
		{"complete", "ensure complete: 2 applied"},
		{"failed", "ensure failed"},
	} {
		if tc.state == "failed" {
			for _, f := range []string{"fail", "gate.out"} {
				if err := os.WriteFile(r.path(f), []byte("redo\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		id := r.detach()
		if e := r.awaitEnd(id); e.State != tc.state {
			t.Fatalf("ended %s, want %s", e.State, tc.state)
		}
		for _, stage := range []string{"", "--cancel", "--kill"} {
			args := []string{"interrupt", id}
			if stage != "" {
				args = append(args, stage)
			}
			code, out, errOut := r.run(args...)
			if code != 0 || !strings.Contains(errOut, "execution "+id+" has ended: "+tc.state) ||
				!strings.Contains(out, tc.result) {
				t.Errorf("%s on a %s execution: exit %d, stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), tc.state, code, out, errOut)
			}
		}
		if e := r.stored(id); e.State != tc.state {
			t.Errorf("the record changed: %+v", e)
		}
	}
	for _, bad := range []string{"20200101-000000-abcdef", "../x", "Nope"} {
		if code, _, errOut := r.run("interrupt", bad); code != 2 {
			t.Errorf("interrupt %s: exit %d, want 2:\n%s", bad, code, errOut)
		}
	}
}

// testInterruptTiming measures, over runs of a detached execution, the
// time from the start of `peace interrupt ID` to the stop event in the
// execution's events (DESIGN §9: within 0.5 s).
func testInterruptTiming(t *testing.T, peace string) {
	const runs = 20
	var took []time.Duration
	r := newRig(t, peace, "bg", gateFlow)
	for range runs {
		id := r.detach()
		r.awaitOutput(id, "gate", "waiting for release")
		began := time.Now()
		if code, _, errOut := r.run("interrupt", id); code != 0 {
			t.Fatalf("interrupt: exit %d:\n%s", code, errOut)
		}
		stop := r.awaitType(id, "interrupt_received")
		took = append(took, stop.Time.Sub(began))
		if code, _, errOut := r.run("interrupt", id, "--cancel"); code != 0 {
			t.Fatalf("interrupt --cancel: exit %d:\n%s", code, errOut)
		}
		r.awaitEnd(id)
	}
	p50, longest := percentiles(took)
	t.Logf("interrupt → stop event over %d runs: p50 %s, max %s", runs, p50.Round(time.Microsecond), longest.Round(time.Microsecond))
	if longest > 5*time.Second {
		t.Errorf("an interrupt took %s to reach the execution", longest)
	}
}

// testRunnerKilled: SIGKILL of a detached runner. Its items' commands are
// gone within a second (the watchdog); executions and wait say lost (wait
// exits 1); the next ensure recovers and names the items it left unknown.
func testRunnerKilled(t *testing.T, peace string) {
	r := newRig(t, peace, "nap", napFlow)
	id := r.detach()
	r.awaitOutput(id, "nap", "napping")
	r.awaitOutput(id, "mule", "stubborn")
	children := []int{r.pidIn("nap.child"), r.pidIn("mule.child")}
	runner := r.stored(id).PID
	if err := syscall.Kill(runner, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, pid := range children {
		if !processGone(pid, time.Until(killed.Add(itemsGone))) {
			t.Errorf("process %d of the killed runner is still running %s later", pid, itemsGone)
		}
	}
	if !processGone(runner, bgWithin) {
		t.Fatalf("the runner survived SIGKILL")
	}

	code, out, errOut := r.run("executions")
	if code != 0 || !regexpMatch(`(?m)^`+id+`\s+ensure\s+default\s+lost\s`, out) {
		t.Errorf("executions: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = r.run("executions", "--format", "json")
	var list struct{ Executions []execution }
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || len(list.Executions) != 1 ||
		list.Executions[0].State != "lost" || list.Executions[0].ExitCode != nil || list.Executions[0].Actions["stop"] {
		t.Errorf("executions --format json: exit %d, %v:\n%s", code, err, out)
	}
	code, _, errOut = r.run("wait", id)
	if code != 1 || !strings.Contains(errOut, "execution "+id+" is lost") {
		t.Errorf("wait on a lost execution: exit %d, want 1:\n%s", code, errOut)
	}
	// As JSON lines, the stream ends with a fatal event that says so.
	code, _, errOut = r.run("wait", id, "--progress", "json")
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	var last struct {
		Type, Message string
		Code          int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || code != 1 || last.Type != "fatal" ||
		last.Code != 1 || !strings.HasPrefix(last.Message, "execution "+id+" is lost") {
		t.Errorf("wait --progress json on a lost execution: exit %d, want 1 and a fatal event last:\n%s", code, errOut)
	}

	if err := os.WriteFile(r.path("fast"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = r.run("ensure", "--progress", "plain")
	if code != 0 || !regexpMatch(`execution `+id+` .*did not finish; items it was applying are unknown until rediscovered: mule, nap`, errOut) {
		t.Errorf("the ensure after: exit %d, want 0 naming the unknown items:\n%s", code, errOut)
	}
	// The lost record stays lost: nothing rewrites it as running.
	if code, out, _ := r.run("executions"); code != 0 || !regexpMatch(`(?m)^`+id+`\s+ensure\s+default\s+lost\s`, out) {
		t.Errorf("executions after the recovery:\n%s", out)
	}
}

// testWaitResumes: a wait killed mid-way and restarted with --from N+1 (N
// the last seq it showed) misses and repeats nothing.
func testWaitResumes(t *testing.T, peace string) {
	const chattyFlow = `flow: chatty
items:
  - id: talk
    type: sh_cmd
    params:
      current: "cat talk.out 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line $i; sleep 0.002; done; echo done > talk.out"
`
	r := newRig(t, peace, "chatty", chattyFlow)
	id := r.detach()
	r.awaitOutput(id, "talk", "line 5")

	// The first wait is killed once it has shown some events, mid-run.
	ctx, cancel := context.WithTimeout(context.Background(), bgExitsIn)
	defer cancel()
	first := r.command(ctx, "wait", id, "--progress", "json")
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var shown bytes.Buffer
	sc := bufio.NewScanner(stderr)
	for n := 0; n < 30 && sc.Scan(); n++ {
		shown.Write(sc.Bytes())
		shown.WriteByte('\n')
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	seen := parseEvents(t, shown.Bytes())
	if len(seen) == 0 {
		t.Fatalf("the first wait showed no event:\n%s", shown.String())
	}
	last := seen[len(seen)-1].Seq
	if e := r.stored(id); e.ExitCode != nil {
		t.Fatalf("the execution ended before the first wait was killed: the test shows nothing")
	}

	code, _, errOut := r.run("wait", id, "--from", strconv.FormatInt(last+1, 10), "--progress", "json")
	if code != 0 {
		t.Fatalf("the second wait: exit %d:\n%s", code, errOut)
	}
	seen = append(seen, parseEvents(t, []byte(errOut))...)
	for i, ev := range seen {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d of the two waits has seq %d (the first stopped after %d): missed or repeated", i+1, ev.Seq, last)
		}
	}
	e := r.stored(id)
	if int64(len(seen)) != e.LastSeq || seen[len(seen)-1].Type != "execution_end" {
		t.Errorf("the two waits showed %d events, the record has %d", len(seen), e.LastSeq)
	}
	t.Logf("first wait stopped after seq %d of %d", last, e.LastSeq)
}

// testAttachCtrlCTwice: attach under a terminal; Ctrl-C twice, far enough
// apart to be two presses, stops and then cancels the execution, which
// announces both stages; attach exits 130.
func testAttachCtrlCTwice(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow)
	id := r.detach()
	r.awaitOutput(id, "gate", "waiting for release")

	tty := openPTY(t, ttyCols, ttyRows)
	p := startOnTTY(t, peace, r.dir, tty, nil, "attach", id)
	tty.waitFor(t, "gate running", showsWithin, func(s string) bool {
		return rowHas(s, "gate", "running")
	})
	tty.press(t, "\x03")
	pressed := time.Now()
	stop := r.awaitType(id, "interrupt_received")
	if stop.Stage != "stop" || !slices.Equal(stop.InFlight, []string{"gate"}) {
		t.Errorf("stop event: %+v", stop)
	}
	if e := r.stored(id); e.ExitCode != nil {
		t.Fatalf("one Ctrl-C ended the execution: %+v", e)
	}
	time.Sleep(time.Until(pressed.Add(300 * time.Millisecond)))
	tty.press(t, "\x03")
	r.awaitType(id, "cancel_requested")
	if code := p.wait(t, exitsWithin, tty.screen); code != 130 {
		t.Errorf("attach exit %d, want 130; the terminal:\n%s", code, tty.screen())
	}
	e := r.awaitEnd(id)
	if e.State != "interrupted" || e.Items["gate"] != "interrupted" {
		t.Errorf("ended %s, items %v", e.State, e.Items)
	}
	checkRestored(t, tty)
}
