package tarx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// TypeName is the item type as flow files name it.
const TypeName = "tar_x"

// Params are the item's params in a flow file.
type Params struct {
	Archive string `yaml:"archive" doc:"the .tar or .tar.gz to extract (relative to the flow file)"`
	Dest    string `yaml:"dest" doc:"the directory to extract into; entries that would land outside it are refused"`
}

// Validate checks that both params are given.
func (p *Params) Validate() error {
	if p.Archive == "" {
		return errors.New("param archive is required")
	}
	if p.Dest == "" {
		return errors.New("param dest is required")
	}
	return nil
}

// Type is the tar_x item type, for a Registry.
var Type = items.TypeOf(TypeName, New).Describe("the entries of a tar archive, extracted; clean removes exactly them")

// New returns a tar_x item. Relative paths resolve against env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	return NewExtract(p, env).Item(id), nil
}

// Entry types.
const (
	TypeFile     = "file"
	TypeDir      = "dir"
	TypeSymlink  = "symlink"
	TypeHardlink = "hardlink"
)

// Entry is one path the archive puts under dest.
type Entry struct {
	Path string `json:"path"` // relative to dest, slash-separated
	Type string `json:"type"`
	Size int64  `json:"size,omitempty"` // files
	// Mode is the permission bits in octal, "0644"; files and directories.
	Mode    string    `json:"mode,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"` // files
	// Link is a symlink's target as written, or the entry path a hard link
	// shares its file with.
	Link string `json:"link,omitempty"`
}

// same reports whether two entries describe the same thing on disk.
// Directory times change whenever their content does, so they are not
// compared; a hard link's size, mode and time are those of its file.
func same(a, b Entry) bool {
	if a.Path != b.Path || a.Type != b.Type {
		return false
	}
	switch a.Type {
	case TypeFile:
		return a.Size == b.Size && a.Mode == b.Mode && a.ModTime.Equal(b.ModTime)
	case TypeDir:
		return a.Mode == b.Mode
	}
	return a.Link == b.Link
}

// State is the set of paths the archive puts under dest, sorted by path:
// in a goal, as the archive's headers describe them; in a current state, as
// found on disk (paths that are missing are left out).
type State struct {
	// Source is set when Entries are exactly the entries of the archive file
	// it identifies, so that while the archive is unchanged it need not be
	// read again.
	Source  *Source `json:"source,omitempty"`
	Entries []Entry `json:"entries"`
}

// String is the state on one line, for tables: "2000 entries, 19.5 MiB"
// (the size of the files' content), or "no entries".
func (s State) String() string {
	if len(s.Entries) == 0 {
		return "no entries"
	}
	var size int64
	for _, e := range s.Entries {
		if e.Type == TypeFile {
			size += e.Size
		}
	}
	noun := "entries"
	if len(s.Entries) == 1 {
		noun = "entry"
	}
	return fmt.Sprintf("%d %s, %s", len(s.Entries), noun, progress.HumanBytes(size))
}

// Extract is the tar_x implementation, an items.TypedItem[State].
type Extract struct {
	Archive string // absolute
	Dest    string // absolute

	// last is the latest scan of the archive: discovering the current and
	// the goal state one after the other reads a compressed archive once.
	mu   sync.Mutex
	last struct {
		src     Source
		entries []Entry
	}
}

// scan reads the archive's headers, or returns the entries of the latest
// scan while the archive file is unchanged.
func (x *Extract) scan(ctx context.Context) (Source, []Entry, error) {
	if src, err := x.source(); err == nil {
		x.mu.Lock()
		hit, entries := src.equal(&x.last.src), x.last.entries
		x.mu.Unlock()
		if hit {
			return src, entries, nil
		}
	}
	src, entries, err := scan(ctx, x.Archive)
	if err != nil {
		return Source{}, nil, err
	}
	x.mu.Lock()
	x.last.src, x.last.entries = src, entries
	x.mu.Unlock()
	return src, entries, nil
}

var _ items.TypedItem[State] = (*Extract)(nil)

// NewExtract returns the implementation for p, with paths resolved against
// env.Dir.
func NewExtract(p Params, env items.Env) *Extract {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(env.Dir, p)
	}
	return &Extract{Archive: abs(p.Archive), Dest: abs(p.Dest)}
}

// Item wraps x as an Item with the given ID.
func (x *Extract) Item(id items.ID) items.Item { return items.Typed[State](id, TypeName, x) }

// Current stats every path the archive lists (or, when the archive cannot be
// read, the paths last recorded) under dest.
func (x *Extract) Current(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	stored := fc.Stored
	if _, err := os.Lstat(x.Dest); errors.Is(err, fs.ErrNotExist) {
		return State{Entries: []Entry{}}, nil
	}
	var list []Entry
	if src, err := x.source(); err == nil && stored != nil && src.equal(stored.Source) {
		list = stored.Entries
	} else if _, entries, err := x.scan(ctx); err == nil {
		list = entries
	} else if ctx.Err() != nil {
		return State{}, ctx.Err()
	} else if stored != nil {
		list = stored.Entries
	}
	entries, err := x.stat(list)
	if err != nil {
		return State{}, err
	}
	s := State{Entries: entries}
	// The files are still what the recorded archive put there: keep saying
	// which archive that was.
	if stored != nil && stored.Source != nil && slices.EqualFunc(entries, stored.Entries, same) {
		s.Source = stored.Source
	}
	return s, nil
}

// Goal reads the archive's headers. While the archive is the one last
// recorded, its entries are taken from the record instead.
func (x *Extract) Goal(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	src, err := x.source()
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, notYet(x.Archive)
	}
	if err != nil {
		return State{}, err
	}
	if st := fc.Stored; st != nil && src.equal(st.Source) {
		return State{Source: &src, Entries: st.Entries}, nil
	}
	src, entries, err := x.scan(ctx)
	if err != nil {
		return State{}, err
	}
	return State{Source: &src, Entries: entries}, nil
}

// Clean is the absence of everything the archive put under dest.
func (x *Extract) Clean(context.Context, items.TypedFnCtx[State]) (State, error) {
	return State{Entries: []Entry{}}, nil
}

// Diff counts the entries to add, change and remove. Directories left
// behind by a clean (because they hold other files) are not counted.
func (x *Extract) Diff(from, to State) items.Diff {
	add, change, remove := changes(from, to)
	if len(add)+len(change)+len(remove) == 0 {
		return items.Diff{Equal: true}
	}
	var parts []string
	for _, c := range []struct {
		paths []string
		verb  string
	}{{add, "to add"}, {change, "changed"}, {remove, "to remove"}} {
		switch len(c.paths) {
		case 0:
		case 1:
			parts = append(parts, fmt.Sprintf("%s %s", show(c.paths[0]), c.verb))
		default:
			parts = append(parts, fmt.Sprintf("%d %s (%s, …)", len(c.paths), c.verb, show(c.paths[0])))
		}
	}
	return items.Diff{Text: strings.Join(parts, ", ")}
}

// show is a path for people: as it is when it is UTF-8, quoted otherwise.
func show(p string) string {
	if utf8.ValidString(p) {
		return p
	}
	return strconv.Quote(p)
}

// changes lists the paths of to missing from from, those that differ, and
// the non-directory paths of from that to does not have.
func changes(from, to State) (add, change, remove []string) {
	have := make(map[string]Entry, len(from.Entries))
	for _, e := range from.Entries {
		have[e.Path] = e
	}
	want := make(map[string]bool, len(to.Entries))
	for _, e := range to.Entries {
		want[e.Path] = true
		switch c, ok := have[e.Path]; {
		case !ok:
			add = append(add, e.Path)
		case !same(c, e):
			change = append(change, e.Path)
		}
	}
	for _, e := range from.Entries {
		if !want[e.Path] && e.Type != TypeDir {
			remove = append(remove, e.Path)
		}
	}
	return add, change, remove
}

// ApplyCheck: ensure is needed when an entry of the archive is missing or
// differs, and is measured in bytes of files to write; clean is needed
// while anything the archive put there remains, an empty directory too.
func (x *Extract) ApplyCheck(_ context.Context, fc items.TypedFnCtx[State], current, target State) (items.ApplyCheck, error) {
	if fc.Op == items.OpClean {
		n := x.toRemove(fc, current)
		if n == 0 {
			return items.NotRequired, nil
		}
		return items.Required(progress.Steps(int64(n))), nil
	}
	todo := todo(current, target)
	if len(todo) == 0 {
		return items.NotRequired, nil
	}
	return items.Required(limitFor(todo)), nil
}

// toRemove counts what a clean would remove: every entry found but
// directories that hold anything other than the temporary files of a
// killed run. When nothing else is left, those files alone need a clean:
// they would keep the directories holding them from ever being removed.
func (x *Extract) toRemove(fc items.TypedFnCtx[State], current State) int {
	n, dirs := 0, 0
	for _, e := range current.Entries {
		if e.Type == TypeDir {
			dirs++
		} else {
			n++
		}
	}
	if n > 0 && dirs == 0 {
		return n
	}
	root, err := os.OpenRoot(x.Dest)
	if err != nil {
		return n
	}
	defer root.Close()
	t := newDestDirs(root, false)
	defer t.close()
	known := current.Entries
	if fc.Stored != nil {
		known = append(slices.Clip(known), fc.Stored.Entries...)
	}
	bases := names(known)
	for _, e := range current.Entries {
		if e.Type == TypeDir && t.empty(e.Path, bases[e.Path]) {
			n++
		}
	}
	if n > 0 {
		return n
	}
	for d, b := range bases {
		if dir, err := t.dir(d); err == nil && dir != nil && len(t.temps(dir, b)) > 0 {
			return 1
		}
	}
	return 0
}

// todo lists the entries of target that current lacks or has otherwise.
func todo(current, target State) []Entry {
	have := make(map[string]Entry, len(current.Entries))
	for _, e := range current.Entries {
		have[e.Path] = e
	}
	var out []Entry
	for _, e := range target.Entries {
		if c, ok := have[e.Path]; !ok || !same(c, e) {
			out = append(out, e)
		}
	}
	return out
}

// limitFor measures extracting entries: bytes of file content, or steps
// when there is none.
func limitFor(entries []Entry) progress.Limit {
	var bytes int64
	for _, e := range entries {
		if e.Type == TypeFile {
			bytes += e.Size
		}
	}
	if bytes > 0 {
		return progress.Bytes(bytes)
	}
	return progress.Steps(int64(len(entries)))
}

// Apply extracts what differs (ensure) or removes what the archive put under
// dest (clean).
func (x *Extract) Apply(ctx context.Context, fc items.TypedFnCtx[State], current, target State) (State, error) {
	if fc.Op == items.OpClean {
		return State{Entries: []Entry{}}, x.remove(ctx, fc, current)
	}
	return x.extract(ctx, fc.Progress, target)
}

// ApplyDry returns the target, which Apply would reach.
func (x *Extract) ApplyDry(_ context.Context, _ items.TypedFnCtx[State], _, target State) (State, error) {
	return target, nil
}

// source identifies the archive file as it is now.
func (x *Extract) source() (Source, error) {
	fi, err := os.Stat(x.Archive)
	if err != nil {
		return Source{}, err
	}
	return Source{Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// stat describes what is on disk at each listed path; missing paths are
// left out.
func (x *Extract) stat(list []Entry) ([]Entry, error) {
	if len(list) == 0 {
		return []Entry{}, nil
	}
	root, err := os.OpenRoot(x.Dest)
	if errors.Is(err, fs.ErrNotExist) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	st := newDestDirs(root, false)
	defer st.close()
	out := make([]Entry, 0, len(list))
	for _, want := range list {
		e, ok, err := st.onDisk(want)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// formatMode writes permission bits as four octal digits.
func formatMode(m int64) string {
	return fmt.Sprintf("%04o", m&0o777)
}

// parseMode reads formatMode's output.
func parseMode(s string) fs.FileMode {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0o644
	}
	return fs.FileMode(n) & fs.ModePerm
}

// notYet says the archive is missing, most likely because the item that
// makes it has not been applied yet. It wraps fs.ErrNotExist.
type notYet string

func (n notYet) Error() string { return fmt.Sprintf("archive %s does not exist yet", string(n)) }
func (n notYet) Unwrap() error { return fs.ErrNotExist }
