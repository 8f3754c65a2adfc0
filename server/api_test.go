package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAuthAndHost(t *testing.T) {
	ts := startServer(t, quickstart(t))
	fi, err := os.Stat(filepath.Join(ts.dir, ".peace", "serve.token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if !strings.HasSuffix(ts.srv.URL(), "/#token="+ts.token) {
		t.Errorf("URL %q does not carry the token in its fragment", ts.srv.URL())
	}
	for _, tc := range []struct {
		name, token, host string
		want              int
		code              string
	}{
		{"no token", "", "", 401, "unauthorized"},
		{"wrong token", strings.Repeat("0", len(ts.token)), "", 401, "unauthorized"},
		{"token prefix", ts.token[:10], "", 401, "unauthorized"},
		{"foreign host", ts.token, "evil.example:80", 403, "forbidden_host"},
		{"foreign host without token", "", "attacker.test", 403, "forbidden_host"},
		{"localhost", ts.token, "localhost:" + port(ts), 200, ""},
		{"127.0.0.1", ts.token, "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.base+"/api/v1/executions", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct{ Error, Code string }
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != tc.want || body.Code != tc.code {
				t.Errorf("status %d code %q, want %d %q (%s)", res.StatusCode, body.Code, tc.want, tc.code, body.Error)
			}
		})
	}
	// The page itself needs no token (it reads it from the fragment), but
	// the host check holds for it too.
	res, err := http.Get(ts.base + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /: %v %v", err, res.StatusCode)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
}

func port(ts *testServer) string { return ts.base[strings.LastIndex(ts.base, ":")+1:] }

func TestBadRequests(t *testing.T) {
	ts := startServer(t, quickstart(t))
	for _, tc := range []struct {
		body  string
		want  int
		field string
	}{
		{`{"command": 3}`, 400, "command"},
		{`{"command": "ensure", "dry_run": "yes"}`, 400, "dry_run"},
		{`{"command": "ensure", "colour": "red"}`, 400, "colour"},
		{`{"command": "ensure"`, 400, "body"},
		{`{"command": "destroy"}`, 400, "command"},
		{`{}`, 400, "command"},
		{`{"command": "ensure", "profile": "Prod"}`, 400, "profile"},
		{`{"command": "status", "dry_run": true}`, 400, "dry_run"},
		{`{"command": "ensure", "items": ["nope"]}`, 400, "items[0]"},
		{`{"command": "ensure", "params": {"nope": "x"}}`, 400, "params"},
		{`{"command": "ensure"} {"command": "clean"}`, 400, "body"},
		{`{"command": "` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
	} {
		var body struct {
			Error, Code, Field string
		}
		code := ts.do("POST", "/api/v1/executions", tc.body, &body)
		if code != tc.want || body.Field != tc.field || body.Error == "" {
			t.Errorf("%.60s: %d field %q (%s), want %d field %q", tc.body, code, body.Field, body.Error, tc.want, tc.field)
		}
	}
	var body struct{ Code, Field string }
	if code := ts.do("POST", "/api/v1/executions/20260101-000000-aaaaaa/interrupt", `{"stage": "pause"}`, &body); code != 400 || body.Field != "stage" {
		t.Errorf("bad stage: %d %+v", code, body)
	}
	if code := ts.do("GET", "/api/v1/executions/20260101-000000-aaaaaa", nil, &body); code != 404 || body.Code != "not_found" {
		t.Errorf("unknown execution: %d %+v", code, body)
	}
	if code := ts.do("GET", "/api/v1/nothing", nil, &body); code != 404 {
		t.Errorf("unknown call: %d", code)
	}
}

// TestStartFollowOutcome starts an ensure, follows its events to the end,
// resumes the stream with Last-Event-ID, and reads outcome and logs.
func TestStartFollowOutcome(t *testing.T) {
	ts := startServer(t, quickstart(t))
	e := ts.start("ensure")
	if e.State != "running" || e.Command != "ensure" || !e.Actions["stop"] {
		t.Fatalf("started: %+v", e)
	}
	var errBody struct{ Code string }
	if code := ts.do("GET", "/api/v1/executions/"+e.ID+"/outcome", nil, &errBody); code != 404 || errBody.Code != "running" {
		t.Errorf("outcome while running: %d %+v, want 404 running", code, errBody)
	}
	var seqs []int64
	var types []string
	ended := false
	readSSE(t, ts.base, ts.token, "/api/v1/executions/"+e.ID+"/events?from=1", "", func(ev sseEvent) bool {
		if ev.Event == "end" {
			ended = true
			var x execution
			_ = json.Unmarshal([]byte(ev.Data), &x)
			if x.State != "complete" {
				t.Errorf("end: %+v", x)
			}
			return true
		}
		seqs = append(seqs, ev.ID)
		var pe struct{ Type string }
		_ = json.Unmarshal([]byte(ev.Data), &pe)
		types = append(types, pe.Type)
		return true
	})
	if !ended {
		t.Fatal("the stream ended without an end event")
	}
	checkContiguous(t, seqs, 1)
	if types[0] != "execution_start" || types[len(types)-1] != "execution_end" {
		t.Errorf("events from %s to %s", types[0], types[len(types)-1])
	}
	// Resume from the middle: the rest, and nothing before.
	mid := seqs[len(seqs)/2]
	var rest []int64
	readSSE(t, ts.base, ts.token, "/api/v1/executions/"+e.ID+"/events", itoa(mid), func(ev sseEvent) bool {
		if ev.Event == "" {
			rest = append(rest, ev.ID)
		}
		return true
	})
	checkContiguous(t, rest, mid+1)
	if rest[len(rest)-1] != seqs[len(seqs)-1] {
		t.Errorf("resumed stream ends at %d, want %d", rest[len(rest)-1], seqs[len(seqs)-1])
	}
	var doc struct {
		Outcome string
		Items   map[string]struct{ Status string }
	}
	if code := ts.do("GET", "/api/v1/executions/"+e.ID+"/outcome", nil, &doc); code != 200 || doc.Outcome != "complete" ||
		doc.Items["publish"].Status != "applied" {
		t.Errorf("outcome: %d %+v", code, doc)
	}
	res, _ := http.NewRequest("GET", ts.base+"/api/v1/executions/"+e.ID+"/logs/build", nil)
	res.Header.Set("Authorization", "Bearer "+ts.token)
	r, err := http.DefaultClient.Do(res)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	_, _ = io.Copy(&log, r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(log.String(), "step 3/3") {
		t.Errorf("log of build: %d %q", r.StatusCode, log.String())
	}
	// The command line sees it.
	out, _, code := peace(t, ts.dir, "executions", "--format", "json")
	if code != 0 || !strings.Contains(out, e.ID) {
		t.Errorf("peace executions: %d %s", code, out)
	}
	// status and diff run too, kept in memory, with the same shapes.
	for _, c := range []string{"status", "diff"} {
		x := ts.start(c)
		x = ts.waitState(x.ID, "complete")
		var res map[string]map[string]any // the command line's --format json
		if code := ts.do("GET", "/api/v1/executions/"+x.ID+"/outcome", nil, &res); code != 200 || len(res["items"])+len(res["states"]) != 6 {
			t.Errorf("%s outcome: %d %+v", c, code, res)
		}
		var seqs []int64
		readSSE(t, ts.base, ts.token, "/api/v1/executions/"+x.ID+"/events", "", func(ev sseEvent) bool {
			if ev.Event == "" {
				seqs = append(seqs, ev.ID)
			}
			return true
		})
		checkContiguous(t, seqs, 1)
	}
	var list struct{ Executions []execution }
	ts.do("GET", "/api/v1/executions", nil, &list)
	if len(list.Executions) != 3 || list.Executions[2].ID != e.ID {
		t.Errorf("list: %+v", list.Executions)
	}
	var g struct {
		Nodes []struct{ ID, Status string }
	}
	if code := ts.do("GET", "/api/v1/graph?profile=default", nil, &g); code != 200 || len(g.Nodes) != 6 || g.Nodes[0].Status != "recorded" {
		t.Errorf("graph: %d %+v", code, g)
	}
}

func checkContiguous(t testing.TB, seqs []int64, from int64) {
	t.Helper()
	if len(seqs) == 0 {
		t.Fatalf("no events")
	}
	for i, s := range seqs {
		if s != from+int64(i) {
			t.Fatalf("event %d has seq %d, want %d (seqs %v)", i, s, from+int64(i), seqs)
		}
	}
}

// TestInterruptStages stops, cancels and kills executions over the API,
// and reads a held lock as 409 with the holder's ID.
func TestInterruptStages(t *testing.T) {
	ts := startServer(t, writeFlow(t, slowFlow))
	release := filepath.Join(ts.dir, "release")

	// stop: the item in flight finishes, the next never starts.
	e := ts.start("ensure")
	waitItem(t, ts, e.ID, "first", "running")
	var busy struct{ Code, Execution string }
	if code := ts.do("POST", "/api/v1/executions", map[string]any{"command": "clean"}, &busy); code != 409 || busy.Execution != e.ID {
		t.Errorf("second start: %d %+v, want 409 naming %s", code, busy, e.ID)
	}
	var ir struct {
		Stage    string
		InFlight []string `json:"in_flight"`
	}
	if code := ts.do("POST", "/api/v1/executions/"+e.ID+"/interrupt", map[string]string{"stage": "stop"}, &ir); code != 202 ||
		ir.Stage != "stop" || len(ir.InFlight) != 1 || ir.InFlight[0] != "first" {
		t.Fatalf("stop: %d %+v", code, ir)
	}
	if x := ts.waitState(e.ID, "stopping", "interrupted"); x.Actions["stop"] {
		t.Errorf("stopping still offers stop: %+v", x.Actions)
	}
	os.WriteFile(release, nil, 0o644)
	x := ts.waitState(e.ID, "interrupted")
	var doc struct {
		Outcome string
		Items   map[string]struct{ Status string }
	}
	ts.do("GET", "/api/v1/executions/"+e.ID+"/outcome", nil, &doc)
	if doc.Items["first"].Status != "applied" || doc.Items["second"].Status != "not_started" {
		t.Errorf("after stop: %+v (%+v)", doc, x)
	}
	// An interrupt of a finished execution answers its outcome.
	if code := ts.do("POST", "/api/v1/executions/"+e.ID+"/interrupt", `{"stage": "cancel"}`, &doc); code != 200 || doc.Outcome != "interrupted" {
		t.Errorf("interrupt when finished: %d %+v", code, doc)
	}

	// cancel, then kill: the item in flight is interrupted.
	os.Remove(release)
	peace(t, ts.dir, "clean")
	e = ts.start("ensure")
	waitItem(t, ts, e.ID, "first", "running")
	start := time.Now()
	if code := ts.do("POST", "/api/v1/executions/"+e.ID+"/interrupt", `{"stage": "cancel"}`, &ir); code != 202 || ir.Stage != "cancel" {
		t.Fatalf("cancel: %d %+v", code, ir)
	}
	ts.do("POST", "/api/v1/executions/"+e.ID+"/interrupt", `{"stage": "kill"}`, nil)
	if x = ts.waitState(e.ID, "interrupted"); x.State != "interrupted" {
		t.Fatalf("after kill: %s", x.State)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %s", d)
	}
	ts.do("GET", "/api/v1/executions/"+e.ID+"/outcome", nil, &doc)
	if doc.Items["first"].Status != "interrupted" || doc.Items["second"].Status != "not_started" {
		t.Errorf("after cancel: %+v", doc)
	}

	// A lock held by the command line: 409 with its execution ID.
	os.Remove(release)
	// --detach starts this test binary again as peace (childEnv).
	det := exec.Command(os.Args[0], "-f", filepath.Join(ts.dir, "flow.yaml"), "ensure", "--detach")
	det.Env = append(os.Environ(), childEnv+"=1")
	detOut, err := det.Output()
	if err != nil {
		t.Fatalf("ensure --detach: %v", err)
	}
	cliID := strings.TrimSpace(string(detOut))
	if code := ts.do("POST", "/api/v1/executions", map[string]any{"command": "ensure"}, &busy); code != 409 || busy.Execution != cliID {
		t.Errorf("start while the CLI runs: %d %+v, want 409 naming %s", code, busy, cliID)
	}
	// The server sees the command line's execution and stops it.
	if code := ts.do("POST", "/api/v1/executions/"+cliID+"/interrupt", `{"stage": "stop"}`, &ir); code != 202 {
		t.Errorf("stop the CLI's execution: %d", code)
	}
	os.WriteFile(release, nil, 0o644)
	ts.waitState(cliID, "interrupted", "complete")
}

// TestCLIInterruptsServerExecution: `peace executions` lists what the API
// started and `peace interrupt ID` stops it.
func TestCLIInterruptsServerExecution(t *testing.T) {
	ts := startServer(t, writeFlow(t, slowFlow))
	e := ts.start("ensure")
	waitItem(t, ts, e.ID, "first", "running")
	out, _, code := peace(t, ts.dir, "executions")
	if code != 0 || !strings.Contains(out, e.ID) || !strings.Contains(out, "running") {
		t.Fatalf("peace executions: %d\n%s", code, out)
	}
	out, errOut, code := peace(t, ts.dir, "interrupt", e.ID)
	if code != 0 || !strings.Contains(out, "stop") || !strings.Contains(out, "first") {
		t.Fatalf("peace interrupt: %d %q %q", code, out, errOut)
	}
	x := ts.waitState(e.ID, "stopping", "interrupted")
	if x.State == "running" {
		t.Fatal("still running")
	}
	os.WriteFile(filepath.Join(ts.dir, "release"), nil, 0o644)
	ts.waitState(e.ID, "interrupted")
}

// TestServerRestartMidRun kills a server process while it runs an
// execution: the execution reads as lost, a restarted server lists it,
// and the next run recovers.
func TestServerRestartMidRun(t *testing.T) {
	dir := writeFlow(t, slowFlow)
	c := startChild(t, dir)
	var e execution
	if code := doReq(t, c.base, c.token, "POST", "/api/v1/executions", map[string]any{"command": "ensure"}, &e); code != 202 {
		t.Fatalf("start: %d", code)
	}
	waitFor(t, func() bool {
		var x execution
		doReq(t, c.base, c.token, "GET", "/api/v1/executions/"+e.ID, nil, &x)
		return x.State == "running"
	})
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()

	c2 := startChild(t, dir)
	if c2.token != c.token {
		t.Errorf("the restarted server has another token")
	}
	var list struct{ Executions []execution }
	doReq(t, c2.base, c2.token, "GET", "/api/v1/executions", nil, &list)
	if len(list.Executions) != 1 || list.Executions[0].ID != e.ID || list.Executions[0].State != "lost" {
		t.Fatalf("after restart: %+v", list.Executions)
	}
	var body struct{ Code string }
	if code := doReq(t, c2.base, c2.token, "GET", "/api/v1/executions/"+e.ID+"/outcome", nil, &body); code != 404 || body.Code != "lost" {
		t.Errorf("outcome of a lost execution: %d %+v", code, body)
	}
	// Its events stream ends (it is lost), it does not hang.
	n := 0
	readSSE(t, c2.base, c2.token, "/api/v1/executions/"+e.ID+"/events", "", func(ev sseEvent) bool { n++; return true })
	if n == 0 {
		t.Error("no events of the lost execution")
	}
	os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
	var e2 execution
	if code := doReq(t, c2.base, c2.token, "POST", "/api/v1/executions", map[string]any{"command": "ensure"}, &e2); code != 202 {
		t.Fatalf("start after restart: %d", code)
	}
	waitFor(t, func() bool {
		var x execution
		doReq(t, c2.base, c2.token, "GET", "/api/v1/executions/"+e2.ID, nil, &x)
		return x.State == "complete"
	})
	// SIGTERM stops the server; it exits 130.
	_ = c2.cmd.Process.Signal(syscall.SIGTERM)
	err := c2.cmd.Wait()
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 130 {
		t.Errorf("server after SIGTERM: %v, want exit 130", err)
	}
}

// TestSignalStopsExecutions: a stop of the server stops its executions by
// the rules of stopping (the item in flight finishes) before Serve returns.
func TestSignalStopsExecutions(t *testing.T) {
	ts := startServer(t, writeFlow(t, slowFlow))
	e := ts.start("ensure")
	waitItem(t, ts, e.ID, "first", "running")
	ts.srv.Stop("test")
	var busy struct{ Code string }
	if code := ts.do("POST", "/api/v1/executions", map[string]any{"command": "status", "profile": "other"}, &busy); code != 503 || busy.Code != "stopping" {
		t.Errorf("start while stopping: %d %+v", code, busy)
	}
	select {
	case <-ts.done:
		t.Fatal("Serve returned with an item in flight")
	case <-time.After(300 * time.Millisecond):
	}
	os.WriteFile(filepath.Join(ts.dir, "release"), nil, 0o644)
	select {
	case err := <-ts.done:
		ts.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after the execution ended")
	}
	out, _, _ := peace(t, ts.dir, "executions", "--format", "json")
	var list struct{ Executions []execution }
	_ = json.Unmarshal([]byte(out), &list)
	if len(list.Executions) != 1 || list.Executions[0].State != "interrupted" || list.Executions[0].Items["first"] != "applied" ||
		list.Executions[0].Items["second"] != "not_started" {
		t.Errorf("after the server stopped: %+v", list.Executions)
	}
}

func waitItem(t testing.TB, ts *testServer, id, item, status string) {
	t.Helper()
	waitFor(t, func() bool {
		found := false
		// The event stream has item statuses at once (the record's are
		// flushed once a second).
		readSSE(t, ts.base, ts.token, "/api/v1/executions/"+id+"/events", "", func(ev sseEvent) bool {
			var pe struct{ Type, Item string }
			_ = json.Unmarshal([]byte(ev.Data), &pe)
			if pe.Item == item && pe.Type == "item_start" && status == "running" {
				found = true
				return false
			}
			return ev.Event != "end"
		})
		return found
	})
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
