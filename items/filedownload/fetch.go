package filedownload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/progress"
)

// StatusError is a response whose status was not the one the request needed.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Status     string // as the server sent it, e.g. "404 Not Found"
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status) }

// ErrStalled is wrapped by the error of a request that broke the stall
// rule: no response, or too few bytes of body, within the stall window.
var ErrStalled = errors.New("transfer stalled")

// ErrTimeout is wrapped by the error of a download that took longer than
// its timeout.
var ErrTimeout = errors.New("download timed out")

// maxResumes bounds how often one download picks up again with a Range
// request after its connection broke.
const maxResumes = 3

// defaultClient bounds connecting, the TLS handshake and the wait for
// response headers; the body is bounded by the stall rule.
var defaultClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}()}

func (d *Download) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return defaultClient
}

func (d *Download) stallRule() (time.Duration, int64) {
	window, least := d.StallWindow, d.StallBytes
	if window <= 0 {
		window = DefaultStallWindow
	}
	if least <= 0 {
		least = DefaultStallBytes
	}
	return window, least
}

// bound applies the download's timeout to ctx. The error it causes is an
// item failure, not an interrupt: it is not context.Canceled.
func (d *Download) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d.Timeout,
		fmt.Errorf("%w: not done after %s (param timeout)", ErrTimeout, d.Timeout))
}

// send makes a request bound to ctx and to the stall rule: the request is
// cancelled when its headers, or StallBytes of its body, do not arrive
// within a window. Closing the body releases the request.
func (d *Download) send(ctx context.Context, method string, hdr http.Header) (*http.Response, error) {
	window, least := d.stallRule()
	rctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{window: window, least: least, cancel: cancel}
	w.timer = time.AfterFunc(window, w.tick)
	req, err := http.NewRequestWithContext(rctx, method, d.URL, nil)
	if err != nil {
		w.timer.Stop()
		cancel(nil)
		return nil, err
	}
	maps.Copy(req.Header, hdr)
	// The bytes as the server stores them, with a Content-Length that
	// counts them and validators that describe them.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := d.client().Do(req)
	if err != nil {
		w.timer.Stop()
		if rctx.Err() != nil {
			err = context.Cause(rctx)
		} else if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		cancel(nil)
		return nil, fmt.Errorf("%s %s: %w", method, d.URL, err)
	}
	w.answered()
	resp.Body = &watchedBody{body: resp.Body, dog: w, ctx: rctx, cancel: cancel}
	return resp, nil
}

// watchdog enforces the stall rule on one request: at the end of each
// window it checks what arrived during it.
type watchdog struct {
	window time.Duration
	least  int64
	cancel context.CancelCauseFunc
	timer  *time.Timer

	headers atomic.Bool  // the response headers arrived
	got     atomic.Int64 // body bytes in the current window
}

// answered starts the body's first window.
func (w *watchdog) answered() {
	w.got.Store(0)
	w.headers.Store(true)
	w.timer.Reset(w.window)
}

func (w *watchdog) tick() {
	if !w.headers.Load() {
		w.cancel(fmt.Errorf("%w: no response in %s", ErrStalled, w.window))
		return
	}
	if n := w.got.Swap(0); n < w.least {
		w.cancel(&slowError{got: n, window: w.window, least: w.least})
		return
	}
	w.timer.Reset(w.window)
}

// slowError is a body that broke the stall rule. One that still trickled
// in is not picked up again with a Range request: the same server would
// only drip again; one that stopped dead may be a broken connection.
type slowError struct {
	got, least int64
	window     time.Duration
}

func (e *slowError) Error() string {
	return fmt.Sprintf("%v: %d bytes in the last %s, fewer than the %d a transfer must move", ErrStalled, e.got, e.window, e.least)
}

func (e *slowError) Unwrap() error { return ErrStalled }

// watchedBody counts what arrives for the watchdog and reports why the
// request was cancelled instead of a bare "context canceled".
type watchedBody struct {
	body   io.ReadCloser
	dog    *watchdog
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	w.dog.got.Add(int64(n))
	if err != nil && err != io.EOF && w.ctx.Err() != nil {
		err = context.Cause(w.ctx)
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.dog.timer.Stop()
	err := w.body.Close()
	w.cancel(nil)
	return err
}

// remote is what a HEAD tells about the resource.
type remote struct {
	size               int64 // -1 when unknown
	etag, lastModified string
}

// head asks for the resource's headers. Servers that refuse HEAD get a GET
// whose body is abandoned right after the headers: 405 and 501 say so,
// and a presigned URL, signed for GET alone, answers HEAD with 403.
func (d *Download) head(ctx context.Context) (remote, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	method := http.MethodHead
	resp, err := d.send(ctx, method, nil)
	if err != nil {
		return remote{}, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusForbidden:
		method = http.MethodGet
		if resp, err = d.send(ctx, method, nil); err != nil {
			return remote{}, err
		}
		resp.Body.Close()
	}
	if resp.StatusCode/100 != 2 {
		return remote{}, &StatusError{Method: method, URL: d.URL, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	r := remote{size: resp.ContentLength, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	if r.size < 0 {
		if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
			r.size = n
		}
	}
	return r, nil
}

// fetch brings dest to the remote's content. When dest holds the content of
// the last recorded download and the goal saw the same validators, the
// request is conditional, and a 304 ends it without a body. When the goal
// saw the remote change, it is not: Last-Modified counts whole seconds, and
// a change within the second would be answered 304.
func (d *Download) fetch(ctx context.Context, tr progress.Tracker, current, target State) (State, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	if err := os.MkdirAll(filepath.Dir(d.Dest), 0o755); err != nil {
		return State{}, err
	}
	removeStaleTemps(d.Dest)
	hdr := http.Header{}
	unchanged := sameValidators(current, target) && (target.Size <= 0 || target.Size == current.Size)
	if unchanged && current.SHA256 != "" && (d.SHA256 == "" || d.SHA256 == current.SHA256) {
		if current.ETag != "" {
			hdr.Set("If-None-Match", current.ETag)
		}
		if current.LastModified != "" {
			hdr.Set("If-Modified-Since", current.LastModified)
		}
	}
	resp, err := d.send(ctx, http.MethodGet, hdr)
	if err != nil {
		return State{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && len(hdr) > 0:
		s := current
		if v := resp.Header.Get("ETag"); v != "" {
			s.ETag = v
		}
		if v := resp.Header.Get("Last-Modified"); v != "" {
			s.LastModified = v
		}
		tr.Message("not modified")
		return s, nil
	case resp.StatusCode != http.StatusOK:
		return State{}, &StatusError{Method: http.MethodGet, URL: d.URL, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return d.save(ctx, tr, resp)
}

// save streams resp's body to a temporary file beside dest, picking up with
// Range requests when the connection breaks and the server allows it, then
// verifies the digest, syncs and renames the file into place. On any error,
// cancellation included, the temporary file is removed and dest is left as
// it was.
func (d *Download) save(ctx context.Context, tr progress.Tracker, resp *http.Response) (_ State, err error) {
	dir := filepath.Dir(d.Dest)
	f, err := durable.CreateTemp(d.Dest)
	if err != nil {
		return State{}, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	total := resp.ContentLength
	if total >= 0 {
		tr.SetLimit(progress.Bytes(total))
	} else {
		tr.SetLimit(progress.Unknown())
	}
	etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	ifRange := lastModified
	if etag != "" && !strings.HasPrefix(etag, "W/") {
		ifRange = etag // If-Range needs a strong validator
	}
	resumable := resp.Header.Get("Accept-Ranges") == "bytes" && ifRange != "" && total > 0

	h := sha256.New()
	w := io.MultiWriter(f, h)
	buf := make([]byte, 256<<10)
	var n int64
	body := resp.Body
	for resumes := 0; ; resumes++ {
		m, rerr := copyAdvancing(w, body, buf, tr)
		n += m
		body.Close()
		if rerr == nil {
			break
		}
		if ctx.Err() != nil {
			return State{}, fmt.Errorf("GET %s: %w", d.URL, context.Cause(ctx))
		}
		var werr *writeError
		var slow *slowError
		trickled := errors.As(rerr, &slow) && slow.got > 0
		if errors.As(rerr, &werr) || trickled || !resumable || resumes == maxResumes {
			return State{}, fmt.Errorf("GET %s: body cut short after %d bytes%s: %w", d.URL, n, ofTotal(total), rerr)
		}
		tr.Message(fmt.Sprintf("connection lost after %s, resuming", progress.HumanBytes(n)))
		if body, err = d.resume(ctx, n, ifRange); err != nil {
			return State{}, fmt.Errorf("%w (resuming after: %v)", err, rerr)
		}
	}
	if total >= 0 && n != total {
		return State{}, fmt.Errorf("GET %s: got %d bytes, Content-Length said %d", d.URL, n, total)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if d.SHA256 != "" && sum != d.SHA256 {
		return State{}, fmt.Errorf("GET %s: content has sha256 %s, want %s", d.URL, sum, d.SHA256)
	}
	if err := f.Chmod(0o644); err != nil {
		return State{}, err
	}
	if err := f.Sync(); err != nil {
		return State{}, err
	}
	if err := f.Close(); err != nil {
		return State{}, err
	}
	if err := os.Rename(f.Name(), d.Dest); err != nil {
		return State{}, err
	}
	if err := durable.SyncDir(dir); err != nil {
		return State{}, err
	}
	fi, err := os.Stat(d.Dest)
	if err != nil {
		return State{}, err
	}
	return State{Exists: true, Size: n, SHA256: sum, ETag: etag, LastModified: lastModified, ModTime: fi.ModTime()}, nil
}

// resume asks for the rest of the content from offset, only if it is still
// the content identified by ifRange.
func (d *Download) resume(ctx context.Context, offset int64, ifRange string) (io.ReadCloser, error) {
	hdr := http.Header{}
	hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	hdr.Set("If-Range", ifRange)
	resp, err := d.send(ctx, http.MethodGet, hdr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
		resp.Body.Close()
		return nil, &StatusError{Method: http.MethodGet, URL: d.URL, StatusCode: resp.StatusCode, Status: resp.Status + " to a range request"}
	}
	return resp.Body, nil
}

// writeError marks a failure on the local side of a copy, which resuming
// the transfer would not cure.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// copyAdvancing copies r to w, reporting each chunk to tr.
func copyAdvancing(w io.Writer, r io.Reader, buf []byte, tr progress.Tracker) (int64, error) {
	var n int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, &writeError{werr}
			}
			n += int64(m)
			tr.Advance(int64(m))
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func ofTotal(n int64) string {
	if n < 0 {
		return ""
	}
	return " of " + strconv.FormatInt(n, 10)
}

// removeStaleTemps removes temporary files a killed download left beside
// dest. One process at a time works on a profile, so none is in use.
func removeStaleTemps(dest string) {
	for _, p := range staleTemps(dest) {
		os.Remove(p)
	}
}

// staleTemps lists the temporary files beside dest made for it.
func staleTemps(dest string) []string {
	dir, base := filepath.Split(dest)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if durable.IsTempOf(e.Name(), base) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
