package shcmd_test

import (
	"context"
	"os/exec"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

// BenchmarkCurrent is one sh_cmd discovery: a process group, two pipes,
// line splitting, and the state.
func BenchmarkCurrent(b *testing.B) {
	it, err := shcmd.New("bench", shcmd.Params{Current: "echo built", Goal: "echo built", Ensure: "true"}, items.Env{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	for b.Loop() {
		if _, err := it.Current(context.Background(), fc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareExec is the floor BenchmarkCurrent is measured against: the
// same command through os/exec alone.
func BenchmarkBareExec(b *testing.B) {
	for b.Loop() {
		if _, err := exec.Command("sh", "-c", "echo built").Output(); err != nil {
			b.Fatal(err)
		}
	}
}
