package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests run the program as its users do: built with go build, run as a
// process of its own on the shipped flow.yaml, against a real HTTP server,
// interrupted with real signals.

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// program builds the download program once per test run.
func program(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "download-test-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "download")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binary = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, binary)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" && buildErr == nil {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// server serves one archive with an ETag and counts the body bytes it sends.
// With drip set it sends the body a little at a time, slowly.
type server struct {
	mu      sync.Mutex
	archive []byte
	etag    string
	drip    bool
	sent    atomic.Int64
}

func (s *server) set(archive []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archive, s.etag = archive, etag
}

func (s *server) setDrip(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drip = on
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	archive, etag, drip := s.archive, s.etag, s.drip
	s.mu.Unlock()
	w.Header().Set("ETag", etag)
	http.ServeContent(counting{w, &s.sent, drip}, r, "", time.Time{}, bytes.NewReader(archive))
}

type counting struct {
	http.ResponseWriter
	n    *atomic.Int64
	drip bool
}

func (c counting) Write(p []byte) (int, error) {
	if !c.drip {
		c.n.Add(int64(len(p)))
		return c.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), 1024)]
		n, err := c.ResponseWriter.Write(chunk)
		c.n.Add(int64(n))
		written += n
		if err != nil {
			return written, err
		}
		c.ResponseWriter.(http.Flusher).Flush()
		p = p[n:]
		time.Sleep(20 * time.Millisecond)
	}
	return written, nil
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// workdir is a directory holding the shipped flow.yaml with its url pointed
// at url.
func workdir(t *testing.T, url string) (dir, flow string) {
	t.Helper()
	data, err := os.ReadFile("flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const shipped = `"http://127.0.0.1:8000/docs.tar.gz"`
	if !bytes.Contains(data, []byte(shipped)) {
		t.Fatalf("flow.yaml does not fetch %s", shipped)
	}
	dir = t.TempDir()
	flow = filepath.Join(dir, "flow.yaml")
	data = bytes.Replace(data, []byte(shipped), []byte(`"`+url+`"`), 1)
	if err := os.WriteFile(flow, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, flow
}

// command is the program about to run on flow, results as JSON on stdout
// and plain progress on stderr.
func command(t *testing.T, flow string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := exec.Command(program(t), append([]string{"-f", flow, "--progress", "plain"}, args...)...)
	c.Dir = t.TempDir() // the flow file, not the working directory, says where things go
	c.Stdout, c.Stderr = &stdout, &stderr
	return c, &stdout, &stderr
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

// download runs the program to its end and returns its exit code and
// stdout.
func download(t *testing.T, flow string, args ...string) (int, string) {
	t.Helper()
	c, stdout, stderr := command(t, flow, args...)
	code := exitCode(t, c.Run())
	t.Logf("download %s → %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	return code, stdout.String()
}

// result is the JSON result of ensure and clean.
type result struct {
	Outcome string `json:"outcome"`
	Items   map[string]struct {
		Status string          `json:"status"`
		State  json.RawMessage `json:"state"`
		Error  *string         `json:"error"`
	} `json:"items"`
}

func decode(t *testing.T, out string) result {
	t.Helper()
	var r result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("result: %v\n%s", err, out)
	}
	return r
}

// statuses is each item's status, in flow order.
func (r result) statuses() string {
	var s []string
	for _, id := range []string{"payload", "unpack", "sums"} {
		s = append(s, id+"="+r.Items[id].Status)
	}
	return strings.Join(s, " ")
}

func apply(t *testing.T, flow, command string) (int, result) {
	t.Helper()
	code, out := download(t, flow, command, "--format", "json")
	return code, decode(t, out)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestEnsureStatusClean(t *testing.T) {
	srv := &server{}
	srv.set(tarGz(t, map[string]string{"a.txt": "alpha\n", "sub/b.txt": "beta\n"}), `"v1"`)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	dir, flow := workdir(t, hs.URL+"/files.tar.gz")
	docs := filepath.Join(dir, "docs")

	code, out := download(t, flow, "status")
	if code != 0 || !strings.Contains(out, "payload  file_download  absent") || !strings.Contains(out, "sums     checksum_file  absent") {
		t.Fatalf("status before ensure: exit %d\n%s", code, out)
	}

	code, res := apply(t, flow, "ensure")
	if code != 0 || res.Outcome != "complete" || res.statuses() != "payload=applied unpack=applied sums=applied" {
		t.Fatalf("ensure: exit %d, %s %s", code, res.Outcome, res.statuses())
	}
	sums, err := os.ReadFile(filepath.Join(docs, "SHA256SUMS"))
	if want := sha("alpha\n") + "  a.txt\n" + sha("beta\n") + "  sub/b.txt\n"; err != nil || string(sums) != want {
		t.Fatalf("SHA256SUMS = %q, %v; want %q", sums, err, want)
	}
	code, out = download(t, flow, "status")
	if code != 0 || !strings.Contains(out, "sums     checksum_file  2 files (sha256 "+sha(string(sums))[:12]+"…)") {
		t.Fatalf("status after ensure: exit %d\n%s", code, out)
	}

	// Again: nothing to do, and no body crosses the wire.
	srv.sent.Store(0)
	code, res = apply(t, flow, "ensure")
	if code != 0 || res.statuses() != "payload=unchanged unpack=unchanged sums=unchanged" {
		t.Fatalf("second ensure: exit %d, %s", code, res.statuses())
	}
	if n := srv.sent.Load(); n != 0 {
		t.Fatalf("a no-op ensure transferred %d body bytes", n)
	}
	if code, out = download(t, flow, "diff"); code != 0 || !strings.Contains(out, "0 of 3 items would change") {
		t.Fatalf("diff: exit %d\n%s", code, out)
	}

	// The remote changes: everything follows.
	srv.set(tarGz(t, map[string]string{"a.txt": "alpha, second edition\n", "sub/b.txt": "beta\n"}), `"v2"`)
	if code, out = download(t, flow, "diff"); code != 0 || !strings.Contains(out, `"v1" → "v2"`) {
		t.Fatalf("diff after a remote change: exit %d\n%s", code, out)
	}
	code, res = apply(t, flow, "ensure")
	if code != 0 || res.statuses() != "payload=applied unpack=applied sums=applied" {
		t.Fatalf("ensure after a remote change: exit %d, %s", code, res.statuses())
	}
	if got, _ := os.ReadFile(filepath.Join(docs, "a.txt")); string(got) != "alpha, second edition\n" {
		t.Fatalf("a.txt = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(docs, "SHA256SUMS")); !strings.HasPrefix(string(got), sha("alpha, second edition\n")+"  a.txt\n") {
		t.Fatalf("SHA256SUMS after a remote change = %q", got)
	}

	// A hostile archive is refused and writes nothing outside docs/.
	srv.set(tarGz(t, map[string]string{"../escaped.txt": "x"}), `"v3"`)
	code, res = apply(t, flow, "ensure")
	if u := res.Items["unpack"]; code != 1 || res.Outcome != "failed" || u.Error == nil || !strings.Contains(*u.Error, `entry "../escaped.txt"`) {
		t.Fatalf("hostile ensure: exit %d, %s %s", code, res.Outcome, res.statuses())
	}
	if res.Items["sums"].Status != "not_started" {
		t.Fatalf("hostile ensure: sums %s after unpack failed", res.Items["sums"].Status)
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped.txt")); err == nil {
		t.Fatal("the hostile entry was written")
	}

	srv.set(tarGz(t, map[string]string{"a.txt": "alpha\n"}), `"v4"`)
	if code, _ := apply(t, flow, "ensure"); code != 0 {
		t.Fatalf("ensure: exit %d", code)
	}
	code, res = apply(t, flow, "clean")
	if code != 0 || res.Outcome != "complete" {
		t.Fatalf("clean: exit %d, %s %s", code, res.Outcome, res.statuses())
	}
	if _, err := os.Stat(filepath.Join(dir, ".download", "archive")); err == nil {
		t.Error("clean left the archive")
	}
	if _, err := os.Stat(filepath.Join(docs, "SHA256SUMS")); err == nil {
		t.Error("clean left SHA256SUMS")
	}
	// sub/b.txt of an older archive is not the current archive's: it stays.
	left, _ := os.ReadDir(docs)
	if len(left) != 1 || left[0].Name() != "sub" {
		t.Fatalf("clean left %v in docs/", left)
	}
	code, out = download(t, flow, "status")
	if code != 0 || !strings.Contains(out, "payload  file_download  absent") || !strings.Contains(out, "sums     checksum_file  absent") {
		t.Fatalf("status after clean: exit %d\n%s", code, out)
	}
}

// slowDownload starts ensure against a server that drips a 96 KiB archive
// (about two seconds) and returns once the body has started to arrive.
func slowDownload(t *testing.T) (srv *server, flow string, run *exec.Cmd, wait func() int, stdout, stderr *bytes.Buffer) {
	t.Helper()
	noise := make([]byte, 96<<10) // incompressible, so the archive is as big
	rand.Read(noise)
	srv = &server{}
	srv.set(tarGz(t, map[string]string{"big.bin": string(noise), "small.txt": "small\n"}), `"v1"`)
	srv.setDrip(true)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	_, flow = workdir(t, hs.URL+"/files.tar.gz")

	run, stdout, stderr = command(t, flow, "ensure", "--format", "json")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	wait = func() int { return exitCode(t, <-exited) }
	deadline := time.Now().Add(20 * time.Second)
	for srv.sent.Load() == 0 {
		select {
		case err := <-exited:
			t.Fatalf("the program ended (%v) before the download started\n%s%s", err, stdout, stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the download did not start")
		}
	}
	return srv, flow, run, wait, stdout, stderr
}

// One Ctrl-C during the download: it finishes, nothing else starts, exit
// 130; the next ensure does the rest without fetching again.
func TestInterruptStop(t *testing.T) {
	srv, flow, run, wait, stdout, stderr := slowDownload(t)
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := wait()
	t.Logf("ensure → %d\n%s%s", code, stdout, stderr)
	res := decode(t, stdout.String())
	if code != 130 || res.Outcome != "interrupted" || res.statuses() != "payload=applied unpack=not_started sums=not_started" {
		t.Fatalf("stopped ensure: exit %d, %s %s", code, res.Outcome, res.statuses())
	}
	if !strings.Contains(stderr.String(), "stop: finishing 1 item in flight (payload)") {
		t.Errorf("stderr does not say what the stop waits for:\n%s", stderr)
	}

	srv.setDrip(false)
	srv.sent.Store(0)
	code, res = apply(t, flow, "ensure")
	if code != 0 || res.statuses() != "payload=unchanged unpack=applied sums=applied" {
		t.Fatalf("ensure after a stop: exit %d, %s", code, res.statuses())
	}
	if n := srv.sent.Load(); n != 0 {
		t.Fatalf("ensure after a stop fetched the finished download again (%d bytes)", n)
	}
}

// Ctrl-C twice during the download: it is cancelled, exit 130, and no part
// of it is left behind; the next ensure fetches it whole and completes.
func TestInterruptCancel(t *testing.T) {
	srv, flow, run, wait, stdout, stderr := slowDownload(t)
	dir := filepath.Dir(flow)
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // closer presses count as one
	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code := wait()
	t.Logf("ensure → %d after %v\n%s%s", code, time.Since(start), stdout, stderr)
	res := decode(t, stdout.String())
	if code != 130 || res.Outcome != "interrupted" || res.statuses() != "payload=interrupted unpack=not_started sums=not_started" {
		t.Fatalf("cancelled ensure: exit %d, %s %s", code, res.Outcome, res.statuses())
	}
	if left, _ := os.ReadDir(filepath.Join(dir, ".download")); len(left) != 0 {
		t.Errorf("a cancelled download left %v", left)
	}

	srv.setDrip(false)
	code, res = apply(t, flow, "ensure")
	if code != 0 || res.statuses() != "payload=applied unpack=applied sums=applied" {
		t.Fatalf("ensure after a cancel: exit %d, %s", code, res.statuses())
	}
	if got, err := os.ReadFile(filepath.Join(dir, "docs", "small.txt")); err != nil || string(got) != "small\n" {
		t.Fatalf("small.txt = %q, %v", got, err)
	}
}

// The program's own item type is checked as strictly as a built-in one,
// and usage mistakes are exit 2, as in peace.
func TestUsage(t *testing.T) {
	_, flow := workdir(t, "http://127.0.0.1:1/files.tar.gz")
	data, _ := os.ReadFile(flow)
	bad := filepath.Join(filepath.Dir(flow), "bad.yaml")
	os.WriteFile(bad, bytes.Replace(data, []byte("output: docs/"), []byte("outptu: docs/"), 1), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"ensure", "extra"}, `unknown command "extra"`},
		{[]string{"-f", bad, "ensure"}, `unknown param "outptu" (expected one of: dir, output)`},
		{[]string{"-f", filepath.Join(filepath.Dir(flow), "none.yaml"), "status"}, "no such file"},
	} {
		c2, stdout, stderr := command(t, flow, c.args...)
		code := exitCode(t, c2.Run())
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("download %v: exit %d, want 2 and %q\n%s%s", c.args, code, c.want, stdout, stderr)
		}
	}
}
