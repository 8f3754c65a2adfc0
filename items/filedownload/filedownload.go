package filedownload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// TypeName is the item type as flow files name it.
const TypeName = "file_download"

// Params are the item's params in a flow file.
type Params struct {
	URL  string `yaml:"url" doc:"http or https URL to fetch; a conditional GET (ETag, Last-Modified) sends no body when unchanged"`
	Dest string `yaml:"dest" doc:"where the file goes (relative to the flow file); written to a temporary name, then renamed"`
	// SHA256 is the expected hex digest of the content; a download that does
	// not match it is refused. Optional.
	SHA256 string `yaml:"sha256" doc:"the expected sha256 of the body, hex; a mismatch fails the item and keeps nothing"`
	// Timeout is the longest one download may take, from its first request
	// to the file in place, resumes included, as a Go duration ("90s",
	// "30m"). Optional: by default a download may take as long as it keeps
	// moving. Whatever the timeout, a request fails as stalled when fewer
	// than 1 KiB arrive in 60 s (no answer, or a body that trickles in).
	Timeout string `yaml:"timeout" doc:"a bound on the whole download, e.g. 30m; besides, less than 1 KiB in 60 s fails it"`
}

// Validate checks the params and normalises the digest to lower case.
func (p *Params) Validate() error {
	if p.URL == "" {
		return errors.New("param url is required")
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Errorf("param url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("param url %q: want an http or https URL", p.URL)
	}
	if p.Dest == "" {
		return errors.New("param dest is required")
	}
	if p.Timeout != "" {
		if d, err := time.ParseDuration(p.Timeout); err != nil || d <= 0 {
			return fmt.Errorf("param timeout %q: want a positive duration such as 90s or 30m", p.Timeout)
		}
	}
	if p.SHA256 != "" {
		p.SHA256 = strings.ToLower(p.SHA256)
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("param sha256 %q: want 64 hex digits", p.SHA256)
		}
	}
	return nil
}

// Type is the file_download item type, for a Registry.
var Type = items.TypeOf(TypeName, New).Describe("a file downloaded from a URL, fetched again only when the remote changed")

// New returns a file_download item with the default HTTP client and
// timeouts. Relative paths resolve against env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	return NewDownload(p, env).Item(id), nil
}

// State is what file_download knows about dest and about the remote it came
// from. The server's validators are part of it because the world cannot tell
// them from the local file: they are recorded when the file is downloaded and
// carried forward while the file stays the same.
type State struct {
	Exists bool `json:"exists"`
	// Size in bytes; in a goal state, the remote's Content-Length (0 when the
	// server does not say).
	Size int64 `json:"size,omitempty"`
	// SHA256 is the hex digest of the content; in a goal state it is known
	// only from the sha256 param or when the remote is unchanged since the
	// last recorded download.
	SHA256 string `json:"sha256,omitempty"`
	// ETag and LastModified are the server's validators for the content.
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// ModTime is dest's modification time when its digest was last computed;
	// a file whose size and ModTime are unchanged is not hashed again.
	ModTime time.Time `json:"mtime,omitzero"`
}

// Download is the file_download implementation, an items.TypedItem[State].
// Its exported fields may be changed before the item runs.
type Download struct {
	URL    string
	Dest   string // absolute
	SHA256 string // lower-case hex, "" when not pinned
	// Client makes the requests; nil means a client with connect, TLS and
	// response-header timeouts.
	Client *http.Client
	// StallWindow and StallBytes are the stall rule: a request fails when,
	// within a window, it gets no response headers, or fewer than StallBytes
	// of its body. A server that sends a byte now and then never goes idle,
	// yet would never finish. Zero means DefaultStallWindow and
	// DefaultStallBytes.
	StallWindow time.Duration
	StallBytes  int64
	// Timeout bounds one download as a whole: discovery's request, or
	// apply's transfer with its resumes. Zero means no bound.
	Timeout time.Duration
}

// The default stall rule: fewer than 1 KiB in 60 s.
const (
	DefaultStallWindow = 60 * time.Second
	DefaultStallBytes  = 1024
)

var _ items.TypedItem[State] = (*Download)(nil)

// NewDownload returns the implementation for p, with dest resolved against
// env.Dir. p must be valid (see Params.Validate).
func NewDownload(p Params, env items.Env) *Download {
	dest := p.Dest
	if !filepath.IsAbs(dest) {
		dest = filepath.Join(env.Dir, dest)
	}
	d := &Download{URL: p.URL, Dest: dest, SHA256: strings.ToLower(p.SHA256)}
	d.Timeout, _ = time.ParseDuration(p.Timeout)
	return d
}

// Item wraps d as an Item with the given ID.
func (d *Download) Item(id items.ID) items.Item { return items.Typed[State](id, TypeName, d) }

// Current reads dest. The validators are taken from the recorded state, and
// only when dest still has the recorded content.
func (d *Download) Current(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	fi, err := os.Stat(d.Dest)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	if !fi.Mode().IsRegular() {
		return State{}, fmt.Errorf("dest %s is not a regular file", d.Dest)
	}
	s := State{Exists: true, Size: fi.Size(), ModTime: fi.ModTime()}
	st := fc.Stored
	if st != nil && st.Exists && st.SHA256 != "" && st.Size == s.Size && !st.ModTime.IsZero() && st.ModTime.Equal(s.ModTime) {
		s.SHA256 = st.SHA256
	} else if s.SHA256, err = hashFile(ctx, d.Dest); err != nil {
		return State{}, err
	}
	if st != nil && st.Exists && st.SHA256 == s.SHA256 {
		s.ETag, s.LastModified = st.ETag, st.LastModified
	}
	return s, nil
}

// Goal asks the server for the resource's validators and size. The digest
// is known when pinned by the sha256 param, or when the validators are those
// of the last recorded download.
func (d *Download) Goal(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	h, err := d.head(ctx)
	if err != nil {
		return State{}, err
	}
	g := State{Exists: true, Size: max(h.size, 0), ETag: h.etag, LastModified: h.lastModified}
	st := fc.Stored
	switch {
	case d.SHA256 != "":
		g.SHA256 = d.SHA256
	case st != nil && st.Exists && st.SHA256 != "" && sameValidators(*st, g):
		g.SHA256 = st.SHA256
		if g.Size == 0 {
			g.Size = st.Size
		}
	}
	return g, nil
}

// Clean is the absence of dest.
func (d *Download) Clean(context.Context, items.TypedFnCtx[State]) (State, error) {
	return State{}, nil
}

// String is the state on one line, for tables: "absent", or
// "30000000 bytes, sha256 3a18a72d…" (with the ETag or Last-Modified
// instead while the digest is not known).
func (s State) String() string {
	if !s.Exists {
		return "absent"
	}
	out := fmt.Sprintf("%d bytes", s.Size)
	if s.Size == 0 && s.SHA256 == "" {
		out = "size unknown" // a goal, from a server that does not say
	}
	switch {
	case s.SHA256 != "":
		out += fmt.Sprintf(", sha256 %.8s…", s.SHA256)
	case s.ETag != "":
		out += ", etag " + s.ETag
	case s.LastModified != "":
		out += ", last-modified " + s.LastModified
	}
	return out
}

// Diff summarises what would change.
func (d *Download) Diff(from, to State) items.Diff {
	switch {
	case !from.Exists && !to.Exists:
		return items.Diff{Equal: true}
	case !to.Exists:
		return items.Diff{Text: describe(from) + " → absent"}
	case !from.Exists:
		return items.Diff{Text: "absent → " + describe(to)}
	case upToDate(from, to):
		return items.Diff{Equal: true}
	}
	var parts []string
	if from.ETag != to.ETag {
		parts = append(parts, fmt.Sprintf("etag %s → %s", quoteOr(from.ETag), quoteOr(to.ETag)))
	}
	if from.LastModified != to.LastModified {
		parts = append(parts, fmt.Sprintf("last-modified %s → %s", quoteOr(from.LastModified), quoteOr(to.LastModified)))
	}
	if to.SHA256 != "" && from.SHA256 != to.SHA256 {
		parts = append(parts, fmt.Sprintf("sha256 %s → %s", short(from.SHA256), short(to.SHA256)))
	}
	if len(parts) == 0 {
		parts = append(parts, "the server gives no validators: download again")
	}
	return items.Diff{Text: strings.Join(parts, ", ")}
}

// ApplyCheck needs no apply when dest holds the content the remote still
// serves: the same digest as recorded and the same validators. A clean is
// needed while dest, or a temporary file a killed download left beside it,
// is there.
func (d *Download) ApplyCheck(_ context.Context, _ items.TypedFnCtx[State], current, target State) (items.ApplyCheck, error) {
	if !target.Exists {
		if current.Exists || len(staleTemps(d.Dest)) > 0 {
			return items.Required(progress.Steps(1)), nil
		}
		return items.NotRequired, nil
	}
	if upToDate(current, target) {
		return items.NotRequired, nil
	}
	if target.Size > 0 {
		return items.Required(progress.Bytes(target.Size)), nil
	}
	return items.Required(progress.Unknown()), nil
}

// Apply downloads (ensure) or removes (clean) dest.
func (d *Download) Apply(ctx context.Context, fc items.TypedFnCtx[State], current, target State) (State, error) {
	if !target.Exists {
		return State{}, d.remove(fc.Progress)
	}
	return d.fetch(ctx, fc.Progress, current, target)
}

// ApplyDry returns the target: what ensure or clean would reach.
func (d *Download) ApplyDry(_ context.Context, _ items.TypedFnCtx[State], _, target State) (State, error) {
	return target, nil
}

func (d *Download) remove(tr progress.Tracker) error {
	removeStaleTemps(d.Dest)
	if err := os.Remove(d.Dest); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tr.Advance(1)
	return nil
}

// upToDate reports whether a file in state c is the content t describes:
// the digest is known and matches, and the server's validators are present
// and unchanged. Without validators nothing proves the remote is unchanged.
func upToDate(c, t State) bool {
	if !c.Exists || !t.Exists || c.SHA256 == "" {
		return false
	}
	if t.SHA256 != "" && t.SHA256 != c.SHA256 {
		return false
	}
	if t.Size > 0 && t.Size != c.Size {
		return false
	}
	return sameValidators(c, t)
}

func sameValidators(a, b State) bool {
	return (a.ETag != "" || a.LastModified != "") && a.ETag == b.ETag && a.LastModified == b.LastModified
}

func describe(s State) string {
	var b strings.Builder
	if s.Size > 0 {
		b.WriteString(progress.HumanBytes(s.Size))
	} else {
		b.WriteString("a file")
	}
	switch {
	case s.ETag != "":
		fmt.Fprintf(&b, " (etag %s)", s.ETag)
	case s.LastModified != "":
		fmt.Fprintf(&b, " (last-modified %s)", s.LastModified)
	case s.SHA256 != "":
		fmt.Fprintf(&b, " (sha256 %s)", short(s.SHA256))
	}
	return b.String()
}

func quoteOr(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func short(sum string) string {
	if sum == "" {
		return "unknown"
	}
	return sum[:min(12, len(sum))]
}

// hashFile returns the hex SHA-256 of the file at path, stopping early when
// ctx is cancelled.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 256<<10)); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long read loop once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
