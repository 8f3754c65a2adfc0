package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdblock"
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
	res, err := s.exec(ctx, &cmdexecution.CmdExecution{
		Command: "goal",
		Blocks:  []cmdblock.Block{cmdblock.Discover{What: cmdblock.DiscoverGoal}},
		Records: true,
	})
	s.close()
	if err != nil {
		return err
	}
	d := res.Data
	opts.printer().states(s.flow, d.Goal, func(i int) bool { return d.Goal[i] != nil }, func(i int) string {
		if err := d.Err[i]; err != nil {
			return err.Error()
		}
		return ""
	})
	return outcomeCode(res.Outcome)
}
