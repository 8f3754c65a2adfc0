package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
)

// StatusOptions are status's flags.
type StatusOptions struct {
	*GlobalOptions
	Stored bool
}

func newStatusCmd(g *GlobalOptions) *cobra.Command {
	opts := &StatusOptions{GlobalOptions: g}
	c := &cobra.Command{
		Use:   "status",
		Short: "Discover, record and show each item's current state",
		Long: `Discover each item's current state, record it, and show it.
With --stored, show the recorded states instead, without discovering anything;
items a killed run left half-applied show as unknown.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runStatus(c.Context(), opts) },
	}
	c.Flags().BoolVar(&opts.Stored, "stored", false, "show the recorded states; discover nothing")
	return c
}

func runStatus(ctx context.Context, opts *StatusOptions) error {
	if opts.Stored {
		return runStatusStored(opts)
	}
	s, err := opts.open("status")
	if err != nil {
		return err
	}
	defer s.close()
	res, err := s.exec(ctx, cmdexecution.Status())
	s.close()
	if err != nil {
		return err
	}
	_ = opts.printer().Write(res)
	return outcomeCode(res)
}

// runStatusStored shows what is recorded, replaying a journal a killed run
// left behind in memory only: it writes nothing and takes no lock.
func runStatusStored(opts *StatusOptions) error {
	cc, err := opts.readOnlyCtx()
	if err != nil {
		return err
	}
	res, err := cc.Stored()
	if err != nil {
		return err
	}
	p := opts.printer()
	if p.Format() == "text" {
		for _, n := range res.Notices {
			fmt.Fprintf(opts.IO.ErrOut, "peace: %s\n", n)
		}
	}
	return p.Write(res)
}

// readOnlyCtx is a CmdCtx for commands that start no execution.
func (g *GlobalOptions) readOnlyCtx() (*cmdctx.CmdCtx, error) {
	flow, err := g.loadFlow()
	if err != nil {
		return nil, err
	}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: g.workspace(), Profile: g.Profile, Flow: flow})
	if err != nil {
		return nil, inputError{err}
	}
	return cc, nil
}
