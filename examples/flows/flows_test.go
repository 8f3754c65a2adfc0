package flows_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peace-go/peace/cmd"
)

// remote serves one archive the way a static file server does
// (Last-Modified, conditional requests) and counts the body bytes it sends.
type remote struct {
	mu      sync.Mutex
	archive []byte
	modTime time.Time
	sent    atomic.Int64
}

func (r *remote) set(archive []byte, modTime time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.archive, r.modTime = archive, modTime
}

func (r *remote) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	archive, modTime := r.archive, r.modTime
	r.mu.Unlock()
	http.ServeContent(counter{w, &r.sent}, req, "", modTime, bytes.NewReader(archive))
}

type counter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c counter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

type entry struct{ name, body, link string }

func tarGz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0)}
		if e.link != "" {
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
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

// result is peace's --format json result for ensure and clean.
type result struct {
	Outcome string `json:"outcome"`
	Items   map[string]struct {
		Status string  `json:"status"`
		Error  *string `json:"error"`
	} `json:"items"`
}

// peace runs the command line in process with a JSON result.
func peace(t *testing.T, flow string, args ...string) (int, result) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &cmd.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, Getenv: func(string) string { return "" }}
	code := cmd.Run(context.Background(), append([]string{"-f", flow, "--format", "json", "--progress", "none"}, args...), io)
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("peace %s: exit %d, result %q: %v\n%s", strings.Join(args, " "), code, out.String(), err, errOut.String())
	}
	return int(code), r
}

func statuses(r result) string {
	return "payload=" + r.Items["payload"].Status + " unpack=" + r.Items["unpack"].Status
}

func TestDownloadFlow(t *testing.T) {
	srv := &remote{}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.set(tarGz(t, entry{name: "docs/hello.txt", body: "hello\n"}, entry{name: "docs/peace.txt", body: "peace\n"}), t0)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	// The example flow as it is, with the server's address.
	src, err := os.ReadFile(filepath.Join("download", "flow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const exampleURL = "http://127.0.0.1:8000/docs.tar.gz"
	if !bytes.Contains(src, []byte(exampleURL)) {
		t.Fatalf("download/flow.yaml no longer fetches %s", exampleURL)
	}
	dir := t.TempDir()
	flow := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(flow, bytes.ReplaceAll(src, []byte(exampleURL), []byte(hs.URL+"/docs.tar.gz")), 0o644); err != nil {
		t.Fatal(err)
	}

	code, r := peace(t, flow, "ensure")
	if code != 0 || statuses(r) != "payload=applied unpack=applied" {
		t.Fatalf("first ensure: exit %d, %s", code, statuses(r))
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out", "docs", "hello.txt")); string(got) != "hello\n" {
		t.Fatalf("hello.txt = %q", got)
	}

	srv.sent.Store(0)
	code, r = peace(t, flow, "ensure")
	if code != 0 || statuses(r) != "payload=unchanged unpack=unchanged" {
		t.Fatalf("second ensure: exit %d, %s", code, statuses(r))
	}
	if n := srv.sent.Load(); n != 0 {
		t.Fatalf("the no-op ensure transferred %d body bytes", n)
	}

	srv.set(tarGz(t, entry{name: "docs/hello.txt", body: "hello, again\n"}, entry{name: "docs/peace.txt", body: "peace\n"}), t0.Add(time.Hour))
	code, r = peace(t, flow, "ensure")
	if code != 0 || statuses(r) != "payload=applied unpack=applied" {
		t.Fatalf("ensure after a remote change: exit %d, %s", code, statuses(r))
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out", "docs", "hello.txt")); string(got) != "hello, again\n" {
		t.Fatalf("hello.txt = %q", got)
	}

	for i, hostile := range []entry{
		{name: "../escaped.txt", body: "x"},
		{name: "/tmp/escaped.txt", body: "x"},
		{name: "docs/link", link: "../../.."},
	} {
		srv.set(tarGz(t, entry{name: "docs/fine.txt", body: "fine"}, hostile), t0.Add(time.Duration(i+2)*time.Hour))
		code, r = peace(t, flow, "ensure")
		e := r.Items["unpack"].Error
		if code != 1 || r.Items["unpack"].Status != "failed" || e == nil || !strings.Contains(*e, `entry "`+hostile.name+`"`) {
			t.Fatalf("hostile entry %q: exit %d, %s, error %v", hostile.name, code, statuses(r), deref(e))
		}
		if _, err := os.Stat(filepath.Join(dir, "out", "docs", "fine.txt")); err == nil {
			t.Fatalf("with hostile entry %q, the archive's other entries were written", hostile.name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped.txt")); err == nil {
		t.Fatal("a hostile entry was written")
	}

	code, r = peace(t, flow, "clean")
	if code != 0 || r.Outcome != "complete" {
		t.Fatalf("clean: exit %d, %s", code, statuses(r))
	}
	if _, err := os.Stat(filepath.Join(dir, "dl", "docs.tar.gz")); err == nil {
		t.Fatal("clean left the archive")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "docs", "hello.txt")); err == nil {
		t.Fatal("clean left an extracted file")
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}
