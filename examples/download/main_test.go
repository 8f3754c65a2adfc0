package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server serves one archive with an ETag and counts the body bytes it sends.
type server struct {
	mu      sync.Mutex
	archive []byte
	etag    string
	sent    atomic.Int64
}

func (s *server) set(archive []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archive, s.etag = archive, etag
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	archive, etag := s.archive, s.etag
	s.mu.Unlock()
	w.Header().Set("ETag", etag)
	http.ServeContent(counting{w, &s.sent}, r, "", time.Time{}, bytes.NewReader(archive))
}

type counting struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c counting) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}
		if strings.HasPrefix(body, "->") {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, strings.TrimPrefix(body, "->"), 0
			body = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// download runs the program in process, in dir.
func download(t *testing.T, dir string, args ...string) (code int, stdout string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"-C", dir, "-q"}, args...), &out, &errOut, nil)
	t.Logf("download %s → %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String()
}

func TestCommands(t *testing.T) {
	srv := &server{}
	srv.set(tarGz(t, map[string]string{"a.txt": "alpha\n", "sub/b.txt": "beta\n"}), `"v1"`)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	dir := t.TempDir()

	if code, _ := download(t, dir, "status"); code != exitUsage {
		t.Fatalf("status before init: exit %d", code)
	}
	if code, _ := download(t, dir, "init", hs.URL+"/files.tar.gz", "files"); code != exitOK {
		t.Fatalf("init: exit %d", code)
	}
	if code, _ := download(t, dir, "init", hs.URL+"/files.tar.gz", "files"); code != exitUsage {
		t.Fatalf("second init: exit %d, want a refusal", code)
	}

	code, out := download(t, dir, "ensure")
	if code != exitOK || strings.Count(out, "applied") != 3 {
		t.Fatalf("ensure: exit %d\n%s", code, out)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "files", "SHA256SUMS"))
	if err != nil || !strings.Contains(string(sums), "  sub/b.txt\n") {
		t.Fatalf("SHA256SUMS: %q %v", sums, err)
	}

	// Again: nothing to do, and no body crosses the wire.
	srv.sent.Store(0)
	code, out = download(t, dir, "ensure")
	if code != exitOK || strings.Count(out, "unchanged") != 3 {
		t.Fatalf("second ensure: exit %d\n%s", code, out)
	}
	if n := srv.sent.Load(); n != 0 {
		t.Fatalf("a no-op ensure transferred %d body bytes", n)
	}
	if code, out = download(t, dir, "diff"); code != exitOK || strings.Count(out, "unchanged") != 3 {
		t.Fatalf("diff: exit %d\n%s", code, out)
	}

	// The remote changes: everything follows.
	srv.set(tarGz(t, map[string]string{"a.txt": "alpha, second edition\n", "sub/b.txt": "beta\n"}), `"v2"`)
	if code, out = download(t, dir, "diff"); !strings.Contains(out, `etag "v1" → "v2"`) {
		t.Fatalf("diff after a remote change: exit %d\n%s", code, out)
	}
	code, out = download(t, dir, "ensure")
	if code != exitOK || strings.Count(out, "applied") != 3 {
		t.Fatalf("ensure after a remote change: exit %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "files", "a.txt")); string(got) != "alpha, second edition\n" {
		t.Fatalf("a.txt = %q", got)
	}

	// A hostile archive is refused and writes nothing outside files/.
	srv.set(tarGz(t, map[string]string{"../escaped.txt": "x"}), `"v3"`)
	code, out = download(t, dir, "ensure")
	if code != exitFailed || !strings.Contains(out, `entry "../escaped.txt"`) {
		t.Fatalf("hostile ensure: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped.txt")); err == nil {
		t.Fatal("the hostile entry was written")
	}

	srv.set(tarGz(t, map[string]string{"a.txt": "alpha\n"}), `"v4"`)
	if code, _ := download(t, dir, "ensure"); code != exitOK {
		t.Fatalf("ensure: exit %d", code)
	}
	code, out = download(t, dir, "clean")
	if code != exitOK {
		t.Fatalf("clean: exit %d\n%s", code, out)
	}
	left, _ := os.ReadDir(filepath.Join(dir, "files"))
	archive, _ := os.ReadDir(filepath.Join(dir, ".download"))
	for _, e := range archive {
		if e.Name() == "archive" {
			t.Error("clean left the archive")
		}
	}
	// sub/b.txt of an older archive is not the current archive's: it stays.
	if len(left) != 1 || left[0].Name() != "sub" {
		t.Fatalf("clean left %v in files/", left)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{}, {"nope"}, {"init", "http://x/a.tgz"}, {"init", "ftp://x/a.tgz", "d"}, {"status", "extra"}} {
		if code, _ := download(t, dir, args...); code != exitUsage {
			t.Errorf("download %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
