//go:build linux

package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDetach runs `ensure --detach` of the real binary: what it prints,
// what it refuses, and that the execution it starts lives on its own.
func TestDetach(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary in the background")
	}
	peace := buildPeace(t, t.TempDir())
	t.Run("ExitCodesOfWait", func(t *testing.T) { testDetachExitCodes(t, peace) })
	t.Run("JSON", func(t *testing.T) { testDetachJSON(t, peace) })
	t.Run("BadInputNoRecord", func(t *testing.T) { testDetachBadInput(t, peace) })
	t.Run("Locked", func(t *testing.T) { testDetachLocked(t, peace) })
	t.Run("TwoAtOnce", func(t *testing.T) { testDetachTwoAtOnce(t, peace) })
	t.Run("SurvivesHangup", func(t *testing.T) { testDetachSurvivesHangup(t, peace) })
	t.Run("Timing", func(t *testing.T) { testDetachTiming(t, peace) })
}

// testDetachExitCodes: a wait started late replays the execution from its
// first event, follows it live, and exits with its exit code: 0 complete,
// 1 failed, 130 interrupted — the code in its record.
func testDetachExitCodes(t *testing.T, peace string) {
	for _, tc := range []struct {
		name  string
		state string
		code  int
	}{
		{"complete", "complete", 0},
		{"failed", "failed", 1},
		{"interrupted", "interrupted", 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, peace, "bg", gateFlow)
			if tc.name == "failed" {
				if err := os.WriteFile(r.path("fail"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			id := r.detach()
			r.awaitOutput(id, "gate", "waiting for release")

			// Late: the execution has been running for a while.
			ctx, cancel := context.WithTimeout(context.Background(), bgExitsIn)
			defer cancel()
			var out, errOut lockedBuffer
			w := r.command(ctx, "wait", id, "--progress", "json")
			w.Stdout, w.Stderr = &out, &errOut
			p := start(t, w)
			awaitText(t, &errOut, `"line":"waiting for release"`)
			select {
			case <-p.done:
				t.Fatalf("wait ended before the execution:\n%s", errOut.String())
			default:
			}
			if tc.name == "interrupted" {
				if code, _, stderr := r.run("interrupt", id); code != 0 {
					t.Fatalf("interrupt: exit %d:\n%s", code, stderr)
				}
			}
			r.release()
			code := p.wait(t, bgExitsIn, errOut.String)
			e := r.stored(id)
			if code != tc.code || e.State != tc.state || *e.ExitCode != code {
				t.Errorf("wait exit %d, record %s with exit %d; want %d, %s", code, e.State, *e.ExitCode, tc.code, tc.state)
			}
			// Everything, from the first event to the last, in order.
			evs := parseEvents(t, []byte(errOut.String()))
			if len(evs) == 0 || evs[0].Seq != 1 || evs[0].Type != "execution_start" ||
				evs[len(evs)-1].Type != "execution_end" || int64(len(evs)) != e.LastSeq {
				t.Errorf("wait showed %d events (record: %d):\n%s", len(evs), e.LastSeq, errOut.String())
			}
			// And the result on stdout, as the foreground run prints it.
			if want := map[string]string{"complete": "ensure complete: 2 applied",
				"failed": "ensure failed", "interrupted": "ensure interrupted"}[tc.name]; !strings.Contains(out.String(), want) {
				t.Errorf("wait printed no %q:\n%s", want, out.String())
			}
			if tc.name == "failed" {
				if !strings.Contains(out.String(), "gate: the release broke it") {
					t.Errorf("the failed item's output is not shown:\n%s", out.String())
				}
			}
		})
	}
}

// awaitText waits until b holds text.
func awaitText(t *testing.T, b *lockedBuffer, text string) {
	t.Helper()
	deadline := time.Now().Add(bgWithin)
	for !strings.Contains(b.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s:\n%s", text, bgWithin, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testDetachJSON: --format json prints the execution as DESIGN §10 shapes
// it, running, and nothing else on stdout.
func testDetachJSON(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow)
	code, out, errOut := r.run("ensure", "--detach", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	for _, k := range []string{"id", "command", "flow", "profile", "workspace", "pid", "host", "state",
		"started", "ended", "exit_code", "params", "items", "actions", "last_seq"} {
		if _, ok := e[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	id, _ := e["id"].(string)
	ws, _ := e["workspace"].(string)
	want := map[string]any{"command": "ensure", "flow": "bg", "profile": "default", "state": "running",
		"ended": nil, "exit_code": nil}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s is %v, want %v", k, e[k], v)
		}
	}
	if ws != filepath.Join(r.dir, ".peace") {
		t.Errorf("workspace %q", ws)
	}
	if a, _ := e["actions"].(map[string]any); a["stop"] != true || a["kill"] != false {
		t.Errorf("actions %v", e["actions"])
	}
	if items, _ := e["items"].(map[string]any); len(items) != 2 {
		t.Errorf("items %v", e["items"])
	}
	if !strings.Contains(errOut, "peace wait "+id) {
		t.Errorf("no hint on stderr:\n%s", errOut)
	}
	if rec := r.stored(id); rec.PID != int(e["pid"].(float64)) {
		t.Errorf("the record names pid %d, the JSON %v", rec.PID, e["pid"])
	}
	r.release()
	r.awaitEnd(id)
}

// testDetachBadInput: a broken flow is exit 2 with the flow's error, and no
// record (nor any state) is made.
func testDetachBadInput(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow+"  - id: gate\n    type: dir\n    params: {path: x}\n")
	code, out, errOut := r.run("ensure", "--detach")
	if code != 2 || out != "" || !strings.Contains(errOut, "flow.yaml:") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	code, _, errOut = r.run("ensure", "--detach", "--format", "json")
	if code != 2 || !strings.Contains(errOut, "flow.yaml:") {
		t.Errorf("--format json: exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(r.dir, ".peace")); err == nil {
		entries, _ := os.ReadDir(r.records("default"))
		t.Errorf("bad input left state behind (%d records)", len(entries))
	}
}

// testDetachLocked: while a detached run holds the lock, another --detach
// (and a foreground run) exits 3 naming the holder's execution ID and how
// to attach to it, and leaves no record of its own.
func testDetachLocked(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow)
	id := r.detach()
	for _, args := range [][]string{{"ensure", "--detach"}, {"clean", "--detach"}, {"ensure"}} {
		code, out, errOut := r.run(args...)
		if code != 3 || !strings.Contains(errOut, "execution "+id) || !strings.Contains(errOut, "peace attach "+id) {
			t.Errorf("%s: exit %d, stdout %q, stderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
		if strings.Contains(args[len(args)-1], "detach") && out != "" {
			t.Errorf("%s printed %q", strings.Join(args, " "), out)
		}
	}
	if entries, _ := os.ReadDir(r.records("default")); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("records: %v, want only %s", names, id)
	}
	r.release()
	if e := r.awaitEnd(id); e.State != "complete" {
		t.Errorf("the holder ended %s", e.State)
	}
}

// testDetachTwoAtOnce: two --detach at the same moment: one runs and
// prints its ID, the other exits 3 naming it.
func testDetachTwoAtOnce(t *testing.T, peace string) {
	for round := range 3 {
		r := newRig(t, peace, "bg", gateFlow)
		type result struct {
			code        int
			out, errOut string
		}
		var results [2]result
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range results {
			wg.Go(func() {
				<-gate
				code, out, errOut := r.run("ensure", "--detach")
				results[i] = result{code, out, errOut}
			})
		}
		close(gate)
		wg.Wait()
		slices.SortFunc(results[:], func(a, b result) int { return a.code - b.code })
		ran, refused := results[0], results[1]
		id := strings.TrimSpace(ran.out)
		if ran.code != 0 || id == "" || refused.code != 3 || refused.out != "" ||
			!strings.Contains(refused.errOut, "execution "+id) || !strings.Contains(refused.errOut, "peace attach "+id) {
			t.Fatalf("round %d: exit %d (stdout %q, stderr %q) and exit %d (stdout %q, stderr %q)", round,
				ran.code, ran.out, ran.errOut, refused.code, refused.out, refused.errOut)
		}
		r.release()
		if e := r.awaitEnd(id); e.State != "complete" {
			t.Errorf("round %d: the one that ran ended %s", round, e.State)
		}
	}
}

// testDetachSurvivesHangup: a shell in a session of its own, on a terminal,
// starts a detached run; then its terminal goes (SIGHUP to the session's
// process group, the master closed). The execution runs on to its end.
func testDetachSurvivesHangup(t *testing.T, peace string) {
	r := newRig(t, peace, "bg", gateFlow)
	tty := openPTY(t, ttyCols, ttyRows)
	script := fmt.Sprintf("%q -f flow.yaml ensure --detach > id.tmp && mv id.tmp id; echo detached; exec sleep 60", peace)
	c := exec.Command("sh", "-c", script)
	c.Dir, c.Env = r.dir, ttyEnv()
	c.Stdin, c.Stdout, c.Stderr = tty.slave, tty.slave, tty.slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p := start(t, c)
	tty.waitText(t, showsWithin, "detached")
	data, err := os.ReadFile(r.path("id"))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(data))
	r.awaitOutput(id, "gate", "waiting for release")

	// The terminal goes: its session's process group is hung up.
	if err := syscall.Kill(-c.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.wait(t, exitsWithin, tty.screen)
	tty.slave.Close()
	tty.master.Close()

	// Let a hangup that reached the runner show in its events, then go on.
	time.Sleep(200 * time.Millisecond)
	r.release()
	e := r.awaitEnd(id)
	if e.State != "complete" || *e.ExitCode != 0 {
		t.Errorf("after the hangup the execution ended %s (exit %d); events:\n%s", e.State, *e.ExitCode, r.eventList(id))
	}
	for _, ev := range r.events(id) {
		if ev.Type == "interrupt_received" {
			t.Errorf("the hangup reached the execution: %+v", ev)
		}
	}
}

// testDetachTiming measures --detach until its ID is printed (DESIGN §9:
// within 0.5 s), over runs of a flow that ends at once.
func testDetachTiming(t *testing.T, peace string) {
	const runs = 20
	r := newRig(t, peace, "quick", quickFlow)
	var took []time.Duration
	for range runs {
		began := time.Now()
		id := r.detach()
		took = append(took, time.Since(began))
		if code, _, errOut := r.run("wait", id, "--progress", "none"); code != 0 {
			t.Fatalf("wait: exit %d:\n%s", code, errOut)
		}
	}
	p50, longest := percentiles(took)
	t.Logf("--detach → ID over %d runs: p50 %s, max %s", runs, p50.Round(time.Microsecond), longest.Round(time.Microsecond))
	if longest > 5*time.Second {
		t.Errorf("a --detach took %s to print its ID", longest)
	}
}
