package cmdblock

import (
	"context"
	"fmt"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// What a Discover block finds.
type What int

const (
	DiscoverCurrent What = 1 << iota
	DiscoverGoal
	DiscoverClean
)

// Discover finds the states of every item: its current state and, as asked,
// its goal or clean state. It carries on past item errors.
type Discover struct {
	What What
}

func (Discover) Name() string { return "discover" }

func (b Discover) Run(_ context.Context, env *Env, data *Data) Outcome {
	all := env.Flow.Items()
	return env.run(pass{name: b.Name()}, data, func(ctx context.Context, i int) (progress.Status, error) {
		it := all[i]
		fc := items.FnCtx{Progress: env.tracker(b.Name(), it.ID()), Stored: data.Stored[i],
			Processes: groups{env: env, item: string(it.ID())}}
		if err := discover(ctx, it, fc, b.What, data, i); err != nil {
			return "", err
		}
		return progress.StatusDiscovered, nil
	})
}

// discover fills data's slots for item i.
func discover(ctx context.Context, it items.Item, fc items.FnCtx, what What, data *Data, i int) error {
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
