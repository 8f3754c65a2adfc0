package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdexecution"
)

// DiffOptions are diff's flags.
type DiffOptions struct {
	*GlobalOptions
	ExitCode bool
}

func newDiffCmd(g *GlobalOptions) *cobra.Command {
	opts := &DiffOptions{GlobalOptions: g}
	c := &cobra.Command{
		Use:   "diff",
		Short: "Show what ensure would change, item by item",
		Long: `Discover each item's current and goal states and show how they differ.
Nothing is changed or recorded. An item whose states depend on what another
item will produce is "known after apply", and counts as one that may change.

With --exit-code, the exit code says whether ensure would change anything:
4 when it would (or may), 0 when not — how a pipeline detects drift.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDiff(c.Context(), opts) },
	}
	c.Flags().BoolVar(&opts.ExitCode, "exit-code", false, "exit 4 when ensure would change something, 0 when not")
	return c
}

func runDiff(ctx context.Context, opts *DiffOptions) error {
	s, err := opts.open("diff")
	if err != nil {
		return err
	}
	defer s.close()
	res, err := s.exec(ctx, cmdexecution.Diff())
	s.close()
	if err != nil {
		return err
	}
	_ = opts.printer().Write(res)
	if err := outcomeCode(res); err != nil {
		return err
	}
	if would, may := res.Changes(); opts.ExitCode && would+may > 0 {
		return outcomeError{ExitChangesPending}
	}
	return nil
}
