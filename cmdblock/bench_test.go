package cmdblock

import (
	"context"
	"fmt"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// benchItem is an in-process item with nothing to do but report its state:
// what the framework costs per item, without the world's cost.
type benchItem struct {
	current *string
}

func (b benchItem) Current(context.Context, items.TypedFnCtx[string]) (string, error) {
	return *b.current, nil
}
func (benchItem) Goal(context.Context, items.TypedFnCtx[string]) (string, error)  { return "on", nil }
func (benchItem) Clean(context.Context, items.TypedFnCtx[string]) (string, error) { return "", nil }
func (benchItem) Diff(a, b string) items.Diff                                     { return items.Diff{Equal: a == b} }
func (benchItem) ApplyCheck(_ context.Context, _ items.TypedFnCtx[string], c, g string) (items.ApplyCheck, error) {
	if c == g {
		return items.NotRequired, nil
	}
	return items.Required(progress.Steps(1)), nil
}
func (b benchItem) Apply(_ context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	return g, nil
}
func (benchItem) ApplyDry(_ context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	return g, nil
}

// benchFlow builds n items in chains of 10, so the scheduler has
// dependencies to follow as well as breadth.
func benchFlow(b *testing.B, n int, current string) *items.Flow {
	f := items.NewFlow("bench")
	for i := range n {
		var deps []items.ID
		if i%10 != 0 {
			deps = []items.ID{items.ID(fmt.Sprintf("i%d", i-1))}
		}
		c := current
		if err := f.Add(items.Typed[string](items.ID(fmt.Sprintf("i%d", i)), "bench", benchItem{&c}), deps...); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkEnsure runs discover → ensure over n in-process items, reporting
// the cost per item. "unchanged": nothing to do. "applied": every item
// applied, each state durably recorded in a real journal (begin + end,
// group commit) in a temp dir.
func BenchmarkEnsure(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		for _, mode := range []string{"unchanged", "applied"} {
			b.Run(fmt.Sprintf("%s/items=%d", mode, n), func(b *testing.B) {
				current := "on"
				if mode == "applied" {
					current = "off"
				}
				f := benchFlow(b, n, current)
				store := state.Open(b.TempDir())
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					in := NewInterrupt(context.Background(), FinishCurrent)
					env := &Scope{Flow: f, Execution: "bench", Jobs: 8, Interrupt: in, Events: progress.NewEmitter(progress.Discard)}
					var j *state.Journal
					if mode == "applied" {
						var err error
						if j, err = store.OpenJournal("bench", "ensure"); err != nil {
							b.Fatal(err)
						}
						env.Recorder = j
					}
					data := NewData(f)
					Discover{States: DiscoverCurrent | DiscoverGoal}.Run(env, data)
					out := Apply{Op: items.OpEnsure}.Run(env, data)
					if out.Failed() {
						b.Fatal(out.Errors)
					}
					if j != nil {
						if err := j.Close("complete"); err != nil {
							b.Fatal(err)
						}
					}
					in.Release()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
			})
		}
	}
}
