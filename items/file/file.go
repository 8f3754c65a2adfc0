package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// DefaultMode is the mode of a file whose params give none.
const DefaultMode fs.FileMode = 0o644

// Params are the flow file's params of a file item.
type Params struct {
	// Path is the file; relative paths resolve against the flow's directory.
	Path string `yaml:"path" doc:"the file (relative to the flow file); written atomically, removed by clean"`
	// Content is the whole content of the file.
	Content string `yaml:"content" doc:"what the file holds, exactly"`
	// Mode defaults to 0644.
	Mode Mode `yaml:"mode" doc:"permission bits, e.g. \"0600\" (default 0644)"`
}

// Validate checks the required params.
func (p *Params) Validate() error {
	if p.Path == "" {
		return errors.New("param path is required")
	}
	return nil
}

// State is what a file is. SHA256, Size and Mode are only set when it exists.
// A clean does not read a file it removes: the state it finds of a file
// whose content was not read has no SHA256 (see Item.Current).
type State struct {
	Path   string `json:"path" yaml:"path"`
	Exists bool   `json:"exists" yaml:"exists"`
	Size   int64  `json:"size,omitempty" yaml:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty" yaml:"sha256,omitempty"`
	Mode   string `json:"mode,omitempty" yaml:"mode,omitempty"`
	// Seen is what the file's metadata was when its content was read, so
	// that the next discovery need not read an unchanged file again. It is
	// not part of what the file is: Diff and ApplyCheck ignore it.
	Seen Seen `json:"seen,omitzero" yaml:"seen,omitempty"`
}

// Content returns the state without Seen: what the file is.
func (s State) Content() State {
	s.Seen = Seen{}
	return s
}

// String is the state on one line, for tables: "absent" or
// "26 bytes, sha256 3a18a72d…, 0644".
func (s State) String() string {
	if !s.Exists {
		return "absent"
	}
	if s.SHA256 == "" {
		return fmt.Sprintf("%d bytes, content not read, %s", s.Size, s.Mode)
	}
	return fmt.Sprintf("%d bytes, sha256 %.8s…, %s", s.Size, s.SHA256, s.Mode)
}

// Type is the "file" item type.
var Type = items.TypeOf("file", New).Describe("a file with the given content and mode")

// New builds a file item; relative paths resolve against env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	path, err := resolve(env.Dir, p.Path)
	if err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	sum := sha256.Sum256([]byte(p.Content))
	return items.Typed[State](id, "file", &item{
		content: p.Content,
		goal: State{
			Path:   path,
			Exists: true,
			Size:   int64(len(p.Content)),
			SHA256: hex.EncodeToString(sum[:]),
			Mode:   FormatMode(p.Mode.Or(DefaultMode)),
		},
	}), nil
}

func resolve(dir, path string) (string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	// With no flow directory, relative means relative to the working
	// directory now, not wherever the process is when it applies.
	return filepath.Abs(path)
}

type item struct {
	content string
	goal    State
}

var _ items.TypedItem[State] = (*item)(nil)

// Current is the file as it is. For a clean, whose target is the file's
// absence, a file whose recorded look cannot vouch for it is not read: the
// state found says it exists, its size and mode, and no content (no
// SHA256), which is all that the removal needs and all that was seen.
func (it *item) Current(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	if fc.Op == items.OpClean {
		return discoverPresence(it.goal.Path, fc.Stored)
	}
	return discover(ctx, it.goal.Path, fc.Stored)
}

func (it *item) Goal(context.Context, items.TypedFnCtx[State]) (State, error) {
	return it.goal, nil
}

func (it *item) Clean(context.Context, items.TypedFnCtx[State]) (State, error) {
	return State{Path: it.goal.Path}, nil
}

func (it *item) Diff(from, to State) items.Diff {
	from, to = from.Content(), to.Content()
	if from == to {
		return items.Diff{Equal: true}
	}
	var parts []string
	if from.Path != to.Path {
		parts = append(parts, fmt.Sprintf("path %s → %s", from.Path, to.Path))
	}
	switch {
	case !from.Exists && !to.Exists:
	case !from.Exists:
		parts = append(parts, "absent → present ("+describe(to)+")")
	case !to.Exists:
		parts = append(parts, "present ("+describe(from)+") → absent")
	default:
		if from.SHA256 != to.SHA256 {
			parts = append(parts, fmt.Sprintf("content changes (sha256 %s → %s)", short(from.SHA256), short(to.SHA256)))
		}
		if from.Mode != to.Mode {
			parts = append(parts, fmt.Sprintf("mode %s → %s", from.Mode, to.Mode))
		}
	}
	return items.Diff{Text: strings.Join(parts, "; ")}
}

func describe(s State) string {
	unit := "bytes"
	if s.Size == 1 {
		unit = "byte"
	}
	if s.SHA256 == "" {
		return fmt.Sprintf("%d %s, content not read", s.Size, unit)
	}
	return fmt.Sprintf("%d %s, sha256 %s", s.Size, unit, short(s.SHA256))
}

func short(sum string) string {
	if len(sum) > 8 {
		return sum[:8] + "…"
	}
	return sum
}

func (it *item) ApplyCheck(_ context.Context, _ items.TypedFnCtx[State], current, target State) (items.ApplyCheck, error) {
	current, target = current.Content(), target.Content()
	switch {
	case current == target:
		return items.NotRequired, nil
	case !target.Exists, current.Exists && current.SHA256 == target.SHA256, target.Size == 0:
		// Removing, a chmod, or an empty write: one step each.
		return items.Required(progress.Steps(1)), nil
	}
	return items.Required(progress.Bytes(target.Size)), nil
}

func (it *item) Apply(ctx context.Context, fc items.TypedFnCtx[State], _, target State) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	if !target.Exists {
		if err := remove(ctx, target.Path); err != nil {
			return State{}, err
		}
		fc.Progress.Advance(1)
		return State{Path: target.Path}, nil
	}
	if target.SHA256 != it.goal.SHA256 {
		// Only the content of the params can be written.
		return State{}, fmt.Errorf("target sha256 %s is not the sha256 of this item's content %s", short(target.SHA256), short(it.goal.SHA256))
	}
	mode, err := ParseMode(target.Mode)
	if err != nil {
		return State{}, fmt.Errorf("target: %w", err)
	}
	// Re-read rather than trust the current state given: it may be stale,
	// and a matching file only needs its mode changed.
	now, err := Discover(ctx, target.Path)
	if err != nil {
		return State{}, err
	}
	if now.Exists && now.SHA256 == target.SHA256 {
		if now.Mode != target.Mode {
			if err := os.Chmod(resolveLink(target.Path), mode.Perm); err != nil {
				return State{}, err
			}
		}
		if target.Size == 0 || now.Mode != target.Mode {
			fc.Progress.Advance(1)
		} else {
			fc.Progress.Advance(target.Size)
		}
	} else {
		if err := WriteAtomic(ctx, resolveLink(target.Path), []byte(it.content), mode.Perm); err != nil {
			return State{}, err
		}
		if target.Size == 0 {
			fc.Progress.Advance(1)
		} else {
			fc.Progress.Advance(target.Size)
		}
	}
	return discover(context.WithoutCancel(ctx), target.Path, nil)
}

func (it *item) ApplyDry(_ context.Context, _ items.TypedFnCtx[State], _, target State) (State, error) {
	return target, nil
}

// Discover reads the state of the file at path (following symlinks),
// content and all. Its Seen is left empty.
func Discover(ctx context.Context, path string) (State, error) {
	s, err := discover(ctx, path, nil)
	return s.Content(), err
}

// discover reads the state of the file at path, with what was seen of it.
// When stored, the state last recorded, says what the file was and the
// file's metadata show it unchanged since (see Seen.unchanged), stored is
// the answer and the file is not read: one stat instead of an open, a read
// and a hash.
func discover(ctx context.Context, path string, stored *State) (State, error) {
	return look(ctx, path, stored, true)
}

// look is discover, reading and hashing the file only when content is
// asked for and the recorded state cannot vouch for it.
func look(ctx context.Context, path string, stored *State, content bool) (State, error) {
	// The moment is taken before the stat: see Seen.unchanged.
	at := now()
	// Stat before opening: opening a named pipe would block.
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Path: path}, nil
	}
	if err != nil {
		return State{}, err
	}
	if !fi.Mode().IsRegular() {
		return State{}, fmt.Errorf("%s is not a regular file (%s)", path, kind(fi.Mode()))
	}
	if stored != nil && stored.Exists && stored.Path == path && stored.Seen.unchanged(seenOf(path, fi, at)) {
		return *stored, nil
	}
	if !content {
		return State{Path: path, Exists: true, Size: fi.Size(), Mode: FormatMode(fi.Mode())}, nil
	}
	return read(ctx, path, stored, at)
}

// discoverPresence is discover without reading the file: when the
// recorded state vouches for the file it is the answer, as in discover;
// otherwise the state says whether the file exists, and its size and mode,
// with no SHA256 and nothing seen to vouch for it later.
func discoverPresence(path string, stored *State) (State, error) {
	return look(context.Background(), path, stored, false)
}

// read is discover when the file must be read: apart, so that the stack
// of the common case stays small.
//
//go:noinline
func read(ctx context.Context, path string, stored *State, at int64) (State, error) {
	f, err := openRegular(path)
	if err != nil {
		return State{}, err
	}
	defer f.Close()
	// What was seen is the open file's metadata, taken before its content
	// is read: a write from now on changes them.
	fi, err := f.Stat()
	if err != nil {
		return State{}, err
	}
	if !fi.Mode().IsRegular() {
		return State{}, fmt.Errorf("%s is not a regular file (%s)", path, kind(fi.Mode()))
	}
	seen := seenOf(path, fi, at)
	h := sha256.New()
	// A buffer the size of the file, up to 32 KiB: most managed files are small.
	buf := make([]byte, max(1, min(fi.Size()+1, 32<<10)))
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, buf)
	if err != nil {
		return State{}, fmt.Errorf("read %s: %w", path, err)
	}
	s := State{
		Path:   path,
		Exists: true,
		Size:   n,
		SHA256: hex.EncodeToString(h.Sum(nil)),
		Mode:   FormatMode(fi.Mode()),
		Seen:   seen,
	}
	if n != fi.Size() {
		s.Seen = Seen{} // it changed while it was read: nothing to vouch for
	}
	// Read again and found as recorded, with metadata still too recent to
	// vouch for it: the recorded state stands, unchanged, so that a run
	// in that window writes no new snapshot only to renew the moment.
	if stored != nil && stored.Content() == s.Content() && stored.Seen.sameFile(seen) && !seen.settled() {
		return *stored, nil
	}
	return s, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// ctxReader stops a long read (hashing a large file) when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// resolveLink returns where a write to path should land: through a symlink
// to its target, so that the link itself survives.
func resolveLink(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// remove removes the file at path. The fsync of its directory goes through
// ctx (durable.SyncDirContext): the block recording the removal may sync
// it with others, before the record.
func remove(ctx context.Context, path string) error {
	isDir, err := unlinkFile(path)
	removed := err == nil && !isDir
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case isDir:
		return fmt.Errorf("%s is a directory, not a file: not removing it", path)
	}
	// Leftovers of a write that was killed go with the file, so that the
	// directory holding it can be removed next.
	n, err := durable.SweepTemps(path)
	if err != nil || (!removed && n == 0) {
		return err
	}
	return durable.SyncDirContext(ctx, filepath.Dir(path))
}

// WriteAtomic replaces the file at path with data and mode so that, whatever
// happens, path holds either its old content or all of the new (see
// durable.WriteFile). Temporary files an earlier, killed write left beside
// path are removed first. Missing parent directories are made (0755), as
// `mkdir -p` would: a flow of files needs no dir item per directory. The
// last step, the fsync of path's directory, is left to the DirSyncs ctx
// carries, if any (see durable.WriteFileLeavingDirSync).
func WriteAtomic(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Every new directory's entry must be durable too before the file
		// is reported written.
		if err := durable.MkdirAll(ctx, dir, 0o755); err != nil {
			return fmt.Errorf("make parent directory: %w", err)
		}
	} else if err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("parent %s of %s is not a directory", dir, filepath.Base(path))
	} else if _, err := durable.SweepTemps(path); err != nil {
		return err
	}
	// The directory's fsync, the write's last step, goes through ctx: the
	// block recording the apply may sync it with others, before the record.
	return durable.WriteFileLeavingDirSync(ctx, path, data, mode)
}
