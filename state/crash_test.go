package state

import (
	"bufio"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// killedBySIGKILL reports whether a helper ended by SIGKILL.
func killedBySIGKILL(err error) bool {
	var exit interface{ Sys() any }
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// A run is killed with SIGKILL while 8 goroutines record items: every item
// whose End had returned is recovered, with its state, and nothing fails.
func TestKillDuringJournalWrites(t *testing.T) {
	for round := range 3 {
		s := newStore(t)
		cmd := helper(t, "journal-writer", s.Path())
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		lines := bufio.NewScanner(out)
		var acked []string
		for len(acked) < 200 && lines.Scan() {
			acked = append(acked, strings.TrimPrefix(lines.Text(), "ok "))
		}
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		for lines.Scan() { // acknowledged before the kill landed
			acked = append(acked, strings.TrimPrefix(lines.Text(), "ok "))
		}
		if err := cmd.Wait(); !killedBySIGKILL(err) {
			t.Fatalf("helper ended with %v", err)
		}
		if len(acked) < 200 {
			t.Fatalf("helper acknowledged only %d items", len(acked))
		}

		check := func(what string, rec *Recorded) {
			t.Helper()
			for _, item := range acked {
				n, err := strconv.ParseInt(strings.TrimPrefix(item, "item_"), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				if got := rec.Current[item]; !sameJSON(got, killState(n)) {
					t.Fatalf("round %d, %s: %s = %s after the kill", round, what, item, got)
				}
				if slices.Contains(rec.Unknown, item) {
					t.Errorf("round %d, %s: acknowledged %s is unknown", round, what, item)
				}
			}
		}
		rec := mustLoad(t, s)
		check("Load", rec)
		if !slices.ContainsFunc(rec.Notices, func(n string) bool { return strings.Contains(n, "did not finish") }) {
			t.Errorf("notices %q lack the unfinished execution", rec.Notices)
		}
		t.Logf("round %d: %d acknowledged, %d recorded, %d unknown, notices %q",
			round, len(acked), len(rec.Current), len(rec.Unknown), rec.Notices)
		rec, err = s.Recover()
		must(t, err)
		check("Recover", rec)
		check("Load after Recover", mustLoad(t, s))
	}
}

// Fold killed at its crash points: what it wrote and what the journal holds
// still add up, and Recover finishes the job.
func TestFoldCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		at          string
		current     map[string]string
		goal        string
		journalLeft bool
	}{
		// Only the goal snapshot is new; the journal still holds x.
		{"fold:between_snapshots", map[string]string{"x": `"applied"`, "y": `"keep"`}, `"g1"`, true},
		// Both snapshots are new; the journal, not yet reset, must not
		// replay x over the rediscovered state.
		{"fold:after_snapshots", map[string]string{"x": `"rediscovered"`, "y": `"keep"`, "z": `"new"`}, `"g1"`, true},
		// Not armed: the fold completes.
		{"", map[string]string{"x": `"rediscovered"`, "y": `"keep"`, "z": `"new"`}, `"g1"`, false},
	} {
		name := strings.TrimPrefix(tc.at, "fold:")
		if name == "" {
			name = "unarmed"
		}
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			must(t, s.Fold(states("x", `"old"`, "y", `"keep"`), states("x", `"g0"`)))
			err := helper(t, "fold", s.Path(), crashEnv+"="+tc.at).Run()
			if tc.at != "" && !killedBySIGKILL(err) {
				t.Fatalf("helper ended with %v, want SIGKILL", err)
			}
			if tc.at == "" && err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(s.journalPath())
			if left := statErr == nil; left != tc.journalLeft {
				t.Errorf("journal left: %v, want %v", left, tc.journalLeft)
			}
			want := states()
			for id, v := range tc.current {
				want[id] = raw(v)
			}
			for _, step := range []string{"Load", "Recover", "Load after Recover"} {
				var rec *Recorded
				if step == "Recover" {
					rec, err = s.Recover()
					must(t, err)
				} else {
					rec = mustLoad(t, s)
				}
				assertStates(t, step+" current", rec.Current, want)
				assertStates(t, step+" goal", rec.Goal, states("x", tc.goal))
				if len(rec.Unknown) != 0 {
					t.Errorf("%s: unknown %q", step, rec.Unknown)
				}
			}
			if _, err := os.Stat(s.journalPath()); !errors.Is(err, os.ErrNotExist) {
				t.Error("journal left after Recover")
			}
		})
	}
}
