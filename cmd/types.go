package cmd

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/items"
)

func newTypesCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "types [TYPE]",
		Short: "List the item types and their params",
		Long: `List the item types a flow file may use, each with what it is, or one type
with its params and what each means. Params marked "verbatim" are never
interpolated: ${...} in them stays as written (values reach sh_cmd's
commands through its env param and PEACE_PARAM_*).`,
		Args: maxArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runTypes(g, args) },
	}
}

type typeJSON struct {
	Name    string           `json:"name"`
	Summary string           `json:"summary,omitempty"`
	Params  []items.ParamDoc `json:"params"`
}

func runTypes(g *GlobalOptions, args []string) error {
	types := g.Types.Types()
	if len(args) == 1 {
		t, ok := g.Types.Lookup(args[0])
		if !ok {
			return usageErrorf("no item type %q (known: %s)%s", args[0], strings.Join(g.Types.Names(), ", "),
				items.DidYouMean(args[0], g.Types.Names()))
		}
		types = []items.Type{t}
	}
	out := make([]typeJSON, 0, len(types))
	for _, t := range types {
		ps := t.ParamDocs()
		if ps == nil {
			ps = []items.ParamDoc{}
		}
		out = append(out, typeJSON{Name: t.Name, Summary: t.Summary, Params: ps})
	}
	p := g.printer()
	if p.Structured(map[string]any{"types": out}) {
		return nil
	}
	tw := tabwriter.NewWriter(g.IO.Out, 0, 4, 2, ' ', 0)
	if len(args) == 0 {
		fmt.Fprintln(tw, "TYPE\tWHAT IT IS\tPARAMS")
		for _, t := range out {
			names := make([]string, len(t.Params))
			for i, p := range t.Params {
				names[i] = p.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Summary, strings.Join(names, ", "))
		}
		_ = tw.Flush()
		fmt.Fprintln(g.IO.Out, "\npeace types TYPE shows what each param means.")
		return nil
	}
	t := out[0]
	fmt.Fprintf(g.IO.Out, "%s: %s\n\n", t.Name, t.Summary)
	fmt.Fprintln(tw, "PARAM\tKIND\tMEANING")
	for _, p := range t.Params {
		kind := p.Kind
		if p.Verbatim {
			kind += ", verbatim"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, kind, p.Doc)
	}
	return tw.Flush()
}
