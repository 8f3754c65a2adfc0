package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdexecution"
)

// DiffOptions are diff's flags.
type DiffOptions struct {
	*GlobalOptions
	ExitCode bool
	Against  string
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
	c.Flags().StringVar(&opts.Against, "against", "", "compare this profile's recorded states with those of `PROFILE`, item by item (nothing is discovered)")
	return c
}

func runDiff(ctx context.Context, opts *DiffOptions) error {
	if opts.Against != "" {
		return runDiffAgainst(opts)
	}
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

// runDiffAgainst compares what is recorded for this profile with what is
// recorded for another, item by item: how two environments of the same
// flow differ. Nothing is discovered, locked or written.
func runDiffAgainst(opts *DiffOptions) error {
	here, err := opts.readOnlyCtx()
	if err != nil {
		return err
	}
	other := *opts.GlobalOptions
	other.Profile = opts.Against
	there, err := other.readOnlyCtx()
	if err != nil {
		return err
	}
	a, err := here.Stored()
	if err != nil {
		return err
	}
	b, err := there.Stored()
	if err != nil {
		return err
	}
	res := cmdexecution.CompareStored(here.Flow(), a, b)
	res.Command = fmt.Sprintf("diff --against %s", opts.Against)
	if err := opts.printer().Write(res); err != nil {
		return err
	}
	if would, may := res.Changes(); opts.ExitCode && would+may > 0 {
		return outcomeError{ExitChangesPending}
	}
	return nil
}
