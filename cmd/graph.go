package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/items/graph"
	"github.com/peace-go/peace/server"
)

// GraphOptions are the flags of graph.
type GraphOptions struct {
	*GlobalOptions
	GraphFormat string
	Status      bool
}

var graphFormats = []string{"dot", "mermaid", "json"}

func newGraphCmd(g *GlobalOptions) *cobra.Command {
	opts := &GraphOptions{GlobalOptions: g}
	c := &cobra.Command{
		Use:   "graph",
		Short: "Print the flow as a graph (--format dot|mermaid|json)",
		Long: `Print the flow's items as a graph in dependency layers, in a stable order, so
it can be diffed and rendered: Graphviz (peace graph | dot -Tsvg > flow.svg),
a Mermaid block for a README, or JSON. With --status each item also says what
is recorded of it in this profile. The web page of peace serve draws the same
graph.`,
		Args: noArgs,
		// graph has a --format of its own: the global checks run with
		// the result format it stands for (json, or text for the rest).
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			g.Format = "text"
			if opts.GraphFormat == "json" {
				g.Format = "json"
			}
			if err := g.stopTimeoutFromEnv(c); err != nil {
				return err
			}
			return g.validate()
		},
		RunE: func(c *cobra.Command, _ []string) error { return runGraph(opts) },
	}
	c.Flags().StringVar(&opts.GraphFormat, "format", "dot", "how the graph is written: "+strings.Join(graphFormats, "|"))
	c.Flags().BoolVar(&opts.Status, "status", false, "with what is recorded of each item in this profile")
	return c
}

func runGraph(opts *GraphOptions) error {
	format := opts.GraphFormat
	if !slices.Contains(graphFormats, format) {
		return usageErrorf("--format %q: graph writes %s", format, strings.Join(graphFormats, ", "))
	}
	var gr *graph.Graph
	if opts.Status {
		cc, err := opts.readOnlyCtx()
		if err != nil {
			return err
		}
		if gr, err = server.Graph(cc, cc.Flow(), opts.Profile); err != nil {
			return err
		}
	} else {
		flow, err := opts.loadFlow()
		if err != nil {
			return err
		}
		gr = graph.Build(flow)
	}
	switch format {
	case "mermaid":
		return gr.WriteMermaid(opts.IO.Out)
	case "json":
		return gr.WriteJSON(opts.IO.Out)
	}
	return gr.WriteDOT(opts.IO.Out)
}
