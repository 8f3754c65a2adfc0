//go:build linux

package cmdctx_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/internal/proc"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/progress"
)

// KillAll ends a command that ignores SIGTERM at once, in this process —
// no exit, no watchdog — and the execution ends with its item interrupted.
func TestKillAllKillsWhatIgnoresTERM(t *testing.T) {
	dir := t.TempDir()
	flow, err := items.Parse("flow.yaml", []byte(`
flow: stubborn
items:
  - id: mule
    type: sh_cmd
    params:
      current: "echo absent"
      goal: {value: done}
      ensure: "trap '' TERM; echo $$ > mule.pid; while :; do sleep 0.05; done"
`), dir, items.NewRegistry(shcmd.Type))
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: filepath.Join(dir, ".peace"), Flow: flow, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	id := cc.Queue(context.Background(), cmdexecution.Ensure(false))
	pidFile := filepath.Join(dir, "mule.pid")
	var pid int
	waitFor(t, "the command to start", func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	start := time.Now()
	cc.KillAll()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pidStart := proc.Start(pid)
	defer func() {
		if proc.Same(pid, pidStart) { // once reaped, the number may be another's
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	res, err := cc.Wait(wctx, id)
	if err != nil {
		t.Fatalf("the execution did not end after KillAll: %v", err)
	}
	took := time.Since(start)
	if alive, _ := proc.Alive(pid); alive {
		t.Errorf("the command %d is alive after KillAll", pid)
	}
	if res.Items[0].Status != progress.StatusInterrupted || res.Outcome != "interrupted" {
		t.Errorf("mule %s, outcome %s", res.Items[0].Status, res.Outcome)
	}
	// Not SIGTERM and the grace: SIGKILL at once.
	if took >= shcmd.Grace {
		t.Errorf("the execution took %s to end after KillAll: the kill waited for a grace", took)
	}
}
