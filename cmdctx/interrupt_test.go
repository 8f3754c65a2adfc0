package cmdctx_test

import (
	"context"
	"testing"
	"time"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/progress"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInterruptSourceStages(t *testing.T) {
	a := &counter{gate: make(chan struct{})}
	cc, ev, _ := setup(t, a)
	killed := make(chan struct{})
	src := cc.Interrupts(cmdctx.InterruptOptions{OnKill: func() { close(killed) }})
	defer src.Close()
	id := cc.Queue(context.Background(), ensure())
	waitFor(t, "a to apply", func() bool { return a.applying.Load() > 0 })

	// Two presses closer than the repeat window are one: a stop.
	src.Press("test")
	src.Press("test")
	waitFor(t, "the stop", func() bool { return len(ev.of(progress.InterruptReceived)) == 1 })
	time.Sleep(cmdctx.RepeatWindow / 2)
	if n := len(ev.of(progress.CancelRequested)); n != 0 {
		t.Fatalf("a double-delivered press cancelled (%d cancel events)", n)
	}

	// A press after the window cancels.
	time.Sleep(cmdctx.RepeatWindow)
	src.Press("test")
	waitFor(t, "the cancel", func() bool { return len(ev.of(progress.CancelRequested)) == 1 })
	res, err := cc.Wait(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "interrupted" || res.Items[0].Status != progress.StatusInterrupted {
		t.Errorf("outcome %s, a %s", res.Outcome, res.Items[0].Status)
	}

	// The third press kills and hands back to the caller.
	time.Sleep(cmdctx.RepeatWindow)
	src.Press("test")
	select {
	case <-killed:
	case <-time.After(10 * time.Second):
		t.Fatal("the third press did not call OnKill")
	}
}

func TestInterruptSourceStopTimeout(t *testing.T) {
	a := &counter{gate: make(chan struct{})}
	cc, ev, _ := setup(t, a)
	src := cc.Interrupts(cmdctx.InterruptOptions{StopTimeout: 50 * time.Millisecond})
	defer src.Close()
	id := cc.Queue(context.Background(), ensure())
	waitFor(t, "a to apply", func() bool { return a.applying.Load() > 0 })
	src.Press("test")
	// The item waits on its gate forever: only a cancel ends it.
	res, err := cc.Wait(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.of(progress.CancelRequested)) != 1 || res.Items[0].Status != progress.StatusInterrupted {
		t.Errorf("cancel events %d, a %s", len(ev.of(progress.CancelRequested)), res.Items[0].Status)
	}
}
