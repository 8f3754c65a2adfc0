//go:build unix

package state

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"
)

// createAt makes a record started at started with the given ID and state
// (an ended state is reached through Finish), run by pid.
func createAt(t *testing.T, dir, id string, started time.Time, state ExecState, pid int) {
	t.Helper()
	e := sampleExecution()
	e.ID, e.Started, e.PID, e.State = id, started, pid, ExecRunning
	r := mustCreate(t, dir, e)
	if state.Ended() {
		mustOK(t, r.Finish(state, 0, nil))
	} else if state != ExecRunning {
		mustOK(t, r.SetState(state))
	}
	mustOK(t, r.Close())
}

func TestPruneExecutions(t *testing.T) {
	dir := newExecDir(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	t0 := now.Add(-24 * time.Hour)
	dead := deadPID(t)

	var ended []string
	for i := range 105 {
		id := fmt.Sprintf("e%03d", i)
		createAt(t, dir, id, t0.Add(time.Duration(i)*time.Minute), ExecComplete, os.Getpid())
		ended = append(ended, id)
	}
	// Older than every ended one, so beyond the newest 100.
	createAt(t, dir, "live-running", t0.Add(-1*time.Minute), ExecRunning, os.Getpid())
	createAt(t, dir, "live-stopping", t0.Add(-40*24*time.Hour), ExecStopping, os.Getpid())
	createAt(t, dir, "lost", t0.Add(-2*time.Minute), ExecRunning, dead)

	parent := ExecutionsDir(dir)
	staleTemp := filepath.Join(parent, ".e999.peace-tmp-123")
	freshTemp := filepath.Join(parent, ".e998.peace-tmp-456")
	for _, d := range []string{staleTemp, freshTemp} {
		mustOK(t, os.MkdirAll(filepath.Join(d, "logs"), 0o755))
	}
	mustOK(t, os.Chtimes(staleTemp, now.Add(-time.Hour), now.Add(-time.Hour)))
	mustOK(t, os.Chtimes(freshTemp, now, now))

	removed, err := PruneExecutions(dir, KeepExecutions, KeepExecutionAge, now)
	mustOK(t, err)
	sort.Strings(removed)
	if want := append(slices.Clone(ended[:5]), "lost"); !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	execs, notices, err := ListExecutions(dir)
	mustOK(t, err)
	var kept []string
	for _, e := range execs {
		kept = append(kept, e.ID)
	}
	sort.Strings(kept)
	want := append(slices.Clone(ended[5:]), "live-running", "live-stopping")
	sort.Strings(want)
	if !slices.Equal(kept, want) || len(notices) != 0 {
		t.Errorf("kept %d: %v (notices %v), want %d", len(kept), kept, notices, len(want))
	}
	if _, err := os.Stat(staleTemp); !os.IsNotExist(err) {
		t.Errorf("a stale temporary record is left: %v", err)
	}
	if _, err := os.Stat(freshTemp); err != nil {
		t.Errorf("a temporary record in the making was removed: %v", err)
	}

	// Again: nothing more to remove.
	if removed, err := PruneExecutions(dir, KeepExecutions, KeepExecutionAge, now); err != nil || len(removed) != 0 {
		t.Errorf("second prune removed %v, %v", removed, err)
	}
}

func TestPruneExecutionsByAge(t *testing.T) {
	dir := newExecDir(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	createAt(t, dir, "new", now.Add(-time.Hour), ExecComplete, os.Getpid())
	createAt(t, dir, "month", now.Add(-29*24*time.Hour), ExecFailed, os.Getpid())
	createAt(t, dir, "old", now.Add(-31*24*time.Hour), ExecInterrupted, os.Getpid())
	createAt(t, dir, "old-live", now.Add(-31*24*time.Hour), ExecRunning, os.Getpid())
	removed, err := PruneExecutions(dir, KeepExecutions, KeepExecutionAge, now)
	if err != nil || !slices.Equal(removed, []string{"old"}) {
		t.Errorf("removed %v, %v; want [old]", removed, err)
	}
	if got := names(t, ExecutionsDir(dir)); !slices.Equal(got, []string{"month", "new", "old-live"}) {
		t.Errorf("left %v", got)
	}
	if removed, err := PruneExecutions(newExecDir(t), 1, 0, now); err != nil || removed != nil {
		t.Errorf("prune of no records: %v, %v", removed, err)
	}
}

// An ID that does not begin with its start time is read wherever it sorts:
// after time-stamped ones too, whose oldest alone says nothing of it.
func TestPruneExecutionsByAgeMixedIDs(t *testing.T) {
	dir := newExecDir(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	stamped := now.Add(-time.Hour).Format(idTimeLayout) + "-abcdef"
	createAt(t, dir, stamped, now.Add(-time.Hour), ExecComplete, os.Getpid())
	createAt(t, dir, "my-run", now.Add(-31*24*time.Hour), ExecComplete, os.Getpid())
	removed, err := PruneExecutions(dir, KeepExecutions, KeepExecutionAge, now)
	if err != nil || !slices.Equal(removed, []string{"my-run"}) {
		t.Errorf("removed %v, %v; want [my-run]", removed, err)
	}
}

// With IDs that begin with their start time (as NewExecutionID makes them),
// only the records that may go are read, and the newest.
func TestPruneExecutionsReadsOnlyCandidates(t *testing.T) {
	dir := newExecDir(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	t0 := now.Add(-24 * time.Hour)
	dead := deadPID(t)

	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	var ids []string
	for i := range 106 {
		id := newExecutionIDAt(at(i))
		st, pid := ExecComplete, os.Getpid()
		switch i {
		case 0:
			st = ExecRunning // live, beyond the newest 100: kept
		case 1:
			st, pid = ExecRunning, dead // lost, beyond: removed
		case 105:
			st, pid = ExecRunning, dead // lost, the newest: kept
		}
		createAt(t, dir, id, at(i), st, pid)
		ids = append(ids, id)
	}
	month := newExecutionIDAt(now.Add(-31 * 24 * time.Hour))
	createAt(t, dir, month, now.Add(-31*24*time.Hour), ExecFailed, os.Getpid())

	// A record among the newest 100 that cannot be read: read, it would be
	// moved aside as corrupt.
	corrupt := filepath.Join(recordDir(dir, ids[50]), executionFile)
	mustOK(t, os.WriteFile(corrupt, []byte("{not json"), 0o644))
	// What a killed writer left in the newest record.
	litter := filepath.Join(recordDir(dir, ids[105]), ".execution.json.peace-tmp-1")
	mustOK(t, os.WriteFile(litter, []byte("x"), 0o644))

	removed, err := PruneExecutions(dir, KeepExecutions, KeepExecutionAge, now)
	mustOK(t, err)
	sort.Strings(removed)
	// 107 records: the oldest 7 by ID are beyond the newest 100; the live
	// one stays.
	want := []string{month, ids[1], ids[2], ids[3], ids[4], ids[5]}
	sort.Strings(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if b, err := os.ReadFile(corrupt); err != nil || string(b) != "{not json" {
		t.Errorf("a record among the newest was read: %q, %v", b, err)
	}
	if _, err := os.Stat(litter); !os.IsNotExist(err) {
		t.Errorf("the temporary file in the newest, lost record is left: %v", err)
	}
	if _, err := os.Stat(recordDir(dir, ids[0])); err != nil {
		t.Errorf("the live record was removed: %v", err)
	}
	if removed, err := PruneExecutions(dir, KeepExecutions, KeepExecutionAge, now); err != nil || len(removed) != 0 {
		t.Errorf("second prune removed %v, %v", removed, err)
	}
}
