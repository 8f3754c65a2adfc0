//go:build linux

package cmdblock

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peace-go/peace/internal/procgroup"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// procItem runs a shell command, gated, in Current and in Apply, the way
// sh_cmd does: each leaves a background `sleep 30` and prints its pid.
type procItem struct {
	mu    sync.Mutex
	left  []int // the background children, Current's then Apply's
	pgids []int
}

func (p *procItem) run(fc items.FnCtx) error {
	g := procgroup.Shell(`sleep 30 >/dev/null 2>&1 & echo $!`)
	out, err := g.Cmd.StdoutPipe()
	if err != nil {
		return err
	}
	pgid, err := g.Start()
	if err != nil {
		return err
	}
	ended, err := fc.Processes.Started(pgid)
	if err != nil {
		g.Abort()
		_ = g.Cmd.Wait()
		return err
	}
	defer ended()
	if err := g.Open(); err != nil {
		return err
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if err := g.Cmd.Wait(); err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return fmt.Errorf("printed %q", line)
	}
	p.mu.Lock()
	p.left = append(p.left, pid)
	p.pgids = append(p.pgids, pgid)
	p.mu.Unlock()
	return nil
}

func (p *procItem) Current(_ context.Context, fc items.TypedFnCtx[string]) (string, error) {
	return "off", p.run(fc.FnCtx)
}
func (p *procItem) Goal(context.Context, items.TypedFnCtx[string]) (string, error) { return "on", nil }
func (p *procItem) Clean(context.Context, items.TypedFnCtx[string]) (string, error) {
	return "off", nil
}
func (p *procItem) Diff(a, b string) items.Diff { return items.Diff{Equal: a == b} }
func (p *procItem) ApplyCheck(_ context.Context, _ items.TypedFnCtx[string], c, g string) (items.ApplyCheck, error) {
	return items.Required(progress.Unknown()), nil
}
func (p *procItem) Apply(_ context.Context, fc items.TypedFnCtx[string], _, g string) (string, error) {
	return g, p.run(fc.FnCtx)
}
func (p *procItem) ApplyDry(_ context.Context, _ items.TypedFnCtx[string], _, g string) (string, error) {
	return g, nil
}

// groupRecorder is a memRecorder that keeps each group record whole.
type groupRecorder struct {
	memRecorder
	groups []string
}

func (r *groupRecorder) Group(item string, pgid int, start string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, "group:"+item)
	r.groups = append(r.groups, fmt.Sprintf("%s %d %s", item, pgid, start))
	return nil
}

// TestProcessGroupsAreCoveredAndRecorded: every process group an item
// starts, in discovery and in apply, is covered by the execution's
// watchdog (closing it kills what a command left behind); an apply's
// group is named in the journal between its begin and end, with its
// leader's start identity, and discovery's is not.
func TestProcessGroupsAreCoveredAndRecorded(t *testing.T) {
	f := items.NewFlow("test")
	it := &procItem{}
	if err := f.Add(items.Typed[string]("a", "proc", it)); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	rec := &groupRecorder{}
	wd := &procgroup.Watchdog{}
	env := &Scope{Flow: f, Execution: "x1", Jobs: 1, Interrupt: NewInterrupt(context.Background(), FinishCurrent),
		Events: &eventLog{}, Recorder: rec, Watchdog: wd}
	_, out := ensure(env)
	if out.Failed() {
		t.Fatalf("outcome %+v", out)
	}
	if len(it.left) != 2 {
		t.Fatalf("commands left %v, want one from discovery and one from apply", it.left)
	}
	if !slices.Equal(rec.records[:2], []string{"begin:a", "group:a"}) || len(rec.records) != 3 || !strings.HasPrefix(rec.records[2], "end:a:applied") {
		t.Errorf("records %v, want begin, group and end of a", rec.records)
	}
	if len(rec.groups) != 1 || !strings.HasPrefix(rec.groups[0], fmt.Sprintf("a %d ", it.pgids[1])) || strings.HasSuffix(rec.groups[0], " ") {
		t.Errorf("group records %q, want the apply's group %d with its start identity", rec.groups, it.pgids[1])
	}
	for _, pid := range it.left {
		if !running(pid) {
			t.Fatalf("background child %d ended before the watchdog was closed", pid)
		}
	}
	if err := wd.Close(); err != nil {
		t.Errorf("close the watchdog: %v", err)
	}
	for _, pid := range it.left {
		for deadline := time.Now().Add(time.Second); running(pid); {
			if time.Now().After(deadline) {
				t.Fatalf("background child %d of a command is alive a second after the watchdog closed", pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// running reports whether pid runs: not gone, not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

var _ GroupRecorder = (*groupRecorder)(nil)
