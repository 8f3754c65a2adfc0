// Command minimal is peace with an item type of its own: a note, a file holding some text.
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/peace-go/peace/cmd"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

type note struct{ Path, Text string } // the params; the state is the file's text, "" when absent
type fc = items.TypedFnCtx[string]

func (n note) Current(context.Context, fc) (string, error) {
	b, _ := os.ReadFile(n.Path)
	return string(b), nil
}
func (n note) Goal(context.Context, fc) (string, error)                    { return n.Text, nil }
func (note) Clean(context.Context, fc) (string, error)                     { return "", nil }
func (note) Diff(a, b string) items.Diff                                   { return items.Diff{Equal: a == b, Text: a + " → " + b} }
func (note) ApplyDry(_ context.Context, _ fc, _, b string) (string, error) { return b, nil }
func (note) ApplyCheck(_ context.Context, _ fc, a, b string) (items.ApplyCheck, error) {
	return items.ApplyCheck{Required: a != b, Limit: progress.Unknown()}, nil
}
func (n note) Apply(_ context.Context, _ fc, _, b string) (string, error) {
	if b == "" {
		return b, os.Remove(n.Path)
	}
	return b, os.WriteFile(n.Path, []byte(b), 0o644)
}

func main() {
	os.Exit(cmd.Main(cmd.WithTypes(items.TypeOf("note", func(id items.ID, n note, env items.Env) (items.Item, error) {
		return items.Typed[string](id, "note", note{filepath.Join(env.Dir, n.Path), n.Text}), nil
	}))))
}
