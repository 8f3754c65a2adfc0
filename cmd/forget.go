package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
)

// ForgetOptions are forget's arguments.
type ForgetOptions struct {
	IDs []string
}

func newForgetCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "forget ID...",
		Short: "Drop items that left the flow from the recorded state, without touching the world",
		Long: `An item removed from the flow stays recorded, with its type and params, so
that ensure can clean it. forget drops such items from the record (their
states and specs) and changes nothing in the world: use it for an item that
is gone already, or whose leftovers you mean to keep. An item still in the
flow is refused.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("forget needs at least one item ID")}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runForget(c.Context(), g, ForgetOptions{IDs: args})
		},
	}
}

func runForget(ctx context.Context, g *GlobalOptions, opts ForgetOptions) error {
	flow, err := g.loadFlow()
	if err != nil {
		return err
	}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: g.workspace(), Profile: g.Profile, Flow: flow, LockWait: g.LockTimeout})
	if err != nil {
		return inputError{err}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	notices, err := cc.Forget(ctx, opts.IDs)
	for _, n := range notices {
		fmt.Fprintln(g.IO.ErrOut, n)
	}
	var fe *cmdctx.ForgetError
	if errors.As(err, &fe) {
		return inputError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.IO.ErrOut, "forgot %s (the world was not touched)\n", strings.Join(opts.IDs, ", "))
	return nil
}
