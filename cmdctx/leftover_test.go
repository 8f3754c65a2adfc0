//go:build linux

package cmdctx_test

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/internal/proc"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// A run that died mid-apply with its watchdog gone leaves a group running;
// the next command kills it before it discovers anything.
func TestRecoveryKillsRecordedGroups(t *testing.T) {
	a := &counter{}
	cc, ev, ws := setup(t, a)

	// The group an earlier run's apply of a started: a leader and a child.
	left := exec.Command("sh", "-c", "sleep 60 & sleep 60")
	left.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := left.Process.Pid
	start := proc.Start(pgid)
	defer func() {
		// Only while the number is still its: once reaped, it may be
		// another test's process group.
		if proc.Same(pgid, start) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	reaped := make(chan struct{})
	go func() { left.Wait(); close(reaped) }()

	// Another store on the same files: the earlier run's process.
	j, err := state.Open(state.Dir(ws, "default", "counters")).OpenJournal("earlier", "ensure")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin("a"); err != nil {
		t.Fatal(err)
	}
	if err := j.Group("a", pgid, proc.Start(pgid)); err != nil {
		t.Fatal(err)
	}
	// No end, no close: the run died here.

	if _, err := cc.Exec(context.Background(), ensure()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reaped:
	case <-time.After(5 * time.Second):
	}
	if proc.GroupAlive(pgid) {
		t.Errorf("group %d of the earlier run is still alive", pgid)
	}
	found := false
	for _, e := range ev.of(progress.Notice) {
		found = found || (e.Item == "a" && strings.Contains(e.Message, "killed process group"))
	}
	if !found {
		t.Error("no notice says the group was killed")
	}
}

// A recorded group whose number now belongs to another process (its
// leader's start time differs) is left alone.
func TestRecoveryLeavesReusedGroupsAlone(t *testing.T) {
	a := &counter{}
	cc, _, ws := setup(t, a)
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := other.Process.Pid
	defer func() { syscall.Kill(-pgid, syscall.SIGKILL); other.Wait() }()

	// Another store on the same files: the earlier run's process.
	j, err := state.Open(state.Dir(ws, "default", "counters")).OpenJournal("earlier", "ensure")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin("a"); err != nil {
		t.Fatal(err)
	}
	if err := j.Group("a", pgid, "not-the-same-boot:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Exec(context.Background(), ensure()); err != nil {
		t.Fatal(err)
	}
	if !proc.GroupAlive(pgid) {
		t.Error("killed a group whose leader is another process")
	}
}
