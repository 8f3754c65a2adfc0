package shcmd_test

import (
	"context"
	"fmt"
	"os"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

// An sh_cmd item whose ensure makes a generated ID: it writes it to the
// file $PEACE_STATE_OUT names, so that ID, not the goal, is the state to
// record, and clean can read it back later from PEACE_STORED_STATE. What
// the commands print is their log.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	it, _ := shcmd.New("volume", shcmd.Params{
		Current:    `cat volume 2>/dev/null || echo absent`,
		Goal:       shcmd.Source{Command: `echo created`},
		Ensure:     `echo "creating a volume"; echo "vol-$PEACE_ITEM_ID-7" | tee volume > "$PEACE_STATE_OUT"`,
		Clean:      `echo "deleting $PEACE_STORED_STATE"; rm volume`,
		CleanState: shcmd.Source{Command: `echo absent`},
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
