package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/cmd"
	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/builtin"
	"github.com/peace-go/peace/server"
)

// childEnv makes this test binary run as peace (a server of its own
// process, which a test can SIGKILL).
const childEnv = "PEACE_SERVER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(cmd.Main())
	}
	os.Exit(m.Run())
}

// quickstart writes the quickstart flow into a new directory.
func quickstart(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile("../examples/quickstart/flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return writeFlow(t, string(data))
}

func writeFlow(t testing.TB, flow string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// slowFlow is one item that holds its apply until a file appears (or a
// long time has passed), so a test decides when it ends.
const slowFlow = `flow: slow
items:
  - id: first
    type: sh_cmd
    params:
      current: "cat first.txt 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo waiting; i=0; while [ ! -f release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo done > first.txt"
      clean: "rm -f first.txt"
      clean_state: "echo absent"
  - id: second
    type: sh_cmd
    depends_on: [first]
    params:
      current: "cat second.txt 2>/dev/null || echo absent"
      goal: "echo done"
      ensure: "echo done > second.txt"
      clean: "rm -f second.txt"
      clean_state: "echo absent"
`

// testServer is a real server on 127.0.0.1:0, in this process.
type testServer struct {
	t     testing.TB
	dir   string
	srv   *server.Server
	base  string // http://127.0.0.1:PORT
	token string
	stop  context.CancelFunc
	done  chan error
}

// startServer starts a server of the flow in dir; each of with may change
// its options before it starts.
func startServer(t testing.TB, dir string, with ...func(*server.Options)) *testServer {
	t.Helper()
	flow, err := cmdctx.LoadFlow(filepath.Join(dir, "flow.yaml"), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{Flow: flow, Workspace: filepath.Join(dir, ".peace"), Listen: "127.0.0.1:0",
		Logf: func(f string, a ...any) { t.Logf("server: "+f, a...) }}
	for _, w := range with {
		w(&opts)
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, dir: dir, srv: srv, base: "http://" + srv.Addr().String(), stop: cancel, done: make(chan error, 1)}
	tok, err := os.ReadFile(filepath.Join(dir, ".peace", server.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	ts.token = strings.TrimSpace(string(tok))
	go func() { ts.done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop within 30s")
		}
	})
	return ts
}

// withLoad makes the server load the flow in dir for each profile and
// params, as peace serve does.
func withLoad(dir string) func(*server.Options) {
	return func(o *server.Options) {
		o.Load = func(profile string, params map[string]string) (*items.Flow, error) {
			return cmdctx.LoadFlow(filepath.Join(dir, "flow.yaml"), builtin.Registry(),
				items.WithProfile(profile), items.WithParams(params))
		}
	}
}

// do sends a request with the token and decodes a JSON answer into out
// (when not nil); it returns the status.
func (ts *testServer) do(method, path string, body any, out any) int {
	ts.t.Helper()
	return doReq(ts.t, ts.base, ts.token, method, path, body, out)
}

func doReq(t testing.TB, base, token, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d: decode %q: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res.StatusCode
}

// execution is the part of an execution's JSON the tests read.
type execution struct {
	ID      string            `json:"id"`
	Command string            `json:"command"`
	Profile string            `json:"profile"`
	State   string            `json:"state"`
	Items   map[string]string `json:"items"`
	Params  map[string]string `json:"params"`
	Actions map[string]bool   `json:"actions"`
	LastSeq int64             `json:"last_seq"`
	PID     int               `json:"pid"`
}

func (ts *testServer) start(command string) execution {
	ts.t.Helper()
	var e execution
	if code := ts.do("POST", "/api/v1/executions", map[string]any{"command": command}, &e); code != http.StatusAccepted {
		ts.t.Fatalf("start %s: status %d, want 202", command, code)
	}
	return e
}

// post starts an execution with body and expects 202.
func (ts *testServer) post(body map[string]any) execution {
	ts.t.Helper()
	var e execution
	if code := ts.do("POST", "/api/v1/executions", body, &e); code != http.StatusAccepted {
		ts.t.Fatalf("start %v: status %d, want 202", body, code)
	}
	return e
}

// waitState polls the execution until its state is one of want.
func (ts *testServer) waitState(id string, want ...string) execution {
	ts.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var e execution
		ts.do("GET", "/api/v1/executions/"+id, nil, &e)
		for _, w := range want {
			if e.State == w {
				return e
			}
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("execution %s is %s after 30s, want %v", id, e.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	ID    int64
	Event string
	Data  string
}

// readSSE reads a whole event stream (to its end).
func readSSE(t testing.TB, base, token, path string, lastEventID string, fn func(sseEvent) bool) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return res.StatusCode
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Data != "" || ev.Event != "" {
				if !fn(ev) {
					return 200
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.ID, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			ev.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.Data += strings.TrimPrefix(line, "data: ")
		}
	}
	return 200
}

// peace runs the command line in this process.
func peace(t testing.TB, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &cmd.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, Getenv: func(string) string { return "" }}
	c := cmd.Run(context.Background(), append([]string{"-f", filepath.Join(dir, "flow.yaml")}, args...), io)
	return out.String(), errOut.String(), int(c)
}

// childServer runs `peace serve` in a process of its own.
type childServer struct {
	cmd   *exec.Cmd
	base  string
	token string
}

func startChild(t testing.TB, dir string) *childServer {
	t.Helper()
	c := exec.Command(os.Args[0], "-f", filepath.Join(dir, "flow.yaml"), "serve", "--listen", "127.0.0.1:0")
	c.Env = append(os.Environ(), childEnv+"=1")
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGKILL)
		_ = c.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the server printed no address: %v", err)
	}
	u := strings.TrimSpace(line)
	i := strings.Index(u, "/#token=")
	if i < 0 {
		t.Fatalf("address %q has no token", u)
	}
	return &childServer{cmd: c, base: u[:i], token: u[i+len("/#token="):]}
}

func (c *childServer) String() string {
	return fmt.Sprintf("server pid %d at %s", c.cmd.Process.Pid, c.base)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
