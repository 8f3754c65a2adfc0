package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
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
	res, err := s.exec(ctx, &cmdexecution.CmdExecution{
		Command: "status",
		Blocks:  []cmdblock.Block{cmdblock.Discover{What: cmdblock.DiscoverCurrent}},
		Records: true,
	})
	s.close()
	if err != nil {
		return err
	}
	d := res.Data
	opts.printer().states(s.flow, d.Current, func(i int) bool { return d.Found[i] }, func(i int) string {
		if err := d.Err[i]; err != nil {
			return err.Error()
		}
		return ""
	})
	return outcomeCode(res.Outcome)
}

// runStatusStored shows what is recorded, replaying a journal a killed run
// left behind in memory only: it writes nothing and takes no lock.
func runStatusStored(opts *StatusOptions) error {
	flow, err := loadFlow(opts.FlowFile)
	if err != nil {
		return err
	}
	cc, err := newReadOnlyCtx(opts.GlobalOptions, flow)
	if err != nil {
		return err
	}
	rec, err := cc.Store().Load()
	if err != nil {
		return err
	}
	unknown := map[string]bool{}
	for _, u := range rec.Unknown {
		unknown[u] = true
	}
	states := make([]any, flow.Len())
	found := make([]bool, flow.Len())
	for i, it := range flow.Items() {
		if raw, ok := rec.Current[string(it.ID())]; ok && raw != nil {
			states[i], found[i] = raw, true
			if st, err := it.DecodeState(raw); err == nil {
				states[i] = st
			}
		}
	}
	p := opts.printer()
	if p.format != "text" {
		m := map[string]any{}
		for i, it := range flow.Items() {
			m[string(it.ID())] = nil
			if found[i] {
				m[string(it.ID())] = states[i]
			}
		}
		p.structured(map[string]any{"states": m, "unknown": rec.Unknown})
		return nil
	}
	for _, n := range rec.Notices {
		fmt.Fprintf(opts.IO.ErrOut, "peace: %s\n", n)
	}
	p.states(flow, states, func(i int) bool { return found[i] }, func(i int) string {
		if unknown[string(flow.Items()[i].ID())] {
			return "unknown: a run stopped while applying it"
		}
		return ""
	})
	return nil
}

func newReadOnlyCtx(g *GlobalOptions, flow *items.Flow) (*cmdctx.CmdCtx, error) {
	cc, err := cmdctx.New(cmdctx.Options{Workspace: g.workspace(), Profile: g.Profile, Flow: flow})
	if err != nil {
		return nil, inputError{err}
	}
	return cc, nil
}
