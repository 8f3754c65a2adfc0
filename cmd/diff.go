package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdexecution"
)

// DiffOptions are diff's flags.
type DiffOptions struct {
	*GlobalOptions
}

func newDiffCmd(g *GlobalOptions) *cobra.Command {
	opts := &DiffOptions{GlobalOptions: g}
	return &cobra.Command{
		Use:   "diff",
		Short: "Show what ensure would change, item by item",
		Long: `Discover each item's current and goal states and show how they differ.
Nothing is changed or recorded.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDiff(c.Context(), opts) },
	}
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
	return outcomeCode(res)
}
