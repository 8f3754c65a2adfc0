package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// newExecDir returns a fresh state directory for execution records.
func newExecDir(t testing.TB) string {
	t.Helper()
	return Dir(t.TempDir(), "default", "hello")
}

// sampleExecution is an execution as a runner would describe it.
func sampleExecution() Execution {
	return Execution{
		Command:   "ensure",
		Flow:      "hello",
		Profile:   "default",
		Workspace: "/abs/.peace",
		Params:    map[string]string{"greeting": "hello"},
		Items:     map[string]string{"out_dir": "queued", "greeting": "queued"},
	}
}

func mustCreate(t testing.TB, dir string, e Execution) *ExecutionRecord {
	t.Helper()
	r, err := CreateExecution(dir, e)
	if err != nil {
		t.Fatalf("CreateExecution: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustRead(t *testing.T, dir, id string) *Execution {
	t.Helper()
	e, err := ReadExecution(dir, id)
	if err != nil {
		t.Fatalf("ReadExecution: %v", err)
	}
	return e
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestExecutionRoundTrip(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	id := r.ID()
	if !ValidExecutionID(id) {
		t.Fatalf("ID %q", id)
	}
	if got, want := names(t, ExecutionsDir(dir)), []string{id}; !slices.Equal(got, want) {
		t.Fatalf("executions/ holds %v, want %v", got, want)
	}
	if got, want := names(t, r.Path()), []string{"events.jsonl", "execution.json"}; !slices.Equal(got, want) {
		t.Fatalf("record holds %v, want %v", got, want)
	}

	e := mustRead(t, dir, id)
	if e.State != ExecQueued || e.PID != os.Getpid() || e.Host != hostname() || e.Version != ExecutionFormatVersion {
		t.Errorf("read back %+v", e)
	}
	if e.ProcStart == "" && procStart(os.Getpid()) != "" {
		t.Errorf("no proc_start recorded")
	}
	if e.Ended != nil || e.ExitCode != nil || e.Actions != (Actions{Stop: true}) {
		t.Errorf("queued: ended %v exit %v actions %+v", e.Ended, e.ExitCode, e.Actions)
	}
	if e.Params["greeting"] != "hello" || e.Items["out_dir"] != "queued" || e.Command != "ensure" || e.Workspace != "/abs/.peace" {
		t.Errorf("read back %+v", e)
	}

	// The JSON shape of DESIGN §10, plus proc_start and version.
	raw, err := os.ReadFile(filepath.Join(r.Path(), "execution.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"actions", "command", "ended", "exit_code", "flow", "host", "id", "items", "last_seq",
		"params", "pid", "proc_start", "profile", "started", "state", "version", "workspace"}
	if e.ProcStart == "" {
		want = slices.DeleteFunc(want, func(s string) bool { return s == "proc_start" })
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if string(m["ended"]) != "null" || string(m["exit_code"]) != "null" || compact(m["actions"]) != `{"stop":true,"cancel":false,"kill":false}` {
		t.Errorf("ended %s exit_code %s actions %s", m["ended"], m["exit_code"], m["actions"])
	}

	mustOK(t, r.SetState(ExecRunning))
	r.SetItem("out_dir", "applied")
	mustOK(t, r.AppendEvent([]byte(`{"type":"version","version":1}`)))
	for seq := 1; seq <= 3; seq++ {
		mustOK(t, r.AppendEvent(fmt.Appendf(nil, `{"seq":%d,"type":"x"}`+"\n", seq)))
	}
	e = mustRead(t, dir, id)
	if e.State != ExecRunning || e.LastSeq != 3 || e.Items["out_dir"] != "queued" {
		t.Errorf("running: state %s last_seq %d items %v (items wait for a write)", e.State, e.LastSeq, e.Items)
	}
	mustOK(t, r.Flush())
	if e = mustRead(t, dir, id); e.Items["out_dir"] != "applied" {
		t.Errorf("after Flush: items %v", e.Items)
	}
	w, err := r.Log("out_dir")
	mustOK(t, err)
	fmt.Fprintln(w, "made out")
	mustOK(t, w.Close())

	if _, err := ReadOutcome(dir, id); !errors.Is(err, ErrNoOutcome) {
		t.Errorf("outcome while running: %v", err)
	}
	mustOK(t, r.Finish(ExecComplete, 0, []byte(`{"outcome":"complete"}`)))
	mustOK(t, r.Close())

	e = mustRead(t, dir, id)
	if e.State != ExecComplete || e.Ended == nil || e.ExitCode == nil || *e.ExitCode != 0 || e.LastSeq != 3 || e.Actions != (Actions{}) {
		t.Errorf("finished: %+v", e)
	}
	if out, err := ReadOutcome(dir, id); err != nil || string(out) != "{\"outcome\":\"complete\"}\n" {
		t.Errorf("outcome %q, %v", out, err)
	}
	if log, err := ReadLog(dir, id, "out_dir"); err != nil || string(log) != "made out\n" {
		t.Errorf("log %q, %v", log, err)
	}
	if items, err := LogItems(dir, id); err != nil || !slices.Equal(items, []string{"out_dir"}) {
		t.Errorf("LogItems %v, %v", items, err)
	}
	if _, err := ReadLog(dir, id, "greeting"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log of an item that printed nothing: %v", err)
	}
	events, err := os.ReadFile(filepath.Join(r.Path(), "events.jsonl"))
	if err != nil || strings.Count(string(events), "\n") != 4 {
		t.Errorf("events.jsonl %q, %v", events, err)
	}
	if got, want := names(t, r.Path()), []string{"events.jsonl", "execution.json", "logs", "outcome.json"}; !slices.Equal(got, want) {
		t.Errorf("record holds %v, want %v", got, want)
	}
}

func TestExecutionUnknownID(t *testing.T) {
	dir := newExecDir(t)
	mustCreate(t, dir, sampleExecution())
	for _, id := range []string{"20260101-000000-abcdef", "../default", "", "A1", ".hidden"} {
		var unknown *UnknownExecutionError
		if _, err := ReadExecution(dir, id); !errors.As(err, &unknown) {
			t.Errorf("ReadExecution(%q): %v", id, err)
		}
		if _, err := ReadOutcome(dir, id); !errors.As(err, &unknown) {
			t.Errorf("ReadOutcome(%q): %v", id, err)
		}
		if _, err := ReadLog(dir, id, "x"); !errors.As(err, &unknown) {
			t.Errorf("ReadLog(%q): %v", id, err)
		}
		if err := SendControl(dir, id, ControlStop); !errors.As(err, &unknown) {
			t.Errorf("SendControl(%q): %v", id, err)
		}
	}
}

func TestExecutionIDs(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 14, 13, 0, 0, time.UTC)
	a, b := newExecutionIDAt(t0), newExecutionIDAt(t0.Add(time.Second))
	if !strings.HasPrefix(a, "20261203-141300-") || !(a < b) || !ValidExecutionID(a) {
		t.Errorf("IDs %q, %q", a, b)
	}
	seen := map[string]bool{}
	for range 1000 {
		id := NewExecutionID()
		if !ValidExecutionID(id) || seen[id] {
			t.Fatalf("ID %q invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, id := range []string{"", "-x", "a/b", "a.b", "A", strings.Repeat("a", 65)} {
		if ValidExecutionID(id) {
			t.Errorf("%q taken for an ID", id)
		}
	}
}

func TestCreateExecutionRefusesTakenID(t *testing.T) {
	dir := newExecDir(t)
	e := sampleExecution()
	e.ID = "20260101-000000-aaaaaa"
	r := mustCreate(t, dir, e)
	mustOK(t, r.SetState(ExecRunning))
	if _, err := CreateExecution(dir, e); err == nil {
		t.Fatal("a second record with the same ID was made")
	}
	if got := mustRead(t, dir, e.ID); got.State != ExecRunning {
		t.Errorf("the first record changed: %+v", got)
	}
	if got, want := names(t, ExecutionsDir(dir)), []string{e.ID}; !slices.Equal(got, want) {
		t.Errorf("executions/ holds %v, want %v (no temporary left)", got, want)
	}
	for _, bad := range []Execution{{ID: "Bad/ID"}, {State: ExecStopping}, {State: ExecComplete}} {
		if _, err := CreateExecution(dir, bad); err == nil {
			t.Errorf("CreateExecution(%+v) succeeded", bad)
		}
	}
}

func TestExecutionTransitions(t *testing.T) {
	all := []ExecState{ExecQueued, ExecRunning, ExecStopping, ExecCancelling, ExecComplete, ExecInterrupted, ExecFailed, ExecLost}
	allowed := map[ExecState][]ExecState{
		ExecQueued:     {ExecRunning, ExecStopping, ExecCancelling, ExecComplete, ExecInterrupted, ExecFailed},
		ExecRunning:    {ExecStopping, ExecCancelling, ExecComplete, ExecInterrupted, ExecFailed},
		ExecStopping:   {ExecCancelling, ExecComplete, ExecInterrupted, ExecFailed},
		ExecCancelling: {ExecComplete, ExecInterrupted, ExecFailed},
	}
	for _, from := range all {
		for _, to := range all {
			if got, want := from.CanMoveTo(to), slices.Contains(allowed[from], to); got != want {
				t.Errorf("%s → %s: allowed %v, want %v", from, to, got, want)
			}
		}
	}
	actions := map[ExecState]Actions{
		ExecQueued:     {Stop: true},
		ExecRunning:    {Stop: true, Cancel: true},
		ExecStopping:   {Cancel: true},
		ExecCancelling: {Kill: true},
	}
	for _, s := range all {
		if got := s.Actions(); got != actions[s] {
			t.Errorf("actions of %s: %+v, want %+v", s, got, actions[s])
		}
	}

	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	mustOK(t, r.SetState(ExecStopping))
	before, _ := os.ReadFile(filepath.Join(r.Path(), "execution.json"))
	var terr *TransitionError
	for _, to := range []ExecState{ExecRunning, ExecQueued, ExecLost, ExecComplete, "bogus"} {
		if err := r.SetState(to); !errors.As(err, &terr) {
			t.Errorf("SetState(%s) from stopping: %v", to, err)
		}
	}
	if err := r.Finish(ExecCancelling, 130, nil); !errors.As(err, &terr) {
		t.Errorf("Finish with a live state: %v", err)
	}
	if err := r.Finish(ExecLost, 1, nil); !errors.As(err, &terr) {
		t.Errorf("Finish as lost: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(r.Path(), "execution.json"))
	if string(before) != string(after) {
		t.Errorf("a refused move changed execution.json:\n%s\n%s", before, after)
	}
	mustOK(t, r.SetState(ExecStopping)) // no move, no error
	mustOK(t, r.SetState(ExecCancelling))
	if e := mustRead(t, dir, r.ID()); e.State != ExecCancelling || e.Actions != (Actions{Kill: true}) {
		t.Errorf("read %s %+v", e.State, e.Actions)
	}
	mustOK(t, r.Finish(ExecInterrupted, 130, nil))
	for name, err := range map[string]error{
		"SetState":    r.SetState(ExecFailed),
		"Finish":      r.Finish(ExecFailed, 1, nil),
		"AppendEvent": r.AppendEvent([]byte(`{"seq":1}`)),
		"Flush":       r.Flush(),
	} {
		if !errors.Is(err, ErrExecutionFinished) {
			t.Errorf("%s after Finish: %v", name, err)
		}
	}
	if _, err := r.Log("x"); !errors.Is(err, ErrExecutionFinished) {
		t.Errorf("Log after Finish: %v", err)
	}
	e := mustRead(t, dir, r.ID())
	if e.State != ExecInterrupted || *e.ExitCode != 130 {
		t.Errorf("finished as %s %d", e.State, *e.ExitCode)
	}
	if _, err := ReadOutcome(dir, r.ID()); !errors.Is(err, ErrNoOutcome) {
		t.Errorf("an execution finished without outcome: %v", err)
	}
}

func TestAppendEventRefusesBadLines(t *testing.T) {
	r := mustCreate(t, newExecDir(t), sampleExecution())
	for _, line := range []string{"", "\n", "{\"seq\":1}\n{\"seq\":2}"} {
		if err := r.AppendEvent([]byte(line)); err == nil {
			t.Errorf("AppendEvent(%q) succeeded", line)
		}
	}
	if _, err := r.Log("../escape"); err == nil {
		t.Errorf("a log outside logs/ was opened")
	}
}

func TestExecutionEventWriter(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	w := r.EventWriter()
	for _, p := range []string{`{"type":"version"}` + "\n" + `{"seq":1,"a":`, `1}` + "\n", `{"seq":2}` + "\n" + `{"seq":3}` + "\n", `{"seq":4`, "}\n\n", "\n" + `{"seq":5}` + "\n\n" + `{"seq":6}` + "\n", `{"seq":7`} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(r.Path(), "events.jsonl"))
	if want := "{\"type\":\"version\"}\n{\"seq\":1,\"a\":1}\n{\"seq\":2}\n{\"seq\":3}\n{\"seq\":4}\n{\"seq\":5}\n{\"seq\":6}\n"; string(got) != want {
		t.Errorf("events.jsonl %q, want %q", got, want)
	}
	if e := r.Execution(); e.LastSeq != 6 {
		t.Errorf("last_seq %d, want 6", e.LastSeq)
	}
}

func TestParseSeq(t *testing.T) {
	for line, want := range map[string]int64{
		`{"seq":42,"time":"x"}`:      42,
		`{"seq":7}`:                  7,
		`{"type":"x","seq":9}`:       9,
		`{"seq": 5 , "type":"x"}`:    5,
		`{"type":"version"}`:         -1,
		`not json`:                   -1,
		`{"seq":12345678901234567}`:  12345678901234567,
		`{"seq":1x}`:                 -1,
		`{"seq":"3"}`:                -1,
		`{"seq":3,"nested":{"a":1}}`: 3,
	} {
		seq, ok := parseSeq([]byte(line))
		if !ok {
			seq = -1
		}
		if seq != want {
			t.Errorf("parseSeq(%s) = %d, want %d", line, seq, want)
		}
	}
}

func TestExecutionCorruptKeptAside(t *testing.T) {
	dir := newExecDir(t)
	good := mustCreate(t, dir, sampleExecution())
	bad := mustCreate(t, dir, sampleExecution())
	path := filepath.Join(bad.Path(), "execution.json")
	garbage := []byte("{\"id\": \"half wri")
	mustOK(t, os.WriteFile(path, garbage, 0o644))

	_, err := ReadExecution(dir, bad.ID())
	var cerr *CorruptExecutionError
	if !errors.As(err, &cerr) || cerr.Path != path || cerr.MovedTo == "" {
		t.Fatalf("corrupt record: %v", err)
	}
	if !strings.HasPrefix(filepath.Base(cerr.MovedTo), "execution.json.corrupt-") || !strings.Contains(err.Error(), path) {
		t.Errorf("moved to %s; message %q", cerr.MovedTo, err)
	}
	if kept, err := os.ReadFile(cerr.MovedTo); err != nil || string(kept) != string(garbage) {
		t.Errorf("kept %q, %v", kept, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("corrupt file still in place: %v", err)
	}

	// Read again: still reported, nothing more moved, never unknown.
	if _, err := ReadExecution(dir, bad.ID()); !errors.As(err, &cerr) || cerr.MovedTo == "" {
		t.Errorf("second read: %v", err)
	}
	execs, notices, err := ListExecutions(dir)
	if err != nil || len(execs) != 1 || execs[0].ID != good.ID() || len(notices) != 1 || !strings.Contains(notices[0], bad.ID()) {
		t.Errorf("list: %v, notices %q, %v", execs, notices, err)
	}
	// Retention keeps what it cannot read.
	if removed, err := PruneExecutions(dir, 0, 0, time.Now()); err != nil || slices.Contains(removed, bad.ID()) {
		t.Errorf("prune removed %v, %v", removed, err)
	}
	if _, err := os.Stat(cerr.MovedTo); err != nil {
		t.Errorf("the kept copy is gone: %v", err)
	}
}

func TestExecutionVersions(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	path := filepath.Join(r.Path(), "execution.json")
	rewrite := func(edit func(m map[string]any)) []byte {
		raw, err := os.ReadFile(path)
		mustOK(t, err)
		var m map[string]any
		mustOK(t, json.Unmarshal(raw, &m))
		edit(m)
		b, _ := json.Marshal(m)
		mustOK(t, os.WriteFile(path, b, 0o644))
		return b
	}

	newer := rewrite(func(m map[string]any) { m["version"] = ExecutionFormatVersion + 1 })
	var verr *VersionError
	if _, err := ReadExecution(dir, r.ID()); !errors.As(err, &verr) || verr.Found != ExecutionFormatVersion+1 {
		t.Fatalf("newer version: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(newer) {
		t.Errorf("a newer record was touched")
	}
	if _, notices, _ := ListExecutions(dir); len(notices) != 1 || !strings.Contains(notices[0], "newer peace") {
		t.Errorf("notices %q", notices)
	}

	rewrite(func(m map[string]any) { delete(m, "version") })
	var cerr *CorruptExecutionError
	if _, err := ReadExecution(dir, r.ID()); !errors.As(err, &cerr) || !strings.Contains(cerr.Reason, "version") {
		t.Errorf("a record without version: %v", err)
	}
}

func TestListExecutionsNewestFirst(t *testing.T) {
	ws := t.TempDir()
	dir := Dir(ws, "default", "hello")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i, started := range []time.Duration{3, 1, 2} {
		e := sampleExecution()
		e.Started = t0.Add(started * time.Hour)
		e.ID = fmt.Sprintf("x%d", i)
		mustCreate(t, dir, e)
	}
	want = []string{"x0", "x2", "x1"}
	execs, _, err := ListExecutions(dir)
	mustOK(t, err)
	var got []string
	for _, e := range execs {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	latest, _, err := LatestExecution(dir)
	if err != nil || latest.ID != "x0" {
		t.Errorf("latest %v, %v", latest, err)
	}
	if _, _, err := LatestExecution(newExecDir(t)); !errors.Is(err, ErrNoExecutions) {
		t.Errorf("latest of none: %v", err)
	}

	prod := sampleExecution()
	prod.ID, prod.Profile, prod.Started = "p0", "prod", t0.Add(150*time.Minute)
	mustCreate(t, Dir(ws, "prod", "hello"), prod)
	all, _, err := ListWorkspaceExecutions(ws, "hello")
	mustOK(t, err)
	got = nil
	for _, e := range all {
		got = append(got, e.ID)
	}
	if want := []string{"x0", "p0", "x2", "x1"}; !slices.Equal(got, want) {
		t.Errorf("workspace order %v, want %v", got, want)
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// TestAppendEventConcurrent appends from several goroutines at once, as
// the views and the interrupt routing of one execution may: every line
// arrives whole, and LastSeq is the highest seq.
func TestAppendEventConcurrent(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			ew := r.EventWriter()
			for i := range each {
				seq := w*each + i + 1
				line := fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`+"\n", seq, strings.Repeat("p", seq%300))
				var err error
				if i%2 == 0 {
					err = r.AppendEvent(line)
				} else {
					_, err = ew.Write(line)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	data, err := os.ReadFile(filepath.Join(r.Path(), "events.jsonl"))
	mustOK(t, err)
	seen := map[int64]bool{}
	var lastLine int64
	for line := range strings.Lines(string(data)) {
		var v struct{ Seq int64 }
		if err := json.Unmarshal([]byte(line), &v); err != nil || seen[v.Seq] {
			t.Fatalf("line %q: %v (seen %v)", line, err, seen[v.Seq])
		}
		seen[v.Seq] = true
		lastLine = v.Seq
	}
	if len(seen) != writers*each || r.Execution().LastSeq != writers*each {
		t.Errorf("%d lines, last_seq %d; want %d", len(seen), r.Execution().LastSeq, writers*each)
	}
	// A reader takes the seq of the file's last line (in a real stream,
	// seqs increase down the file).
	if e := mustRead(t, dir, r.ID()); e.LastSeq != lastLine {
		t.Errorf("read last_seq %d, want %d", e.LastSeq, lastLine)
	}
}
