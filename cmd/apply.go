package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
)

// ApplyOptions are the flags of ensure and clean.
type ApplyOptions struct {
	*GlobalOptions
	Op     items.Op
	DryRun bool
	Detach bool
}

func newApplyCmd(g *GlobalOptions, op items.Op) *cobra.Command {
	opts := &ApplyOptions{GlobalOptions: g, Op: op}
	c := &cobra.Command{
		Use:  string(op),
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runApply(c.Context(), opts) },
	}
	switch op {
	case items.OpEnsure:
		c.Short = "Bring every item to its goal state"
		c.Long = `Discover each item's current and goal states, then apply every item that is
not at its goal, dependencies first, up to --jobs at once. Each applied state
is recorded the moment its item finishes.

Ctrl-C (or SIGTERM) once: nothing new starts, items in flight finish.
Twice: items in flight are cancelled (commands get SIGTERM, then SIGKILL).
Three times: exit at once. The next run picks up where this one stopped.`
	case items.OpClean:
		c.Short = "Bring every item to its clean state, dependents first"
		c.Long = `Discover each item's current and clean states, then apply every item that is
not clean, in reverse dependency order. Stopping works as for ensure.`
	}
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be applied; change and record nothing")
	c.Flags().BoolVar(&opts.Detach, "detach", false, "run in the background, in a process of its own; print the execution's ID (follow it with wait, attach, interrupt)")
	c.MarkFlagsMutuallyExclusive("dry-run", "detach")
	return c
}

func runApply(ctx context.Context, opts *ApplyOptions) error {
	if opts.Detach {
		return runDetach(ctx, opts)
	}
	e := cmdexecution.ForOp(opts.Op, opts.DryRun)
	s, err := opts.open(e.Command)
	if err != nil {
		return err
	}
	defer s.close()
	res, err := s.exec(ctx, e)
	s.close()
	if err != nil {
		return err
	}
	_ = opts.printer().Write(res)
	return outcomeCode(res)
}
