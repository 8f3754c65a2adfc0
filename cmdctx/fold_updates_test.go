package cmdctx_test

import (
	"context"
	"testing"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/items"
)

// dial is an item whose goal the test turns: its state is a struct, so
// goals are encoded and compared as objects.
type dial struct {
	counter
	goal dialState
}

type dialState struct {
	N    int    `json:"n"`
	Note string `json:"note,omitempty"`
}

func (d *dial) Current(context.Context, items.TypedFnCtx[dialState]) (dialState, error) {
	return dialState{N: d.get()}, nil
}
func (d *dial) Goal(context.Context, items.TypedFnCtx[dialState]) (dialState, error) {
	return d.goal, nil
}
func (d *dial) Clean(context.Context, items.TypedFnCtx[dialState]) (dialState, error) {
	return dialState{}, nil
}
func (d *dial) Diff(a, b dialState) items.Diff { return items.Diff{Equal: a.N == b.N} }
func (d *dial) ApplyCheck(_ context.Context, _ items.TypedFnCtx[dialState], a, b dialState) (items.ApplyCheck, error) {
	return items.ApplyCheck{Required: a.N != b.N}, nil
}
func (d *dial) Apply(_ context.Context, _ items.TypedFnCtx[dialState], _, b dialState) (dialState, error) {
	d.mu.Lock()
	d.value = b.N
	d.mu.Unlock()
	return dialState{N: b.N}, nil
}
func (d *dial) ApplyDry(_ context.Context, _ items.TypedFnCtx[dialState], _, b dialState) (dialState, error) {
	return b, nil
}

// TestFoldRecordsChangedGoals checks that what an execution records
// follows its goals run after run, though only the goals that differ from
// the recorded ones reach the fold: a goal changed without an apply (the
// note), one changed with one, and one back as it was.
func TestFoldRecordsChangedGoals(t *testing.T) {
	a, b := &dial{goal: dialState{N: 1}}, &dial{goal: dialState{N: 1}}
	flow := items.NewFlow("dials")
	for id, d := range map[items.ID]*dial{"a": a, "b": b} {
		if err := flow.Add(items.Typed[dialState](id, "dial", d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := flow.Validate(); err != nil {
		t.Fatal(err)
	}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: t.TempDir(), Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		a, b         dialState
		wantA, wantB string // recorded goals
		currA, currB string // recorded current states
	}{
		{dialState{N: 1}, dialState{N: 1}, `{"n":1}`, `{"n":1}`, `{"n":1}`, `{"n":1}`},
		{dialState{N: 1, Note: "<x>"}, dialState{N: 1}, `{"n":1,"note":"\u003cx\u003e"}`, `{"n":1}`, `{"n":1}`, `{"n":1}`},
		{dialState{N: 1, Note: "<x>"}, dialState{N: 2}, `{"n":1,"note":"\u003cx\u003e"}`, `{"n":2}`, `{"n":1}`, `{"n":2}`},
		{dialState{N: 1}, dialState{N: 2}, `{"n":1}`, `{"n":2}`, `{"n":1}`, `{"n":2}`},
	}
	for k, st := range steps {
		a.goal, b.goal = st.a, st.b
		res, err := cc.Exec(context.Background(), ensure())
		if err != nil || res.Outcome != "complete" {
			t.Fatalf("step %d: %v %v", k, err, res)
		}
		rec, err := cc.Store().Load()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ what, got, want string }{
			{"goal of a", string(rec.Goal["a"]), st.wantA}, {"goal of b", string(rec.Goal["b"]), st.wantB},
			{"current of a", string(rec.Current["a"]), st.currA}, {"current of b", string(rec.Current["b"]), st.currB},
		} {
			if c.got != c.want {
				t.Errorf("step %d: %s recorded %s, want %s", k, c.what, c.got, c.want)
			}
		}
	}
}
