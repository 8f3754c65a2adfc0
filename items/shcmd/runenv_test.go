package shcmd_test

import (
	"context"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

// Values reach commands through the environment — PEACE_PROFILE,
// PEACE_FLOW, PEACE_PARAM_*, and env, whose values are interpolated — and
// never by interpolation into the command itself.
func TestRunEnvironmentAndVerbatimCommands(t *testing.T) {
	flow, err := items.Parse("flow.yaml", []byte(`
flow: greet
params: {name: world}
profiles:
  prod: {name: everyone}
items:
  - id: env
    type: sh_cmd
    params:
      current: 'echo "$PEACE_PROFILE|$PEACE_FLOW|$PEACE_PARAM_NAME|$GREETING"'
      goal: {value: x}
      ensure: "true"
      env: {GREETING: "hello ${params.name}"}
  - id: verbatim
    type: sh_cmd
    params:
      current: "echo '${params.name}'"
      goal: {value: x}
      ensure: "true"
`), t.TempDir(), items.NewRegistry(shcmd.Type), items.WithProfile("prod"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, fc := context.Background(), items.FnCtx{Progress: progress.NoTracker}
	if got, err := flow.Item("env").Current(ctx, fc); err != nil || got != "prod|greet|everyone|hello everyone" {
		t.Errorf("env: current printed %q (%v)", got, err)
	}
	if got, err := flow.Item("verbatim").Current(ctx, fc); err != nil || got != "${params.name}" {
		t.Errorf("verbatim: current printed %q (%v): the command was interpolated", got, err)
	}
}
