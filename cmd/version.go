package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/progress"
)

// Version is peace's version; release builds set it with -ldflags -X.
var Version = "0.1.0-dev"

func newVersionCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show peace's version and the format versions it reads and writes",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			v := map[string]any{
				"version": Version, "go": runtime.Version(),
				"state_format": cmdctx.StateFormat, "event_format": progress.Version,
			}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v["revision"] = s.Value
					}
				}
			}
			p := g.printer()
			if p.Structured(v) {
				return nil
			}
			fmt.Fprintf(g.IO.Out, "peace %s (%s, state format %d, event format %d)\n",
				Version, runtime.Version(), cmdctx.StateFormat, progress.Version)
			return nil
		},
	}
}
