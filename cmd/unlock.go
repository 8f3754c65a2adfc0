package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUnlockCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Remove a lock left by a run that is no longer alive (never needed in practice)",
		Long: `peace takes over the lock of a run that died on its own, so this is never
needed. It removes the lock of this flow and profile only when its holder is
provably gone, and refuses to break the lock of a live run.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			cc, err := g.readOnlyCtx()
			if err != nil {
				return err
			}
			removed, err := cc.Unlock()
			if err != nil {
				return err
			}
			if removed == nil {
				fmt.Fprintln(g.IO.ErrOut, "not locked")
				return nil
			}
			if c := removed.Corrupt; c != nil {
				fmt.Fprintf(g.IO.ErrOut, "set aside the corrupt lock file %s as %s (%s)\n", c.Path, c.MovedTo, c.Reason)
				return nil
			}
			fmt.Fprintf(g.IO.ErrOut, "removed the lock of pid %d on %s (%s), which is no longer running\n",
				removed.PID, removed.Host, removed.Command)
			return nil
		},
	}
}
