package cmd

import (
	"github.com/spf13/cobra"
)

// addCompletions teaches shell completion (peace completion bash|zsh|fish|
// powershell) the flow's item IDs and its executions' IDs.
func addCompletions(root *cobra.Command, g *GlobalOptions) {
	itemIDs := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		flow, err := g.loadFlow()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ids := make([]string, 0, flow.Len())
		for _, it := range flow.Items() {
			ids = append(ids, string(it.ID()))
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
	_ = root.RegisterFlagCompletionFunc("item", itemIDs)
	executionIDs := func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cc, err := g.readOnlyCtx()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		execs, _, err := cc.Executions(false)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ids := make([]string, 0, len(execs))
		for _, e := range execs {
			ids = append(ids, e.ID+"\t"+e.Command+" "+string(e.State))
		}
		return ids, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "wait", "attach", "interrupt", "logs":
			c.ValidArgsFunction = executionIDs
		}
	}
}
