package items_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/itemtest"
	"github.com/peace-go/peace/progress"
)

// GreetingParams are the params of the "greeting" item type in a flow file.
type GreetingParams struct {
	Name string `yaml:"name"`
}

func (p *GreetingParams) Validate() error {
	if p.Name == "" {
		return errors.New("param name is required")
	}
	return nil
}

// GreetingState is what a greeting is: whom it greets, if anyone.
type GreetingState struct {
	Greeted string `json:"greeted,omitempty"`
}

// greeting keeps its world in memory, to keep the example small; a real
// item would look at a file, a server, a cloud API.
type greeting struct {
	name  string
	world *string
}

func (g *greeting) Current(context.Context, items.TypedFnCtx[GreetingState]) (GreetingState, error) {
	return GreetingState{Greeted: *g.world}, nil
}

func (g *greeting) Goal(context.Context, items.TypedFnCtx[GreetingState]) (GreetingState, error) {
	return GreetingState{Greeted: g.name}, nil
}

func (g *greeting) Clean(context.Context, items.TypedFnCtx[GreetingState]) (GreetingState, error) {
	return GreetingState{}, nil
}

func (g *greeting) Diff(from, to GreetingState) items.Diff {
	return items.Diff{Equal: from == to, Text: fmt.Sprintf("%q → %q", from.Greeted, to.Greeted)}
}

func (g *greeting) ApplyCheck(_ context.Context, _ items.TypedFnCtx[GreetingState], current, target GreetingState) (items.ApplyCheck, error) {
	if current == target {
		return items.NotRequired, nil
	}
	return items.Required(progress.Steps(1)), nil
}

func (g *greeting) Apply(ctx context.Context, fc items.TypedFnCtx[GreetingState], _, target GreetingState) (GreetingState, error) {
	if err := ctx.Err(); err != nil {
		return GreetingState{}, err
	}
	*g.world = target.Greeted
	fc.Progress.Advance(1)
	return target, nil
}

func (g *greeting) ApplyDry(_ context.Context, _ items.TypedFnCtx[GreetingState], _, target GreetingState) (GreetingState, error) {
	return target, nil
}

// An item type written in Go against its own State and Params, loaded from
// a flow file and applied once, then again (nothing to do), then cleaned.
func ExampleTyped() {
	world := ""
	greetingType := items.TypeOf("greeting", func(id items.ID, p GreetingParams, _ items.Env) (items.Item, error) {
		return items.Typed[GreetingState](id, "greeting", &greeting{name: p.Name, world: &world}), nil
	})
	flow, err := items.Parse("flow.yaml", []byte(`
flow: hello
items:
  - id: hi
    type: greeting
    params: {name: peace}
`), ".", items.NewRegistry(greetingType))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	it := flow.Item("hi")
	applied, stored, _ := itemtest.Apply(ctx, it, items.OpEnsure, nil, nil)
	fmt.Printf("ensure: applied %v, recorded %+v, world %q\n", applied, stored, world)
	applied, stored, _ = itemtest.Apply(ctx, it, items.OpEnsure, nil, stored)
	fmt.Printf("ensure again: applied %v\n", applied)
	applied, stored, _ = itemtest.Apply(ctx, it, items.OpClean, nil, stored)
	fmt.Printf("clean: applied %v, recorded %+v, world %q\n", applied, stored, world)

	_, err = items.Parse("flow.yaml", []byte("flow: hello\nitems:\n  - {id: hi, type: greeting, params: {nmae: x}}\n"), ".", items.NewRegistry(greetingType))
	fmt.Println(err)
	// Output:
	// ensure: applied true, recorded {Greeted:peace}, world "peace"
	// ensure again: applied false
	// clean: applied true, recorded {Greeted:}, world ""
	// flow.yaml:3:39: unknown param "nmae" (expected one of: name) (did you mean name?)
}
