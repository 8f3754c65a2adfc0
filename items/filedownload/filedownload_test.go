package filedownload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/itemtest"
	"github.com/peace-go/peace/progress"
)

// remoteFile serves one file the way a real server would (http.ServeContent:
// validators, conditional requests, ranges), with switches for the ways
// servers differ or fail. It counts the body bytes it sends.
type remoteFile struct {
	mu         sync.Mutex
	content    []byte
	etag       string        // "" sends no ETag
	modTime    time.Time     // zero sends no Last-Modified
	status     int           // not 0: answer every request with this status
	headStatus int           // not 0: answer HEAD with this status
	noRanges   bool          // ignore Range and do not advertise it
	cutAt      int           // > 0: full GETs send only this many body bytes, then hang up
	cuts       int           // how many full GETs are cut; < 0: every one
	stallAfter int           // > 0: send this many bytes, then nothing until the client leaves
	drip       time.Duration // > 0: full GETs send the body one byte at a time, one every drip

	bodyBytes atomic.Int64
	gets      atomic.Int64
	heads     atomic.Int64
	notMod    atomic.Int64 // 304 answers
	ranges    atomic.Int64 // requests with a Range header
}

func (rf *remoteFile) set(content string, etag string, modTime time.Time) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	rf.content, rf.etag, rf.modTime = []byte(content), etag, modTime
}

func (rf *remoteFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rf.mu.Lock()
	content, etag, modTime, status := rf.content, rf.etag, rf.modTime, rf.status
	cut := rf.cutAt > 0 && r.Method == http.MethodGet && r.Header.Get("Range") == "" && rf.cuts != 0
	if cut && rf.cuts > 0 {
		rf.cuts--
	}
	cutAt, headStatus, noRanges, stallAfter, drip := rf.cutAt, rf.headStatus, rf.noRanges, rf.stallAfter, rf.drip
	rf.mu.Unlock()

	if r.Method == http.MethodHead {
		rf.heads.Add(1)
	} else {
		rf.gets.Add(1)
	}
	if r.Header.Get("Range") != "" {
		rf.ranges.Add(1)
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if headStatus != 0 && r.Method == http.MethodHead {
		http.Error(w, "no HEAD here", headStatus)
		return
	}
	cw := &countingWriter{ResponseWriter: w, n: &rf.bodyBytes, noRanges: noRanges}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	switch {
	case cut:
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		if !noRanges {
			w.Header().Set("Accept-Ranges", "bytes")
		}
		if !modTime.IsZero() {
			w.Header().Set("Last-Modified", modTime.UTC().Format(http.TimeFormat))
		}
		cw.Write(content[:cutAt]) // less than declared: the server closes the connection
		return
	case stallAfter > 0 && r.Method == http.MethodGet:
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		cw.Write(content[:stallAfter])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	case drip > 0 && r.Method == http.MethodGet && r.Header.Get("Range") == "":
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Header().Set("Accept-Ranges", "bytes")
		for i := range content {
			cw.Write(content[i : i+1])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(drip):
			case <-r.Context().Done():
				return
			}
		}
		return
	}
	if noRanges {
		r.Header.Del("Range")
		r.Header.Del("If-Range")
	}
	http.ServeContent(cw, r, "", modTime, bytes.NewReader(content))
	if cw.status == http.StatusNotModified {
		rf.notMod.Add(1)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n        *atomic.Int64
	noRanges bool
	status   int
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	if c.noRanges {
		c.Header().Del("Accept-Ranges")
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

// tracker records what an item reports.
type tracker struct {
	mu        sync.Mutex
	limits    []progress.Limit
	advanced  int64
	messages  []string
	onAdvance func(total int64)
}

func (t *tracker) SetLimit(l progress.Limit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limits = append(t.limits, l)
}

func (t *tracker) Advance(n int64) {
	t.mu.Lock()
	t.advanced += n
	total, f := t.advanced, t.onAdvance
	t.mu.Unlock()
	if f != nil {
		f(total)
	}
}

func (t *tracker) Message(m string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.messages = append(t.messages, m)
}

func (t *tracker) Output(string) {}

// fixture is one file_download item against one remoteFile, with the
// recorded state kept between runs the way the state store keeps it.
type fixture struct {
	t      *testing.T
	remote *remoteFile
	srv    *httptest.Server
	dir    string
	dl     *Download
	item   items.Item
	stored items.State
}

func newFixture(t *testing.T, rf *remoteFile, p Params) *fixture {
	t.Helper()
	srv := httptest.NewServer(rf)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if p.URL == "" {
		p.URL = srv.URL + "/payload.bin"
	}
	if p.Dest == "" {
		p.Dest = "dl/payload.bin"
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	dl := NewDownload(p, items.Env{Dir: dir})
	return &fixture{t: t, remote: rf, srv: srv, dir: dir, dl: dl, item: dl.Item("payload")}
}

func (f *fixture) dest() string { return filepath.Join(f.dir, "dl", "payload.bin") }

// ensure runs discover → apply check → apply as an ensure does, records the
// applied state through its JSON encoding, and says whether apply ran.
func (f *fixture) ensure(ctx context.Context, tr progress.Tracker) (applied bool, err error) {
	f.t.Helper()
	return f.run(ctx, items.OpEnsure, tr)
}

func (f *fixture) run(ctx context.Context, op items.Op, tr progress.Tracker) (applied bool, err error) {
	applied, f.stored, err = itemtest.Apply(ctx, f.item, op, tr, f.stored)
	return applied, err
}

func (f *fixture) mustEnsure(wantApplied bool) {
	f.t.Helper()
	applied, err := f.ensure(context.Background(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if applied != wantApplied {
		f.t.Fatalf("applied = %v, want %v", applied, wantApplied)
	}
}

func (f *fixture) wantDest(content string) {
	f.t.Helper()
	got, err := os.ReadFile(f.dest())
	if err != nil {
		f.t.Fatal(err)
	}
	if string(got) != content {
		f.t.Fatalf("dest holds %q, want %q", got, content)
	}
}

// wantNoFiles checks that neither dest nor a temporary file is left.
func (f *fixture) wantNoFiles() {
	f.t.Helper()
	ents, _ := os.ReadDir(filepath.Dir(f.dest()))
	for _, e := range ents {
		f.t.Errorf("file left behind: %s", e.Name())
	}
}

func (f *fixture) storedState() State {
	f.t.Helper()
	s, ok := f.stored.(State)
	if !ok {
		f.t.Fatalf("stored state is %T", f.stored)
	}
	return s
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestUnchangedRemoteTransfersNoBody(t *testing.T) {
	rf := &remoteFile{}
	rf.set("version one", `"v1"`, t0)
	f := newFixture(t, rf, Params{})

	f.mustEnsure(true)
	f.wantDest("version one")
	if got := rf.bodyBytes.Load(); got != int64(len("version one")) {
		t.Fatalf("first ensure sent %d body bytes", got)
	}
	s := f.storedState()
	if s.ETag != `"v1"` || s.LastModified != t0.Format(http.TimeFormat) || s.SHA256 != sum("version one") {
		t.Fatalf("recorded %+v", s)
	}

	rf.bodyBytes.Store(0)
	f.mustEnsure(false)
	if got := rf.bodyBytes.Load(); got != 0 {
		t.Fatalf("no-op ensure sent %d body bytes", got)
	}
}

func TestConditionalGetAnswered304(t *testing.T) {
	rf := &remoteFile{}
	rf.set("version one", `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)

	// Apply anyway, as when the goal was discovered before the remote
	// settled: the conditional GET gets a 304 and no body.
	rf.bodyBytes.Store(0)
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker, Stored: f.stored}
	cur, err := f.item.Current(context.Background(), fc)
	if err != nil {
		t.Fatal(err)
	}
	goal, err := f.item.Goal(context.Background(), fc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.item.Apply(context.Background(), fc, cur, goal)
	if err != nil {
		t.Fatal(err)
	}
	if rf.notMod.Load() != 1 || rf.bodyBytes.Load() != 0 {
		t.Fatalf("304s = %d, body bytes = %d; want 1 and 0", rf.notMod.Load(), rf.bodyBytes.Load())
	}
	if s.(State).SHA256 != sum("version one") || s.(State).ETag != `"v1"` {
		t.Fatalf("state after 304: %+v", s)
	}
	f.wantDest("version one")
}

func TestChangedETagDownloadsAgain(t *testing.T) {
	rf := &remoteFile{}
	rf.set("version one", `"v1"`, time.Time{})
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)

	rf.set("version two!", `"v2"`, time.Time{})
	diffText := f.diff()
	if !strings.Contains(diffText, `etag "v1" → "v2"`) {
		t.Errorf("diff = %q", diffText)
	}
	f.mustEnsure(true)
	f.wantDest("version two!")
	f.mustEnsure(false)
}

func TestLastModifiedOnly(t *testing.T) {
	rf := &remoteFile{}
	rf.set("version one", "", t0)
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)
	if s := f.storedState(); s.ETag != "" || s.LastModified == "" {
		t.Fatalf("recorded %+v", s)
	}
	rf.bodyBytes.Store(0)
	f.mustEnsure(false)
	if rf.bodyBytes.Load() != 0 {
		t.Fatal("no-op sent a body")
	}

	rf.set("version two", "", t0.Add(time.Hour))
	f.mustEnsure(true)
	f.wantDest("version two")
}

func TestChangeWithinTheSameSecond(t *testing.T) {
	// Only Last-Modified, which counts seconds: the new content has the
	// same validator, and a conditional GET would be answered 304.
	rf := &remoteFile{}
	rf.set("version one", "", t0)
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)
	rf.set("version one, edited", "", t0)
	f.mustEnsure(true)
	f.wantDest("version one, edited")
	if rf.notMod.Load() != 0 {
		t.Fatalf("sent a conditional GET for content known to differ")
	}
}

func TestNoValidatorsAlwaysDownloads(t *testing.T) {
	rf := &remoteFile{}
	rf.set("no validators", "", time.Time{})
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)
	// Nothing proves the remote unchanged, so ensure fetches again.
	f.mustEnsure(true)
	f.wantDest("no validators")
	if got := rf.bodyBytes.Load(); got != 2*int64(len("no validators")) {
		t.Fatalf("body bytes = %d", got)
	}
}

func TestLocalChangeIsRepaired(t *testing.T) {
	rf := &remoteFile{}
	rf.set("version one", `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)

	if err := os.WriteFile(f.dest(), []byte("edited by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	rf.bodyBytes.Store(0)
	f.mustEnsure(true)
	f.wantDest("version one")
	// The edited file is not the recorded download: no conditional request.
	if rf.notMod.Load() != 0 || rf.bodyBytes.Load() != int64(len("version one")) {
		t.Fatalf("304s = %d, body bytes = %d", rf.notMod.Load(), rf.bodyBytes.Load())
	}
}

func TestHTTPErrorsNameURLAndStatus(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			rf := &remoteFile{status: code}
			rf.set("x", `"v1"`, t0)
			f := newFixture(t, rf, Params{})

			_, err := f.ensure(context.Background(), nil)
			want := fmt.Sprintf("HEAD %s/payload.bin: %d %s", f.srv.URL, code, http.StatusText(code))
			if err == nil || err.Error() != want {
				t.Fatalf("goal error = %v, want %q", err, want)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != code {
				t.Fatalf("error %v is not a StatusError with %d", err, code)
			}

			// The same from apply's GET.
			fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
			_, err = f.item.Apply(context.Background(), fc, State{}, State{Exists: true})
			want = fmt.Sprintf("GET %s/payload.bin: %d %s", f.srv.URL, code, http.StatusText(code))
			if err == nil || err.Error() != want {
				t.Fatalf("apply error = %v, want %q", err, want)
			}
			f.wantNoFiles()
		})
	}
}

func TestTruncatedBodyLeavesNoFile(t *testing.T) {
	content := strings.Repeat("0123456789", 1000)
	cases := map[string]*remoteFile{
		"no ranges":     {cutAt: 4000, cuts: -1, noRanges: true},
		"no validators": {cutAt: 4000, cuts: -1}, // resuming could splice two contents
	}
	for name, rf := range cases {
		t.Run(name, func(t *testing.T) {
			etag := `"v1"`
			if name == "no validators" {
				etag = ""
			}
			rf.set(content, etag, time.Time{})
			f := newFixture(t, rf, Params{})
			_, err := f.ensure(context.Background(), nil)
			want := "GET " + f.srv.URL + "/payload.bin: body cut short after 4000 bytes of 10000"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error = %v, want it to contain %q", err, want)
			}
			if rf.ranges.Load() != 0 {
				t.Errorf("sent %d range requests", rf.ranges.Load())
			}
			f.wantNoFiles()
		})
	}
}

func TestResumeWithRange(t *testing.T) {
	content := strings.Repeat("0123456789", 1000)
	rf := &remoteFile{cutAt: 4000, cuts: 1}
	rf.set(content, `"v1"`, t0)
	f := newFixture(t, rf, Params{SHA256: sum(content)})
	tr := &tracker{}
	if _, err := f.ensure(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	f.wantDest(content)
	if rf.ranges.Load() != 1 || rf.bodyBytes.Load() != int64(len(content)) {
		t.Fatalf("range requests = %d, body bytes = %d; want 1 and %d", rf.ranges.Load(), rf.bodyBytes.Load(), len(content))
	}
	if tr.advanced != int64(len(content)) {
		t.Fatalf("progress advanced %d bytes, want %d", tr.advanced, len(content))
	}
}

func TestResumeRefusedWhenRemoteChanged(t *testing.T) {
	content := strings.Repeat("0123456789", 1000)
	rf := &remoteFile{cutAt: 4000, cuts: 1}
	rf.set(content, `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	tr := &tracker{onAdvance: func(total int64) {
		if total == 4000 { // the first response is done: change the remote before the resume
			rf.set(strings.Repeat("abcdefghij", 1000), `"v2"`, t0.Add(time.Hour))
		}
	}}
	_, err := f.ensure(context.Background(), tr)
	if err == nil || !strings.Contains(err.Error(), "200 OK to a range request") {
		t.Fatalf("error = %v", err)
	}
	f.wantNoFiles()
}

func TestSHA256Mismatch(t *testing.T) {
	rf := &remoteFile{}
	rf.set("not what was pinned", `"v1"`, t0)
	f := newFixture(t, rf, Params{SHA256: sum("what was pinned")})
	_, err := f.ensure(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "content has sha256 "+sum("not what was pinned")+", want "+sum("what was pinned")) {
		t.Fatalf("error = %v", err)
	}
	f.wantNoFiles()
}

func TestSHA256Pinned(t *testing.T) {
	rf := &remoteFile{}
	rf.set("pinned", `"v1"`, t0)
	f := newFixture(t, rf, Params{SHA256: strings.ToUpper(sum("pinned"))})
	f.mustEnsure(true)
	f.mustEnsure(false)
	f.wantDest("pinned")
}

func TestCancelMidDownloadLeavesNoFile(t *testing.T) {
	content := strings.Repeat("x", 1<<20)
	rf := &remoteFile{stallAfter: 1000}
	rf.set(content, `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &tracker{onAdvance: func(total int64) {
		if total >= 1000 {
			cancel()
		}
	}}
	_, err := f.ensure(ctx, tr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	f.wantNoFiles()
}

func TestStalledTransferTimesOut(t *testing.T) {
	rf := &remoteFile{stallAfter: 1000}
	rf.set(strings.Repeat("x", 5000), "", time.Time{})
	f := newFixture(t, rf, Params{})
	f.dl.StallWindow = 200 * time.Millisecond
	_, err := f.ensure(context.Background(), nil)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "0 bytes in the last 200ms") {
		t.Fatalf("error = %v, want a stalled transfer", err)
	}
	f.wantNoFiles()
}

// A server that sends a byte now and then is never idle, yet would never
// finish: the stall rule (too few bytes in a window) ends it.
func TestDrippingServerFails(t *testing.T) {
	rf := &remoteFile{drip: 20 * time.Millisecond}
	rf.set(strings.Repeat("d", 150), `"v1"`, t0) // 3 s of dripping
	f := newFixture(t, rf, Params{})
	f.dl.StallWindow = 200 * time.Millisecond
	start := time.Now()
	_, err := f.ensure(context.Background(), nil)
	took := time.Since(start)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "in the last 200ms, fewer than the 1024 a transfer must move") {
		t.Fatalf("error = %v after %s, want a stalled transfer", err, took)
	}
	if took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
	f.wantNoFiles()
	// A server that allows ranges is not asked again: it would drip again.
	if n := rf.ranges.Load(); n != 0 {
		t.Fatalf("%d range requests", n)
	}
}

// A server that does not answer at all fails the same way, discovery's
// request included.
func TestSilentServerFails(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	f := newFixture(t, &remoteFile{}, Params{URL: srv.URL + "/x"})
	f.dl.StallWindow = 200 * time.Millisecond
	_, err := f.ensure(context.Background(), nil)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "HEAD "+srv.URL+"/x: transfer stalled: no response in 200ms") {
		t.Fatalf("error = %v", err)
	}
}

// The timeout param bounds a download that keeps moving, but too slowly
// to be done in time; it is an item failure, not an interrupt.
func TestTimeout(t *testing.T) {
	rf := &remoteFile{drip: 5 * time.Millisecond}
	rf.set(strings.Repeat("t", 1000), `"v1"`, t0) // 5 s
	f := newFixture(t, rf, Params{Timeout: "300ms"})
	f.dl.StallBytes = 1
	if f.dl.Timeout != 300*time.Millisecond {
		t.Fatalf("timeout %s", f.dl.Timeout)
	}
	start := time.Now()
	_, err := f.ensure(context.Background(), nil)
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "not done after 300ms (param timeout)") {
		t.Fatalf("error = %v", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v reads as an interrupt", err)
	}
	if took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	f.wantNoFiles()
}

func TestServerRefusingHEAD(t *testing.T) {
	// 405 and 501 refuse the method; a presigned URL, signed for GET
	// only, answers HEAD with 403.
	for _, status := range []int{http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusNotImplemented} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			// Larger than what loopback socket buffers take in at once, so an
			// abandoned body is seen as one.
			content := strings.Repeat("y", 32<<20)
			rf := &remoteFile{headStatus: status}
			rf.set(content, `"v1"`, t0)
			f := newFixture(t, rf, Params{})
			f.mustEnsure(true)
			f.wantDest(content)
			rf.bodyBytes.Store(0)
			f.mustEnsure(false)
			// The goal's GET is abandoned after its headers.
			if got := rf.bodyBytes.Load(); got >= int64(len(content)) {
				t.Fatalf("discovering the goal transferred the whole body (%d bytes)", got)
			}
		})
	}
	// A GET refused too is the GET's error.
	rf := &remoteFile{status: http.StatusForbidden}
	rf.set("x", "", time.Time{})
	f := newFixture(t, rf, Params{})
	_, err := f.ensure(context.Background(), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Method != http.MethodGet || se.StatusCode != http.StatusForbidden {
		t.Fatalf("error = %v", err)
	}
}

func TestProgressInBytes(t *testing.T) {
	content := strings.Repeat("z", 300_000)
	rf := &remoteFile{}
	rf.set(content, `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	tr := &tracker{}
	if _, err := f.ensure(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.limits) != 1 || tr.limits[0] != progress.Bytes(int64(len(content))) {
		t.Fatalf("limits = %v", tr.limits)
	}
	if tr.advanced != int64(len(content)) {
		t.Fatalf("advanced %d", tr.advanced)
	}
	fc := items.FnCtx{Progress: progress.NoTracker}
	goal, err := f.item.Goal(context.Background(), fc)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := f.item.ApplyCheck(context.Background(), fc, State{}, goal)
	if err != nil || chk != items.Required(progress.Bytes(int64(len(content)))) {
		t.Fatalf("apply check = %+v, %v", chk, err)
	}
}

func TestCleanRemovesDest(t *testing.T) {
	rf := &remoteFile{}
	rf.set("to be cleaned", `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	f.mustEnsure(true)
	// A temporary file a killed run left behind goes too.
	if err := os.WriteFile(filepath.Join(f.dir, "dl", ".payload.bin.peace-tmp-123"), []byte("part"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "dl", "other"), []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	applied, err := f.run(context.Background(), items.OpClean, nil)
	if err != nil || !applied {
		t.Fatalf("clean: applied=%v err=%v", applied, err)
	}
	if _, err := os.Stat(f.dest()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dest still there: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(f.dir, "dl"))
	if len(ents) != 1 || ents[0].Name() != "other" {
		t.Fatalf("left in dl: %v", ents)
	}
	applied, err = f.run(context.Background(), items.OpClean, nil)
	if err != nil || applied {
		t.Fatalf("second clean: applied=%v err=%v", applied, err)
	}
}

func TestParams(t *testing.T) {
	cases := []struct {
		p    Params
		want string
	}{
		{Params{Dest: "x"}, "param url is required"},
		{Params{URL: "ftp://h/x", Dest: "x"}, `want an http or https URL`},
		{Params{URL: "http://h/x"}, "param dest is required"},
		{Params{URL: "http://h/x", Dest: "x", SHA256: "abc"}, "want 64 hex digits"},
		{Params{URL: "http://h/x", Dest: "x", SHA256: strings.Repeat("A", 64)}, ""},
		{Params{URL: "http://h/x", Dest: "x", Timeout: "soon"}, `param timeout "soon": want a positive duration`},
		{Params{URL: "http://h/x", Dest: "x", Timeout: "-1m"}, `param timeout "-1m"`},
		{Params{URL: "http://h/x", Dest: "x", Timeout: "30m"}, ""},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: error %v, want %q", c.p, err, c.want)
		}
	}
}

func TestDiff(t *testing.T) {
	d := &Download{}
	a := State{Exists: true, Size: 2048, SHA256: sum("a"), ETag: `"1"`}
	cases := []struct {
		from, to State
		want     items.Diff
	}{
		{State{}, State{}, items.Diff{Equal: true}},
		{State{}, State{Exists: true, Size: 2048, ETag: `"1"`}, items.Diff{Text: `absent → 2.0 KiB (etag "1")`}},
		{a, State{}, items.Diff{Text: `2.0 KiB (etag "1") → absent`}},
		{a, a, items.Diff{Equal: true}},
		{a, State{Exists: true, ETag: `"2"`}, items.Diff{Text: `etag "1" → "2"`}},
		{State{Exists: true, SHA256: sum("a")}, State{Exists: true}, items.Diff{Text: "the server gives no validators: download again"}},
	}
	for _, c := range cases {
		if got := d.Diff(c.from, c.to); got != c.want {
			t.Errorf("Diff(%+v, %+v) = %+v, want %+v", c.from, c.to, got, c.want)
		}
	}
}

func (f *fixture) diff() string {
	f.t.Helper()
	fc := items.FnCtx{Progress: progress.NoTracker, Stored: f.stored}
	cur, err := f.item.Current(context.Background(), fc)
	if err != nil {
		f.t.Fatal(err)
	}
	goal, err := f.item.Goal(context.Background(), fc)
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := f.item.Diff(cur, goal)
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Text
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// A download killed before its rename leaves only a temporary file: dest
// is absent, yet clean still has that file to remove, or the directory
// that holds it could never be removed.
func TestCleanRemovesTheTempOfAKilledDownload(t *testing.T) {
	rf := &remoteFile{}
	rf.set("never finished", `"v1"`, t0)
	f := newFixture(t, rf, Params{})
	if err := os.MkdirAll(filepath.Dir(f.dest()), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := durable.CreateTemp(f.dest())
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	if err := os.WriteFile(filepath.Join(f.dir, "dl", ".other.peace-tmp-1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	applied, err := f.run(context.Background(), items.OpClean, nil)
	if err != nil || !applied {
		t.Fatalf("clean: applied=%v err=%v", applied, err)
	}
	ents, _ := os.ReadDir(filepath.Join(f.dir, "dl"))
	if len(ents) != 1 || ents[0].Name() != ".other.peace-tmp-1" {
		t.Fatalf("left in dl: %v", ents)
	}
	if applied, err := f.run(context.Background(), items.OpClean, nil); err != nil || applied {
		t.Fatalf("second clean: applied=%v err=%v", applied, err)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		{}: "absent",
		{Exists: true, Size: 30000000, SHA256: "3a18a72d0123456789abcdef0123456789abcdef0123456789abcdef01234567"}: "30000000 bytes, sha256 3a18a72d…",
		{Exists: true, Size: 12, ETag: `"v1"`}:                        `12 bytes, etag "v1"`,
		{Exists: true, LastModified: "Sun, 01 Mar 2026 12:00:00 GMT"}: "size unknown, last-modified Sun, 01 Mar 2026 12:00:00 GMT",
	} {
		if got := s.String(); got != want {
			t.Errorf("%#v: %q, want %q", s, got, want)
		}
	}
}
