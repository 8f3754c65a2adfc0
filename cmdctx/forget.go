package cmdctx

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/state"
)

// ForgetError is a forget that was refused: an item still in the flow, or
// one the record does not hold. Nothing was changed.
type ForgetError struct{ Msg string }

func (e *ForgetError) Error() string { return e.Msg }

// Forget drops items that left the flow from the record — their states and
// their specs — without touching the world, under the lock. An item still
// in the flow, or one the record does not hold, is refused (a
// *ForgetError) and nothing is dropped. It returns the notices of the
// recovery it did first.
func (c *CmdCtx) Forget(ctx context.Context, ids []string) ([]string, error) {
	lock, notice, err := c.store.LockExecution(ctx, "forget", state.NewExecutionID(), c.opts.LockWait, nil)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	var notices []string
	if notice != "" {
		notices = append(notices, notice)
	}
	rec, err := c.store.Recover()
	if err != nil {
		return notices, err
	}
	notices = append(notices, rec.Notices...)
	specs, err := c.store.ItemSpecs(true)
	if err != nil {
		// A corrupt file has been set aside: nothing of it is left to drop.
		notices = append(notices, err.Error())
		if specs == nil {
			return notices, err
		}
	}
	whole := c.opts.Flow.Whole()
	removed := removedIDs(whole, rec, specs)
	for _, id := range ids {
		switch {
		case whole.Index(items.ID(id)) >= 0:
			return notices, &ForgetError{Msg: fmt.Sprintf("forget %s: %s is still an item of flow %s; remove it from the flow first (ensure then cleans it), or forget only items that left the flow", id, id, whole.ID)}
		case !slices.Contains(removed, id):
			return notices, &ForgetError{Msg: fmt.Sprintf("forget %s: no item %s is recorded for flow %s, profile %s%s", id, id, whole.ID, c.opts.Profile, items.DidYouMean(id, removed))}
		}
	}
	if err := c.store.Fold(nilStates(ids), nilStates(ids)); err != nil {
		return notices, fmt.Errorf("forget: %w", err)
	}
	for _, id := range ids {
		delete(specs, id)
	}
	if err := c.store.WriteItemSpecs(specs); err != nil {
		return notices, fmt.Errorf("forget: %w", err)
	}
	return notices, nil
}

// nilStates is an update that drops the states of ids.
func nilStates(ids []string) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(ids))
	for _, id := range ids {
		m[id] = nil
	}
	return m
}
