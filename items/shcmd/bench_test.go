package shcmd_test

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/internal/procgroup"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

// BenchmarkCurrent is one sh_cmd discovery: a process group, two pipes,
// line splitting, and the state.
func BenchmarkCurrent(b *testing.B) {
	it, err := shcmd.New("bench", shcmd.Params{Current: `printf 'built\n'`, Goal: shcmd.Source{Command: "echo built"}, Ensure: "true"}, items.Env{Dir: b.TempDir()})
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

// BenchmarkCancel measures how long a cancelled command takes to return:
// SIGTERM to its group (a shell with a child and a grandchild), the group
// gone, the pipes drained. It reports ms from cancel to return.
func BenchmarkCancel(b *testing.B) {
	it, err := shcmd.New("bench", shcmd.Params{Current: "echo a", Goal: shcmd.Source{Command: "echo b"}, Ensure: `echo started; sh -c "sleep 30 & sleep 30"`}, items.Env{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		started := make(chan struct{})
		tr := &firstMessage{started: started}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := it.Apply(ctx, items.FnCtx{Op: items.OpEnsure, Progress: tr}, "a", "b")
			done <- err
		}()
		<-started
		// Let the grandchildren start too.
		time.Sleep(20 * time.Millisecond)
		t0 := time.Now()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/cancel")
}

// firstMessage closes started at the first message.
type firstMessage struct {
	once    sync.Once
	started chan struct{}
}

func (f *firstMessage) SetLimit(progress.Limit) {}
func (f *firstMessage) Advance(int64)           {}
func (f *firstMessage) Message(string)          { f.once.Do(func() { close(f.started) }) }
func (f *firstMessage) Output(string)           { f.once.Do(func() { close(f.started) }) }

// BenchmarkW2Item is one item of the shared W2 work as ensure runs it,
// with its groups covered by a watchdog: current, goal, then ensure. It
// reports the CPU of this process (spawning, pipes, waiting) and of the
// commands per item.
func BenchmarkW2Item(b *testing.B) {
	dir := b.TempDir()
	it, err := shcmd.New("s1", shcmd.Params{
		Current: "test -f s1 && echo done || echo absent", Goal: shcmd.Source{Command: "echo done"},
		Ensure: "true", Clean: "rm -f s1", CleanState: shcmd.Source{Command: "echo absent"},
	}, items.Env{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	var d procgroup.Watchdog
	defer d.Close()
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker, Processes: watchdogGroups{&d}}
	ctx := context.Background()
	self, children := cpu()
	for b.Loop() {
		cur, err := it.Current(ctx, fc)
		if err != nil {
			b.Fatal(err)
		}
		goal, err := it.Goal(ctx, fc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := it.Apply(ctx, fc, cur, goal); err != nil {
			b.Fatal(err)
		}
	}
	s, c := cpu()
	b.ReportMetric(float64(s-self)/1e6/float64(b.N), "self-cpu-ms/op")
	b.ReportMetric(float64(c-children)/1e6/float64(b.N), "child-cpu-ms/op")
}

type watchdogGroups struct{ d *procgroup.Watchdog }

func (w watchdogGroups) Started(pgid int) (func(), error) { return w.d.Register(pgid) }

// cpu is the CPU time of this process and of its waited-for children, in ns.
func cpu() (self, children int64) {
	var s, c syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	return s.Utime.Nano() + s.Stime.Nano(), c.Utime.Nano() + c.Stime.Nano()
}
