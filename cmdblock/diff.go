package cmdblock

import (
	"context"
	"fmt"

	"github.com/peace-go/peace/progress"
)

// Diff compares each item's current state with its target: the goal state,
// or the clean state when Clean is set. It needs a Discover block before it.
type Diff struct {
	Clean bool
}

func (Diff) Name() string { return "diff" }

func (b Diff) Run(_ context.Context, env *Env, data *Data) Outcome {
	all := env.Flow.Items()
	target := data.Goal
	if b.Clean {
		target = data.Clean
	}
	return env.run(pass{name: b.Name()}, data, func(ctx context.Context, i int) (progress.Status, error) {
		if err := data.Err[i]; err != nil {
			return "", err // discovery failed: its error, not a diff of nothing
		}
		if !data.Found[i] {
			return "", fmt.Errorf("state not discovered")
		}
		d, err := all[i].Diff(data.Current[i], target[i])
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
