package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
)

// ApplyOptions are the flags of ensure and clean.
type ApplyOptions struct {
	*GlobalOptions
	Op     items.Op
	DryRun bool
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
	return c
}

func runApply(ctx context.Context, opts *ApplyOptions) error {
	command := string(opts.Op)
	if opts.DryRun {
		command += " --dry-run"
	}
	s, err := opts.open(command)
	if err != nil {
		return err
	}
	defer s.close()
	res, err := s.exec(ctx, &cmdexecution.CmdExecution{
		Command: command,
		// One block: each item is discovered right before it is applied,
		// once its dependencies are done. Its states are then never stale,
		// and an item's discovery overlaps the others' work instead of
		// waiting for every item to be discovered first.
		Blocks:  []cmdblock.Block{cmdblock.Apply{Op: opts.Op, DryRun: opts.DryRun}},
		Records: !opts.DryRun,
		Applies: !opts.DryRun,
	})
	s.close()
	if err != nil {
		return err
	}
	d := res.Data
	// An item's state is what this run found or applied; for an item it
	// never reached, what was recorded before.
	states := make([]items.State, len(d.Current))
	for i := range states {
		switch {
		case d.Lost[i]:
		case d.Found[i] || d.Applied[i]:
			states[i] = d.Current[i]
		default:
			states[i] = d.Stored[i]
		}
	}
	opts.printer().outcome(command, res.ID, s.flow, res.Outcome, states, func(i int) bool { return states[i] != nil })
	return outcomeCode(res.Outcome)
}
