package cmdblock

import (
	"context"

	"fmt"
	"strings"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// States are the states a Discover block finds, as flags.
type States int

const (
	DiscoverCurrent States = 1 << iota
	DiscoverGoal
	DiscoverClean
)

// Discover finds the states of every item: its current state and, as asked,
// its goal or clean state. It carries on past item errors.
//
// Discovery changes nothing, so it is a preview: an item whose params
// refer to the state of an item that would change first, or whose
// discovery fails while an item it depends on would change, has states
// known only after apply (Data.AfterApply) — that is never an error.
type Discover struct {
	States States
}

func (Discover) Name() string { return "discover" }

func (b Discover) Run(env *Scope, data *Data) Outcome {
	all := env.Flow.Items()
	pv := preview{goal: b.States&DiscoverGoal != 0}
	data.Prepare(env.Flow, b.States&DiscoverClean != 0, false)
	return env.run(pass{name: b.Name()}, data, func(ctx context.Context, i int, _ *jobSlot) (progress.Status, error) {
		id := all[i].ID()
		if pv.goal {
			data.MayChange[i] = env.upstreamChanges(data, i, pv)
		}
		it, known, err := env.build(data, i, &pv)
		switch {
		case err != nil:
			return "", err
		case !known:
			data.AfterApply[i] = true
			return progress.StatusDiscovered, nil
		}
		fc := items.FnCtx{Progress: env.tracker(b.Name(), id), Stored: data.Stored[i],
			Processes: groups{env: env, item: string(id)}}
		if err := discover(ctx, it, fc, b.States, data, i); err != nil {
			if ctx.Err() == nil && pv.goal && data.MayChange[i] {
				// What it needs comes from an item that would change
				// first (an archive not downloaded yet).
				data.AfterApply[i] = true
				return progress.StatusDiscovered, nil
			}
			return "", err
		}
		return progress.StatusDiscovered, nil
	})
}

// discover fills data's slots for item i.
func discover(ctx context.Context, it items.Item, fc items.FnCtx, what States, data *Data, i int) error {
	if what&DiscoverCurrent != 0 {
		s, err := it.Current(ctx, fc)
		if err != nil {
			return fmt.Errorf("discover current state: %w", err)
		}
		data.Current[i] = s
		data.Found[i] = true
		data.Lost[i] = false
		data.Unknown[i] = false
	}
	if what&DiscoverGoal != 0 {
		s, err := it.Goal(ctx, fc)
		if err != nil {
			return fmt.Errorf("discover goal state: %w", err)
		}
		data.Goal[i] = s
	}
	if what&DiscoverClean != 0 {
		s, err := it.Clean(ctx, fc)
		if err != nil {
			return fmt.Errorf("discover clean state: %w", err)
		}
		data.Clean[i] = s
	}
	return nil
}

// preview says how a block that changes nothing looks at the items before
// an item: goal is set when ensure's changes are previewed (the items'
// goal states are what they would reach). A nil *preview is a run that
// applies: what the items before reached is known.
type preview struct {
	goal bool
}

// item is item i as this execution runs it: the flow's, or the one built
// for it from the states its params refer to.
func (env *Scope) item(data *Data, i int) items.Item {
	if b := data.built(i); b != nil {
		return b
	}
	return env.Flow.Items()[i]
}

// build returns item i ready to run. An *items.Deferred is built from
// the states of the items its params refer to (each done before it, being
// its dependencies); in a preview, known is false when one of those states
// is not known yet, and the item's states are known after apply.
func (env *Scope) build(data *Data, i int, pv *preview) (it items.Item, known bool, err error) {
	d, ok := env.Flow.Items()[i].(*items.Deferred)
	if !ok {
		return env.Flow.Items()[i], true, nil
	}
	states := make(map[items.ID]items.State, len(d.Refs()))
	for _, r := range d.Refs() {
		s, ok := env.refState(data, env.Flow.Index(r), pv)
		if !ok {
			if pv != nil {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("the state of %s, which its params refer to, is not known: %s has no recorded state", r, r)
		}
		states[r] = s
	}
	b, err := d.Build(func(id items.ID) items.State { return states[id] })
	if err != nil {
		return nil, true, fmt.Errorf("params with the states of %s: %w", joinIDs(d.Refs()), err)
	}
	data.Built[i] = b
	return b, true, nil
}

// refState is the state of item j that references to it stand for: the
// state it reached in this execution, else the one recorded for it (the
// journal's, so it holds across a kill between the two items) while it
// still describes the world, else the one discovered now. In a preview, a
// state that would or may change first is not known.
func (env *Scope) refState(data *Data, j int, pv *preview) (items.State, bool) {
	switch {
	case j < 0:
		return nil, false
	case data.Applied[j]:
		return data.Current[j], true
	case data.Lost[j] || data.AfterApply[j]:
		return nil, false
	case pv != nil && pv.goal && env.changes(data, j):
		return nil, false
	}
	stored := data.Stored[j]
	if data.Found[j] {
		if stored != nil {
			if d, err := env.item(data, j).Diff(stored, data.Current[j]); err == nil && d.Equal {
				// The record may hold what only its apply knew (an
				// ETag, a generated ID).
				return stored, true
			}
		}
		return data.Current[j], true
	}
	return stored, stored != nil
}

// changes reports, in a preview of ensure, whether item j would or may
// change: its states are known after apply, an item it depends on may
// change, or its known state is not its goal.
func (env *Scope) changes(data *Data, j int) bool {
	switch {
	case data.AfterApply[j] || data.MayChange[j]:
		return true
	case data.Status[j] == progress.StatusWouldApply:
		return true
	case data.Status[j] == progress.StatusUnchanged:
		return false
	case data.Goal[j] == nil:
		return false // no goal was discovered: nothing says it changes
	}
	base := data.Stored[j]
	if data.Found[j] {
		base = data.Current[j]
	}
	if base == nil {
		return true
	}
	d, err := env.item(data, j).Diff(base, data.Goal[j])
	return err != nil || !d.Equal
}

// upstreamChanges reports whether an item that item i depends on would or
// may change in this preview.
func (env *Scope) upstreamChanges(data *Data, i int, pv preview) bool {
	if !pv.goal {
		return false
	}
	for _, d := range env.Flow.DepsAt(i) {
		if env.changes(data, int(d)) {
			return true
		}
	}
	return false
}

func joinIDs(ids []items.ID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}
