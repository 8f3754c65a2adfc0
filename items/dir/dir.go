package dir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/file"
	"github.com/peace-go/peace/progress"
)

// DefaultMode is the mode of a directory whose params give none.
const DefaultMode fs.FileMode = 0o755

// Params are the flow file's params of a dir item.
type Params struct {
	// Path is the directory; relative paths resolve against the flow's directory.
	Path string `yaml:"path" doc:"the directory (relative to the flow file); made with its parents, removed by clean when empty"`
	// Mode defaults to 0755.
	Mode file.Mode `yaml:"mode" doc:"permission bits, e.g. \"0755\" (default 0755)"`
}

// Validate checks the required params.
func (p *Params) Validate() error {
	if p.Path == "" {
		return errors.New("param path is required")
	}
	return nil
}

// State is what a directory is. Mode is only set when it exists.
type State struct {
	Path   string `json:"path" yaml:"path"`
	Exists bool   `json:"exists" yaml:"exists"`
	Mode   string `json:"mode,omitempty" yaml:"mode,omitempty"`
}

// String is the state on one line, for tables: "absent" or "present, 0755".
func (s State) String() string {
	if !s.Exists {
		return "absent"
	}
	return "present, " + s.Mode
}

// Type is the "dir" item type.
var Type = items.TypeOf("dir", New).Describe("a directory that exists (ensure) or not (clean)")

// New builds a dir item; relative paths resolve against env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	path := p.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(env.Dir, path)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	return items.Typed[State](id, "dir", &item{goal: State{
		Path:   path,
		Exists: true,
		Mode:   file.FormatMode(p.Mode.Or(DefaultMode)),
	}}), nil
}

type item struct {
	goal State
}

var _ items.TypedItem[State] = (*item)(nil)

func (it *item) Current(context.Context, items.TypedFnCtx[State]) (State, error) {
	return Discover(it.goal.Path)
}

func (it *item) Goal(context.Context, items.TypedFnCtx[State]) (State, error) {
	return it.goal, nil
}

func (it *item) Clean(context.Context, items.TypedFnCtx[State]) (State, error) {
	return State{Path: it.goal.Path}, nil
}

func (it *item) Diff(from, to State) items.Diff {
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
		parts = append(parts, fmt.Sprintf("absent → present (mode %s)", to.Mode))
	case !to.Exists:
		parts = append(parts, "present → absent")
	case from.Mode != to.Mode:
		parts = append(parts, fmt.Sprintf("mode %s → %s", from.Mode, to.Mode))
	}
	return items.Diff{Text: strings.Join(parts, "; ")}
}

func (it *item) ApplyCheck(_ context.Context, _ items.TypedFnCtx[State], current, target State) (items.ApplyCheck, error) {
	if current == target {
		return items.NotRequired, nil
	}
	return items.Required(progress.Steps(1)), nil
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
	m, err := file.ParseMode(target.Mode)
	if err != nil {
		return State{}, fmt.Errorf("target: %w", err)
	}
	// Each directory made is an entry in its parent, durable once the
	// parent is fsynced. The fsyncs go through ctx: the block recording
	// the apply may sync them with others, before the record.
	if err := durable.MkdirAll(ctx, target.Path, m.Perm); err != nil {
		return State{}, err
	}
	// MkdirAll honours the umask and leaves an existing directory alone.
	if err := os.Chmod(target.Path, m.Perm); err != nil {
		return State{}, err
	}
	fc.Progress.Advance(1)
	return Discover(target.Path)
}

func (it *item) ApplyDry(_ context.Context, _ items.TypedFnCtx[State], _, target State) (State, error) {
	return target, nil
}

// Discover reads the state of the directory at path (following symlinks).
func Discover(path string) (State, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Path: path}, nil
	}
	if err != nil {
		return State{}, err
	}
	if !fi.IsDir() {
		return State{}, fmt.Errorf("%s exists and is not a directory", path)
	}
	return State{Path: path, Exists: true, Mode: file.FormatMode(fi.Mode())}, nil
}

// shown is how many leftover entries a "not empty" error names.
const shown = 5

// remove removes the directory at path if it is empty, or holds nothing but
// peace's own temporary files, left by a write that was killed; a missing
// directory is fine, one with anything else in it is an error naming what is
// in it. The fsync of the parent goes through ctx (durable.SyncDirContext).
func remove(ctx context.Context, path string) error {
	// Rmdir, not os.Remove: a file at path is not this item's to delete.
	err := syscall.Rmdir(path)
	if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		if n, serr := durable.SweepDirTemps(path); serr != nil {
			return serr
		} else if n > 0 {
			err = syscall.Rmdir(path)
		}
	}
	switch {
	case err == nil:
		return durable.SyncDirContext(ctx, filepath.Dir(path))
	case errors.Is(err, syscall.ENOENT):
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s exists and is not a directory: not removing it", path)
	case !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST):
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	entries, rerr := os.ReadDir(path)
	if rerr != nil {
		return fmt.Errorf("directory %s is not empty: %w", path, err)
	}
	names := make([]string, 0, shown)
	for _, e := range entries[:min(len(entries), shown)] {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		names = append(names, name)
	}
	list := strings.Join(names, ", ")
	if more := len(entries) - len(names); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return fmt.Errorf("directory %s is not empty, not removing it: it holds %s", path, list)
}
