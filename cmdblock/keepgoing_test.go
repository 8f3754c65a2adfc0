package cmdblock

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// a fails; b needs a, c needs b; d needs nothing. Without keep-going the
// failure stops every start; with it, only what needs a is held back. Each
// item held back says which failure held it.
func TestKeepGoingAndWhyNotStarted(t *testing.T) {
	for _, keep := range []bool{false, true} {
		w := newWorld()
		f, its := flowOf(t, w, "a:", "b:a", "c:b", "d:", "e:d")
		its["a"].apply = func(context.Context) error { return errors.New("broken") }
		env, _, _ := newEnv(f, 1, FinishCurrent) // one at a time: a runs first
		env.KeepGoing = keep
		data, o := ensure(env)
		status := func(id string) progress.Status { return data.Status[f.Index(items.ID(id))] }
		errOf := func(id string) string {
			if err := data.Err[f.Index(items.ID(id))]; err != nil {
				return err.Error()
			}
			return ""
		}
		if status("a") != progress.StatusFailed {
			t.Fatalf("keep=%v: a %s", keep, status("a"))
		}
		for _, id := range []string{"b", "c"} {
			if status(id) != progress.StatusNotStarted || errOf(id) != "not started: a failed" {
				t.Errorf("keep=%v: %s %s %q, want not started because a failed", keep, id, status(id), errOf(id))
			}
		}
		if keep {
			for _, id := range []string{"d", "e"} {
				if status(id) != progress.StatusApplied {
					t.Errorf("keep-going: %s %s, want applied: it does not need a", id, status(id))
				}
			}
		} else {
			for _, id := range []string{"d", "e"} {
				if status(id) != progress.StatusNotStarted || !strings.Contains(errOf(id), "a failed") {
					t.Errorf("%s %s %q, want not started because a failed", id, status(id), errOf(id))
				}
			}
		}
		if slices.Contains(o.Finished, "b") || slices.Contains(o.Finished, "c") {
			t.Errorf("keep=%v: finished %v lists items that never ran", keep, o.Finished)
		}
	}
}
