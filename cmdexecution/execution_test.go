package cmdexecution

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// scripted is a block whose effect on the data and the interrupt is given.
type scripted struct {
	name string
	run  func(env *cmdblock.Scope, data *cmdblock.Data) cmdblock.Outcome
}

func (s scripted) Name() string { return s.name }

// Applies: a scripted block named ensure stands for an apply.
func (s scripted) Applies() bool { return s.name == "ensure" }
func (s scripted) Run(env *cmdblock.Scope, data *cmdblock.Data) cmdblock.Outcome {
	return s.run(env, data)
}

type nopItem struct{}

func (nopItem) Current(context.Context, items.TypedFnCtx[int]) (int, error) { return 0, nil }
func (nopItem) Goal(context.Context, items.TypedFnCtx[int]) (int, error)    { return 0, nil }
func (nopItem) Clean(context.Context, items.TypedFnCtx[int]) (int, error)   { return 0, nil }
func (nopItem) Diff(a, b int) items.Diff                                    { return items.Diff{Equal: a == b} }
func (nopItem) ApplyCheck(context.Context, items.TypedFnCtx[int], int, int) (items.ApplyCheck, error) {
	return items.NotRequired, nil
}
func (nopItem) Apply(context.Context, items.TypedFnCtx[int], int, int) (int, error)    { return 0, nil }
func (nopItem) ApplyDry(context.Context, items.TypedFnCtx[int], int, int) (int, error) { return 0, nil }

func setup(t *testing.T) (*cmdblock.Scope, *cmdblock.Data) {
	f := items.NewFlow("f")
	for _, id := range []items.ID{"a", "b"} {
		if err := f.Add(items.Typed[int](id, "nop", nopItem{})); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cmdblock.Scope{Flow: f, Interrupt: cmdblock.NewInterrupt(context.Background(), cmdblock.FinishCurrent),
		Events: progress.Discard}, cmdblock.NewData(f)
}

func finish(st ...progress.Status) func(*cmdblock.Scope, *cmdblock.Data) cmdblock.Outcome {
	return func(env *cmdblock.Scope, d *cmdblock.Data) cmdblock.Outcome {
		copy(d.Status, st)
		return cmdblock.Outcome{}
	}
}

func TestOutcomes(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		blocks []cmdblock.Block
		kind   Kind
		result string
		status []progress.Status
		notRun []string
	}{
		{"complete", []cmdblock.Block{scripted{"ensure", finish(progress.StatusApplied, progress.StatusUnchanged)}},
			Complete, "complete", []progress.Status{progress.StatusApplied, progress.StatusUnchanged}, nil},
		{"item error", []cmdblock.Block{scripted{"ensure", func(env *cmdblock.Scope, d *cmdblock.Data) cmdblock.Outcome {
			d.Status[0], d.Err[0] = progress.StatusFailed, boom
			d.Status[1] = progress.StatusNotStarted
			return cmdblock.Outcome{Errors: map[items.ID]error{"a": boom}}
		}}}, ItemError, "failed", []progress.Status{progress.StatusFailed, progress.StatusNotStarted}, nil},
		{"stopped between blocks", []cmdblock.Block{
			scripted{"discover", func(env *cmdblock.Scope, d *cmdblock.Data) cmdblock.Outcome {
				finish(progress.StatusDiscovered, progress.StatusDiscovered)(env, d)
				env.Interrupt.Advance()
				return cmdblock.Outcome{}
			}},
			scripted{"ensure", finish(progress.StatusApplied, progress.StatusApplied)},
		}, ExecutionInterrupted, "interrupted", []progress.Status{progress.StatusNotStarted, progress.StatusNotStarted}, []string{"ensure"}},
		{"stopped in a block", []cmdblock.Block{
			scripted{"ensure", func(env *cmdblock.Scope, d *cmdblock.Data) cmdblock.Outcome {
				finish(progress.StatusApplied, progress.StatusNotStarted)(env, d)
				env.Interrupt.Advance()
				return cmdblock.Outcome{Interrupted: true, NotStarted: []items.ID{"b"}}
			}},
			scripted{"after", finish()},
		}, BlockInterrupted, "interrupted", []progress.Status{progress.StatusApplied, progress.StatusNotStarted}, []string{"after"}},
		{"stopped after the last start", []cmdblock.Block{
			scripted{"ensure", func(env *cmdblock.Scope, d *cmdblock.Data) cmdblock.Outcome {
				finish(progress.StatusApplied, progress.StatusApplied)(env, d)
				env.Interrupt.Advance()
				return cmdblock.Outcome{}
			}},
		}, ExecutionInterrupted, "interrupted", []progress.Status{progress.StatusApplied, progress.StatusApplied}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, data := setup(t)
			e := &CmdExecution{Command: "ensure", Blocks: tc.blocks}
			o := e.Run(env, data)
			if o.Kind != tc.kind || o.Verdict() != tc.result || !slices.Equal(o.Status, tc.status) || !slices.Equal(o.BlocksNotRun, tc.notRun) {
				t.Errorf("got %s/%s %v not run %v; want %s/%s %v not run %v",
					o.Kind, o.Verdict(), o.Status, o.BlocksNotRun, tc.kind, tc.result, tc.status, tc.notRun)
			}
		})
	}
}

func TestUnknownStaysUnknownUntilDiscovered(t *testing.T) {
	env, data := setup(t)
	data.Unknown[0], data.Unknown[1] = true, true
	e := &CmdExecution{Command: "ensure", Blocks: []cmdblock.Block{scripted{"ensure",
		func(env *cmdblock.Scope, d *cmdblock.Data) cmdblock.Outcome {
			d.Unknown[1] = false // b was rediscovered, a never reached
			d.Status[1] = progress.StatusApplied
			return cmdblock.Outcome{}
		}}}}
	o := e.Run(env, data)
	if !slices.Equal(o.Status, []progress.Status{progress.StatusUnknown, progress.StatusApplied}) {
		t.Errorf("status %v", o.Status)
	}
}
