package cmd

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/builtin"
)

// starterFlow is what init writes: small, commented, and valid.
const starterFlow = `# A peace flow: items, their parameters, and what depends on what.
# Try: peace status · peace diff · peace ensure · peace clean
flow: starter

items:
  # A directory; relative paths resolve against this file's directory.
  - id: out_dir
    type: dir
    params: {path: out}

  # A file with exact content. depends_on makes it wait for out_dir.
  - id: greeting
    type: file
    depends_on: [out_dir]
    params:
      path: out/greeting.txt
      content: "hello from peace\n"

  # Any shell command. Each command's stdout is a state; ensure moves the
  # world from current to goal, clean back to clean_state.
  - id: stamp
    type: sh_cmd
    depends_on: [greeting]
    params:
      current: "cat out/stamp 2>/dev/null || echo absent"
      goal: "echo stamped"
      ensure: "sleep 1 && echo stamped > out/stamp"
      clean: "rm -f out/stamp"
      clean_state: "echo absent"
`

// InitOptions are init's flags.
type InitOptions struct {
	*GlobalOptions
}

func newInitCmd(g *GlobalOptions) *cobra.Command {
	opts := &InitOptions{GlobalOptions: g}
	return &cobra.Command{
		Use:   "init",
		Short: "Write a commented starter flow.yaml (never overwrites)",
		Long:  "Write a commented starter flow to the --flow path (default ./flow.yaml). An existing file is never overwritten.",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return runInit(opts) },
	}
}

func runInit(opts *InitOptions) error {
	// The starter must always load; if it ever stops doing so, say so
	// rather than write a broken file.
	if _, err := items.Parse(opts.FlowFile, []byte(starterFlow), ".", builtin.Registry()); err != nil {
		return fmt.Errorf("starter flow does not load: %w", err)
	}
	f, err := os.OpenFile(opts.FlowFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return inputError{fmt.Errorf("%s already exists; init never overwrites (choose another path with --flow)", opts.FlowFile)}
	}
	if err != nil {
		return inputError{err}
	}
	if _, err := f.WriteString(starterFlow); err != nil {
		f.Close()
		os.Remove(opts.FlowFile)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(opts.FlowFile)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "wrote %s; try: peace -f %s diff\n", opts.FlowFile, opts.FlowFile)
	return nil
}
