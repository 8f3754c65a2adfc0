package checksum

import (
	"bytes"
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

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// TypeName is the item type as flow files name it.
const TypeName = "checksum_file"

// Params are the item's params.
type Params struct {
	// Dir is the directory whose files are listed.
	Dir string `yaml:"dir" doc:"the directory whose files are listed"`
	// Output is the SHA256SUMS file to write; it is never listed itself.
	Output string `yaml:"output" doc:"the SHA256SUMS file to write; never listed itself"`
}

// Validate checks that both params are given.
func (p *Params) Validate() error {
	if p.Dir == "" || p.Output == "" {
		return errors.New("params dir and output are required")
	}
	return nil
}

// Type is the checksum_file item type, for a Registry.
var Type = items.TypeOf(TypeName, New).Describe("a SHA256SUMS file of a directory's files")

// New returns a checksum_file item; relative paths resolve against env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("item %s: %w", id, err)
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(env.Dir, p)
	}
	return items.Typed[State](id, TypeName, &sums{dir: abs(p.Dir), output: abs(p.Output)}), nil
}

// State describes the SHA256SUMS file: whether it exists, how many files it
// lists and the digest of its content.
type State struct {
	Exists bool   `json:"exists"`
	Files  int    `json:"files,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// String is the state on one line, for people: "absent", or how many files
// the SHA256SUMS lists and the start of its own digest.
func (s State) String() string { return describe(s) }

type sums struct {
	dir, output string
}

var _ items.TypedItem[State] = (*sums)(nil)

// Current reads the output file.
func (s *sums) Current(_ context.Context, _ items.TypedFnCtx[State]) (State, error) {
	data, err := os.ReadFile(s.output)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	return stateOf(data), nil
}

// Goal hashes every file under the directory. The directory may be made by
// an item this one depends on: until it exists there is no goal, and the
// executor discovers the goal again once that item has been applied.
func (s *sums) Goal(ctx context.Context, _ items.TypedFnCtx[State]) (State, error) {
	data, err := s.content(ctx, progress.NoTracker)
	if err != nil {
		return State{}, err
	}
	return stateOf(data), nil
}

// Clean is the absence of the output file.
func (s *sums) Clean(context.Context, items.TypedFnCtx[State]) (State, error) {
	return State{}, nil
}

func (s *sums) Diff(from, to State) items.Diff {
	if from == to {
		return items.Diff{Equal: true}
	}
	return items.Diff{Text: describe(from) + " → " + describe(to)}
}

func (s *sums) ApplyCheck(_ context.Context, _ items.TypedFnCtx[State], current, target State) (items.ApplyCheck, error) {
	if current == target {
		return items.NotRequired, nil
	}
	if !target.Exists {
		return items.Required(progress.Steps(1)), nil
	}
	return items.Required(progress.Steps(int64(target.Files))), nil
}

// Apply writes the output file (through a temporary file and a rename) or
// removes it, and returns what it wrote: the directory may have changed
// since the goal was discovered, and the state says what is there now.
func (s *sums) Apply(ctx context.Context, fc items.TypedFnCtx[State], _, target State) (State, error) {
	if !target.Exists {
		if err := os.Remove(s.output); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return State{}, err
		}
		return State{}, nil
	}
	data, err := s.content(ctx, fc.Progress)
	if err != nil {
		return State{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.output), "."+filepath.Base(s.output)+".tmp-*")
	if err != nil {
		return State{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.output)
	}
	if err != nil {
		return State{}, err
	}
	return stateOf(data), nil
}

func (s *sums) ApplyDry(_ context.Context, _ items.TypedFnCtx[State], _, target State) (State, error) {
	return target, nil
}

// content is the SHA256SUMS text for the directory: one "digest  path" line
// per regular file, in lexical order, as sha256sum writes it.
func (s *sums) content(ctx context.Context, tr progress.Tracker) ([]byte, error) {
	if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("directory %s does not exist yet (%w)", s.dir, fs.ErrNotExist)
	} else if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || p == s.output {
			return nil
		}
		sum, err := hashFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.ToSlash(rel))
		tr.Advance(1)
		return nil
	})
	return b.Bytes(), err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func stateOf(data []byte) State {
	sum := sha256.Sum256(data)
	return State{Exists: true, Files: strings.Count(string(data), "\n"), SHA256: hex.EncodeToString(sum[:])}
}

func describe(s State) string {
	if !s.Exists {
		return "absent"
	}
	return fmt.Sprintf("%d files (sha256 %s…)", s.Files, s.SHA256[:12])
}
