package cmdblock

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// valItem's state is its value in the world; its goal is its param value.
// With needs set, discovering its goal fails until the world has that
// value (as tar_x's does until its archive is downloaded).
type valItem struct {
	id, goal, needs string
	w               *world
}

func (v *valItem) Current(context.Context, items.TypedFnCtx[string]) (string, error) {
	return v.w.get(v.id), nil
}
func (v *valItem) Goal(context.Context, items.TypedFnCtx[string]) (string, error) {
	if v.needs != "" && v.w.get(v.needs) == "" {
		return "", errors.New(v.needs + " does not exist yet")
	}
	return v.goal, nil
}
func (v *valItem) Clean(context.Context, items.TypedFnCtx[string]) (string, error) { return "", nil }
func (v *valItem) Diff(a, b string) items.Diff                                     { return items.Diff{Equal: a == b} }
func (v *valItem) ApplyCheck(_ context.Context, _ items.TypedFnCtx[string], c, g string) (items.ApplyCheck, error) {
	return items.ApplyCheck{Required: c != g}, nil
}
func (v *valItem) Apply(_ context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	v.w.mu.Lock()
	v.w.values[v.id] = g
	v.w.mu.Unlock()
	return g, nil
}
func (v *valItem) ApplyDry(_ context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	return g, nil
}

// refFlow loads: a → x; b refers to a's state; c depends on a and is at
// its goal already; d's goal needs a in the world; e is on its own.
func refFlow(t *testing.T, w *world) *items.Flow {
	t.Helper()
	reg := items.NewRegistry(items.TypeOf("val", func(id items.ID, p struct {
		Value string `yaml:"value"`
		Needs string `yaml:"needs"`
	}, _ items.Env) (items.Item, error) {
		return items.Typed[string](id, "val", &valItem{id: string(id), goal: p.Value, needs: p.Needs, w: w}), nil
	}))
	f, err := items.Parse("f.yaml", []byte(`flow: f
items:
  - id: a
    type: val
    params: {value: x}
  - id: b
    type: val
    params: {value: "b-${items.a.state}"}
  - id: c
    type: val
    depends_on: [a]
    params: {value: same}
  - id: d
    type: val
    depends_on: [a]
    params: {value: dd, needs: a}
  - id: e
    type: val
    params: {value: e}
`), "/flows", reg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func diffPreview(env *Scope) (*Data, Outcome) { return diffPreviewOf(env, NewData(env.Flow)) }

func diffPreviewOf(env *Scope, data *Data) (*Data, Outcome) {
	Discover{States: DiscoverCurrent | DiscoverGoal}.Run(env, data)
	return data, Diff{}.Run(env, data)
}

func TestPreviewKnownAfterApply(t *testing.T) {
	w := newWorld()
	w.values["c"] = "same"
	f := refFlow(t, w)
	env, _, _ := newEnv(f, 4, FinishCurrent)
	data, out := diffPreview(env)
	if out.Failed() {
		t.Fatalf("a preview failed: %v", out.Errors)
	}
	want := map[items.ID]struct {
		afterApply, mayChange bool
		status                progress.Status
	}{
		"a": {false, false, progress.StatusWouldApply},
		"b": {true, true, progress.StatusWouldApply},   // refers to a, which would change
		"c": {false, true, progress.StatusUnchanged},   // equal, but after a
		"d": {true, true, progress.StatusWouldApply},   // its goal needs a
		"e": {false, false, progress.StatusWouldApply}, // on its own
	}
	for id, w := range want {
		i := f.Index(id)
		if data.AfterApply[i] != w.afterApply || data.MayChange[i] != w.mayChange || data.Status[i] != w.status {
			t.Errorf("%s: after apply %v, may change %v, status %s; want %v %v %s", id,
				data.AfterApply[i], data.MayChange[i], data.Status[i], w.afterApply, w.mayChange, w.status)
		}
	}

	// A dry run says the same.
	data = NewData(f)
	out = Apply{Op: items.OpEnsure, DryRun: true}.Run(env, data)
	if out.Failed() {
		t.Fatalf("a dry run failed: %v", out.Errors)
	}
	for _, id := range []items.ID{"b", "d"} {
		if i := f.Index(id); !data.AfterApply[i] || data.Status[i] != progress.StatusWouldApply {
			t.Errorf("dry run: %s after apply %v status %s", id, data.AfterApply[i], data.Status[i])
		}
	}
	if i := f.Index("c"); !data.MayChange[i] || data.Status[i] != progress.StatusUnchanged {
		t.Errorf("dry run: c may change %v status %s", data.MayChange[i], data.Status[i])
	}
	if len(w.values) != 1 {
		t.Errorf("a preview changed the world: %v", w.values)
	}
}

func TestEnsureBuildsFromReachedState(t *testing.T) {
	w := newWorld()
	f := refFlow(t, w)
	env, _, _ := newEnv(f, 4, FinishCurrent)
	data := NewData(f)
	out := Apply{Op: items.OpEnsure}.Run(env, data)
	if out.Failed() {
		t.Fatalf("ensure failed: %v", out.Errors)
	}
	if got := w.get("b"); got != "b-x" {
		t.Errorf("b = %q, want b-x (built from the state a reached)", got)
	}
	if got := w.get("d"); got != "dd" {
		t.Errorf("d = %q", got)
	}
	if data.Built[f.Index("b")] == nil {
		t.Errorf("b was not built")
	}

	// Next time, b is built from a's recorded state: nothing changes.
	data = NewData(f)
	for i, it := range f.Items() {
		data.Stored[i] = w.get(string(it.ID()))
	}
	env2, _, _ := newEnv(f, 4, FinishCurrent)
	data2, out2 := diffPreviewOf(env2, data)
	if out2.Failed() {
		t.Fatal(out2.Errors)
	}
	for i, it := range f.Items() {
		if data2.MayChange[i] || data2.AfterApply[i] || !data2.Diff[i].Equal {
			t.Errorf("%s after ensure: may change %v, after apply %v, diff %+v", it.ID(), data2.MayChange[i], data2.AfterApply[i], data2.Diff[i])
		}
	}
}

func TestRecordedStateResolvesReference(t *testing.T) {
	// a was applied and recorded by a run that was killed before b: the
	// record is what b is built from.
	w := newWorld()
	f := refFlow(t, w)
	w.values["a"] = "x"
	env, _, _ := newEnv(f, 1, FinishCurrent)
	data := NewData(f)
	data.Prepare(f, false, false) // as a block does before its items start
	data.Stored[f.Index("a")] = "x"
	b := f.Index("b")
	it, known, err := env.build(data, b, nil)
	if err != nil || !known {
		t.Fatalf("build: %v, known %v", err, known)
	}
	g, _ := it.Goal(context.Background(), items.FnCtx{})
	if g != "b-x" {
		t.Errorf("b's goal = %v, want b-x", g)
	}

	// Nothing recorded and nothing reached: an apply cannot build b.
	data = NewData(f)
	if _, _, err := env.build(data, b, nil); err == nil || !strings.Contains(err.Error(), "the state of a") {
		t.Errorf("build with nothing known: %v", err)
	}
	// A preview can: b's states are known after apply.
	if _, known, err := env.build(data, b, &preview{goal: true}); err != nil || known {
		t.Errorf("preview build with nothing known: known %v, %v", known, err)
	}
}

func TestDiscoveryErrorWithoutUpstreamChange(t *testing.T) {
	// d's goal needs a, and a would not change (its goal is the empty
	// value it has): the failure is d's own, an error.
	w := newWorld()
	reg := items.NewRegistry(items.TypeOf("val", func(id items.ID, p struct {
		Value string `yaml:"value"`
		Needs string `yaml:"needs"`
	}, _ items.Env) (items.Item, error) {
		return items.Typed[string](id, "val", &valItem{id: string(id), goal: p.Value, needs: p.Needs, w: w}), nil
	}))
	f, err := items.Parse("f.yaml", []byte("flow: f\nitems:\n  - {id: a, type: val}\n  - {id: d, type: val, depends_on: [a], params: {needs: a}}\n"), "/flows", reg)
	if err != nil {
		t.Fatal(err)
	}
	env, _, _ := newEnv(f, 1, FinishCurrent)
	data, out := diffPreview(env)
	if !out.Failed() || data.AfterApply[f.Index("d")] {
		t.Errorf("want d's discovery error, got errors %v, after apply %v", out.Errors, data.AfterApply[f.Index("d")])
	}
}
