package cmdblock

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/peace-go/peace/internal/durable"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Apply moves every item to its target: the goal state (ensure) or the
// clean state (clean, dependents before their dependencies). Each applied
// state goes to the Recorder — a begin record before the apply starts, an
// end record with the state reached before the item is reported done. The
// first failure stops new starts; items in flight finish.
type Apply struct {
	Op     items.Op
	DryRun bool // ApplyDry instead of Apply; nothing is recorded
}

func (b Apply) Name() string { return string(b.Op) }

// Applies is true unless b is a dry run: an execution with such a block
// always writes the journal.
func (b Apply) Applies() bool { return !b.DryRun }

func (b Apply) Run(env *Scope, data *Data) Outcome {
	all := env.Flow.Items()
	clean := b.Op == items.OpClean
	data.Prepare(env.Flow, clean, false)
	target, what := data.Goal, DiscoverCurrent|DiscoverGoal
	if clean {
		target, what = data.Clean, DiscoverCurrent|DiscoverClean
	}
	p := pass{name: b.Name(), reverse: clean, stopOnError: true}
	// A dry run is a preview: what an item before would reach is not known.
	var pv *preview
	if b.DryRun {
		pv = &preview{goal: !clean}
	}
	return env.run(p, data, func(ctx context.Context, i int, slot *jobSlot) (progress.Status, error) {
		id := all[i].ID()
		if pv != nil && pv.goal {
			data.MayChange[i] = env.upstreamChanges(data, i, *pv)
		}
		// An item whose params refer to other items' states is built now,
		// from the states they reached (or the recorded ones).
		built := data.built(i)
		it, known, err := env.build(data, i, pv)
		switch {
		case err != nil:
			return "", err
		case !known:
			data.AfterApply[i] = true
			return progress.StatusWouldApply, nil
		}
		fc := items.FnCtx{Op: b.Op, Progress: env.tracker(b.Name(), id), Stored: data.Stored[i],
			Processes: groups{env: env, item: string(id)}}

		// What discovery found before this block may be missing, or stale
		// once a dependency was applied (an archive downloaded, a directory
		// made) or the item was built anew: look again right before
		// applying.
		if !data.Found[i] || data.Unknown[i] || data.Lost[i] || (!clean && env.depApplied(data, i)) || built != data.built(i) {
			if err := discover(ctx, it, fc, what, data, i); err != nil {
				if pv != nil && ctx.Err() == nil && data.MayChange[i] {
					// What it needs comes from an item that would change
					// first: known after apply, not an error.
					data.AfterApply[i] = true
					return progress.StatusWouldApply, nil
				}
				return "", err
			}
		}
		check, err := it.ApplyCheck(ctx, fc, data.Current[i], target[i])
		if err != nil {
			return "", fmt.Errorf("apply check: %w", err)
		}
		if !check.Required {
			return progress.StatusUnchanged, nil
		}
		fc.Progress.SetLimit(check.Limit)
		if b.DryRun {
			if _, err := it.ApplyDry(ctx, fc, data.Current[i], target[i]); err != nil {
				return "", fmt.Errorf("%s (dry run): %w", b.Op, err)
			}
			return progress.StatusWouldApply, nil
		}
		return env.apply(ctx, it, fc, data, i, target[i], slot)
	})
}

// apply runs one item's apply between its begin and end records. Once the
// item's own apply has returned, its job slot goes back: waiting for the
// end record to be durable needs none, and the item is reported done (its
// dependents start) only once it is.
func (env *Scope) apply(ctx context.Context, it items.Item, fc items.FnCtx, data *Data, i int, target items.State, slot *jobSlot) (progress.Status, error) {
	id := string(it.ID())
	rec := env.Recorder
	if rec != nil {
		// The begin record's fsync is shared with the items that get that
		// far meanwhile: the slot is free while it waits.
		err, noSlot := slot.waitFree(ctx, func() error { return rec.Begin(id) })
		if err != nil {
			return progress.StatusFailed, fmt.Errorf("record begin: %w", err)
		}
		if noSlot != nil {
			// Cancelled before its slot came back: the apply never ran,
			// and the end record says so, so that nothing reads unknown.
			if rerr := rec.End(id, string(progress.StatusInterrupted), nil); rerr != nil {
				noSlot = fmt.Errorf("%w (and recording that failed too: %v)", noSlot, rerr)
			}
			return progress.StatusInterrupted, noSlot
		}
	}
	env.crash("begin:" + id)
	// From here on, a group the item starts is named in the journal too.
	fc.Processes = groups{env: env, item: id, rec: rec}
	// The directory fsyncs the apply needs are left to its end record:
	// items finishing together share them (see end).
	var dirs durable.DirSyncs
	s, err := it.Apply(durable.WithDirSyncs(ctx, &dirs), fc, data.Current[i], target)
	if err == nil {
		// A failure keeps its slot until the block has seen it, so that
		// it stops new starts first.
		slot.releaseEarly()
	}
	env.crash("apply:" + id)
	if err != nil {
		data.Lost[i] = true
		outcome := progress.StatusFailed
		if ctx.Err() != nil {
			outcome = progress.StatusInterrupted
		}
		if rec != nil {
			// Recording uses its own durability, not ctx: a cancelled item
			// still gets its end record. It records no state reached, so
			// the directories the apply left need no fsync first.
			if rerr := rec.End(id, string(outcome), nil); rerr != nil {
				err = fmt.Errorf("%w (and recording that failed too: %v)", err, rerr)
			}
		}
		return outcome, err
	}
	// The state is the item's only once it is durable with the world it
	// names: until then, a failure leaves the item lost (discovered again),
	// never a state in the snapshot whose directory entry may not survive.
	data.Lost[i] = true
	var raw json.RawMessage
	if rec != nil {
		if raw, err = json.Marshal(s); err != nil {
			return progress.StatusFailed, fmt.Errorf("encode applied state: %w", err)
		}
	}
	if err := env.end(id, string(progress.StatusApplied), raw, dirs.Take()); err != nil {
		return progress.StatusFailed, fmt.Errorf("record applied state: %w", err)
	}
	data.Current[i] = s
	data.Applied[i] = true
	data.Lost[i] = false
	return progress.StatusApplied, nil
}

// end records the end of an apply once dirs, the directory fsyncs the
// apply left, are done: by the Recorder with the record when it can
// (SyncRecorder), else first, here. With no Recorder only dirs are synced.
func (env *Scope) end(id, outcome string, state json.RawMessage, dirs []string) error {
	rec := env.Recorder
	if sr, ok := rec.(SyncRecorder); ok {
		return sr.EndSynced(id, outcome, state, dirs)
	}
	for _, d := range dirs {
		if err := durable.SyncDir(d); err != nil {
			return err
		}
	}
	if rec == nil {
		return nil
	}
	return rec.End(id, outcome, state)
}

// depApplied reports whether a dependency of item i was applied in this
// execution. Dependencies finish before i starts, so reading their slots
// here is ordered by the scheduler's channel.
func (env *Scope) depApplied(data *Data, i int) bool {
	for _, d := range env.Flow.DepsAt(i) {
		if data.Applied[d] {
			return true
		}
	}
	return false
}
