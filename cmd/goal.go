package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdexecution"
)

// GoalOptions are goal's flags.
type GoalOptions struct {
	*GlobalOptions
}

func newGoalCmd(g *GlobalOptions) *cobra.Command {
	opts := &GoalOptions{GlobalOptions: g}
	return &cobra.Command{
		Use:   "goal",
		Short: "Discover, record and show each item's goal state",
		Args:  noArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return runGoal(c.Context(), opts) },
	}
}

func runGoal(ctx context.Context, opts *GoalOptions) error {
	s, err := opts.open("goal")
	if err != nil {
		return err
	}
	defer s.close()
	res, err := s.exec(ctx, cmdexecution.Goal())
	s.close()
	if err != nil {
		return err
	}
	_ = opts.printer().Write(res)
	return outcomeCode(res)
}
