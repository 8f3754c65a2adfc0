package cmdblock

import (
	"context"
	"fmt"

	"github.com/peace-go/peace/progress"
)

// Diff compares each item's current state with its target: the goal state,
// or the clean state when Clean is set. It needs a Discover block before it.
//
// An item whose states are known only after apply would apply, its diff
// says so, and it may change; so may an item whose states are equal but
// which depends on an item that would or may change (Data.MayChange).
type Diff struct {
	Clean bool
}

func (Diff) Name() string { return "diff" }

func (b Diff) Run(env *Scope, data *Data) Outcome {
	data.Prepare(env.Flow, b.Clean, true)
	target := data.Goal
	if b.Clean {
		target = data.Clean
	}
	return env.run(pass{name: b.Name()}, data, func(ctx context.Context, i int, _ *jobSlot) (progress.Status, error) {
		if err := data.Err[i]; err != nil {
			return "", err // discovery failed: its error, not a diff of nothing
		}
		if !b.Clean {
			data.MayChange[i] = data.MayChange[i] || env.upstreamChanges(data, i, preview{goal: true})
		}
		if data.AfterApply[i] {
			data.MayChange[i] = true
			data.Diff[i].Text = "known after apply"
			return progress.StatusWouldApply, nil
		}
		if !data.Found[i] {
			return "", fmt.Errorf("state not discovered")
		}
		d, err := env.item(data, i).Diff(data.Current[i], target[i])
		if err != nil {
			return "", fmt.Errorf("diff: %w", err)
		}
		data.Diff[i] = d
		if d.Equal {
			return progress.StatusUnchanged, nil
		}
		return progress.StatusWouldApply, nil
	})
}
