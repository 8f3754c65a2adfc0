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
# Every item type and its params: peace types (peace types sh_cmd, ...).
flow: starter

# Flow params: defaults here, other values per profile (-p prod), or on the
# command line (--param greeting=hi). Use them as ${params.NAME}; ${profile}
# and ${flow} are there too, and $${ is a literal ${.
params:
  greeting: hello from peace
  out: out
profiles:
  prod: {out: out-prod}

items:
  # A directory; relative paths resolve against this file's directory.
  - id: out_dir
    type: dir
    params: {path: "${params.out}"}

  # A file with exact content. depends_on makes it wait for out_dir.
  - id: greeting
    type: file
    depends_on: [out_dir]
    params:
      path: "${params.out}/greeting.txt"
      content: "${params.greeting}\n"

  # Any shell command, run with sh -c here. current prints the state the
  # world is in; goal is the state to reach ({value: ...} needs no command);
  # ensure gets there and clean goes back to clean_state. What ensure and
  # clean print is their log (peace logs), never a state; a state only the
  # command knows (a generated ID) goes to the file $PEACE_STATE_OUT names.
  # Commands are never interpolated: values reach them through env (which
  # is) and PEACE_PARAM_*, PEACE_PROFILE, PEACE_FLOW. A reference to another
  # item's state, like ${items.greeting.state.sha256}, also makes this item
  # depend on that one.
  - id: stamp
    type: sh_cmd
    params:
      current: "cat \"$OUT/stamp\" 2>/dev/null || echo absent"
      goal: {value: stamped}
      ensure: "echo stamping; sleep 1 && echo stamped > \"$OUT/stamp\""
      clean: "rm -f \"$OUT/stamp\""
      clean_state: {value: absent}
      env:
        OUT: "${params.out}"
        GREETING_SHA: "${items.greeting.state.sha256}"

  # Also built in (see peace types):
  #   file_download  url, dest, sha256, timeout: fetched again only when changed
  #   tar_x          archive, dest: extracted; clean removes exactly what it made
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
