package progress_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

// rowsOf renders a ledger's rows as "id=label(waiting on)" in their order.
func rowsOf(l *progress.Ledger) string {
	var parts []string
	for _, r := range l.Rows() {
		s := r.ID + "=" + l.Label(r)
		if on := l.WaitingOn(r); r.Phase == progress.PhasePending && len(on) > 0 {
			s += "(" + strings.Join(on, ",") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestLedgerRows(t *testing.T) {
	items := []string{"a", "b", "c"}
	deps := map[string][]string{"b": {"a"}, "c": {"b"}}
	start := progress.Event{Type: progress.ExecutionStart, Execution: "x", Items: items, Deps: deps}
	tests := []struct {
		name    string
		events  []progress.Event
		rows    string
		summary string
	}{
		{"nothing started", []progress.Event{start},
			"a=queued b=waiting(a) c=waiting(b)", "no items"},
		{"a running", []progress.Event{start, {Type: progress.ItemStart, Block: "ensure", Item: "a"}},
			"a=running b=waiting(a) c=waiting(b)", "no items"},
		{"a applied frees b", []progress.Event{start,
			{Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemDone, Item: "a"}},
			"a=applied b=queued c=waiting(b)", "1 applied"},
		{"a failed holds b", []progress.Event{start,
			{Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemFailed, Item: "a", Error: "boom"}},
			"a=failed b=waiting(a) c=waiting(b)", "1 failed"},
		{"clean waits on dependents", []progress.Event{start, {Type: progress.BlockStart, Execution: "x", Block: "clean"}},
			"a=waiting(b) b=waiting(c) c=queued", "no items"},
		{"the end says how every item ended", []progress.Event{start,
			{Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemDone, Item: "a", Status: progress.StatusUnchanged},
			{Type: progress.ExecutionEnd, Execution: "x", Statuses: map[string]progress.Status{
				"a": progress.StatusUnchanged, "b": progress.StatusNotStarted, "c": progress.StatusNotStarted, "z": progress.StatusFailed}}},
			"a=unchanged b=not started c=not started z=failed", "1 unchanged, 1 failed, 2 not started"},
		{"unknown, then a new block", []progress.Event{start,
			{Type: progress.ItemUnknown, Item: "c"},
			{Type: progress.ItemStart, Item: "a"}, {Type: progress.ItemDone, Item: "a", Status: progress.StatusDiscovered},
			{Type: progress.BlockStart, Execution: "x", Block: "ensure"}},
			"a=queued b=waiting(a) c=unknown", "1 unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l progress.Ledger
			for _, ev := range tt.events {
				l.Apply(ev)
			}
			if got := rowsOf(&l); got != tt.rows {
				t.Errorf("rows\n got %s\nwant %s", got, tt.rows)
			}
			if got := l.Summary(); got != tt.summary {
				t.Errorf("summary = %q, want %q", got, tt.summary)
			}
		})
	}
}

// TestLedgerScenario folds the shared scenario and checks what each row
// holds at the end.
func TestLedgerScenario(t *testing.T) {
	clock := progresstest.NewClock()
	began := clock.Now()
	var l progress.Ledger
	for _, ev := range progresstest.Recorded(clock, func(e *progress.Emitter) { progresstest.Scenario(e, clock, nil) }) {
		l.Apply(ev)
	}
	var got []string
	for _, r := range l.Rows() {
		took := "never started"
		if !r.Started.IsZero() {
			took = r.Ended.Sub(r.Started).String()
		}
		got = append(got, fmt.Sprintf("%s %s block=%q %s msg=%q took %s", r.ID, r.Status, r.Block,
			r.Amount(), r.Message, took))
	}
	want := []string{
		`out_dir applied block="ensure"  msg="" took 300ms`,
		`greeting unchanged block="ensure"  msg="" took 100ms`,
		`build applied block="ensure" 5/5 steps msg="Step 5/5" took 11.7s`,
		`upload interrupted block="ensure" 4.0 MiB / 10.0 MiB msg="sending part 1" took 12.2s`,
		`extra not_started block=""  msg="" took never started`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := l.Row("extra"); !r.Ended.After(began) || !r.Started.IsZero() {
		t.Errorf("extra: started %v, ended %v; want no start and the execution's end", r.Started, r.Ended)
	}
	if got, want := l.Summary(), "2 applied, 1 unchanged, 1 interrupted, 1 not started"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestCountsString(t *testing.T) {
	tests := []struct {
		counts progress.Counts
		want   string
	}{
		{nil, "no items"},
		{progress.Counts{"applied": 0}, "no items"},
		{progress.CountStatuses(map[string]progress.Status{
			"a": progress.StatusNotStarted, "b": progress.StatusApplied, "c": "zeta", "d": "odd", "e": progress.StatusApplied}),
			"2 applied, 1 not started, 1 odd, 1 zeta"},
		{progress.Counts{"waiting": 2, "running": 1, "queued": 3, "failed": 1}, "1 failed, 1 running, 3 queued, 2 waiting"},
	}
	for _, tt := range tests {
		if got := tt.counts.String(); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.counts, got, tt.want)
		}
	}
}
