package shcmd_test

import (
	"context"
	"fmt"
	"os"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

// An sh_cmd item whose ensure prints a generated ID: that output, not the
// goal, is the state to record, and clean can read it back later from
// PEACE_STORED_STATE.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	it, _ := shcmd.New("volume", shcmd.Params{
		Current:    `cat volume 2>/dev/null || echo absent`,
		Goal:       `echo created`,
		Ensure:     `echo "vol-$PEACE_ITEM_ID-7" | tee volume`,
		Clean:      `echo "deleting $PEACE_STORED_STATE" >&2; rm volume`,
		CleanState: `echo absent`,
	}, items.Env{Dir: dir})
	ctx := context.Background()
	ensure := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}

	current, _ := it.Current(ctx, ensure)
	goal, _ := it.Goal(ctx, ensure)
	diff, _ := it.Diff(current, goal)
	fmt.Println(diff.Text)

	applied, _ := it.Apply(ctx, ensure, current, goal)
	fmt.Println("recorded:", applied)

	clean := items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker, Stored: applied}
	target, _ := it.Clean(ctx, clean)
	cleaned, _ := it.Apply(ctx, clean, applied, target)
	fmt.Println("cleaned:", cleaned)
	// Output:
	// absent → created
	// recorded: vol-volume-7
	// cleaned: absent
}
