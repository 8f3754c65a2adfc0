package itemtest

import (
	"context"
	"encoding/json"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Apply does to it what one ensure (op OpEnsure) or clean (OpClean) does:
// discover the current state and the target, check whether an apply is
// needed, apply. stored is the last recorded state (nil for none); the
// state returned is what would be recorded next, round-tripped through
// JSON as the journal does, or stored itself when nothing was applied.
// A nil tr reports no progress.
func Apply(ctx context.Context, it items.Item, op items.Op, tr progress.Tracker, stored items.State) (applied bool, next items.State, err error) {
	if tr == nil {
		tr = progress.NoTracker
	}
	fc := items.FnCtx{Op: op, Progress: tr, Stored: stored}
	cur, err := it.Current(ctx, fc)
	if err != nil {
		return false, stored, err
	}
	var target items.State
	if op == items.OpClean {
		target, err = it.Clean(ctx, fc)
	} else {
		target, err = it.Goal(ctx, fc)
	}
	if err != nil {
		return false, stored, err
	}
	chk, err := it.ApplyCheck(ctx, fc, cur, target)
	if err != nil || !chk.Required {
		return false, stored, err
	}
	s, err := it.Apply(ctx, fc, cur, target)
	if err != nil {
		return true, stored, err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return true, stored, err
	}
	next, err = it.DecodeState(raw)
	return true, next, err
}
