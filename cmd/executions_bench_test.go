//go:build linux

package cmd_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildPeaceFor builds the real binary for a benchmark.
func buildPeaceFor(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "peace")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/peace-go/peace").CombinedOutput()
	if err != nil {
		b.Fatalf("build peace: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkDetach measures `ensure --detach` until it has printed the
// execution's ID (DESIGN §9: within 0.5 s). The execution itself, which
// finishes at once, is waited for outside the measure.
func BenchmarkDetach(b *testing.B) {
	r := newRig(b, buildPeaceFor(b), "quick", quickFlow)
	var longest time.Duration
	for b.Loop() {
		began := time.Now()
		id := r.detach()
		longest = max(longest, time.Since(began))
		b.StopTimer()
		r.awaitEnd(id)
		b.StartTimer()
	}
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-ms")
}

// BenchmarkInterruptByID measures `peace interrupt ID` from its start to
// the stop event in the execution's events (DESIGN §9: within 0.5 s). The
// execution is started and ended outside the measure.
func BenchmarkInterruptByID(b *testing.B) {
	r := newRig(b, buildPeaceFor(b), "bg", gateFlow)
	var total, longest time.Duration
	n := 0
	b.StopTimer()
	for range b.N {
		id := r.detach()
		r.awaitOutput(id, "gate", "waiting for release")
		b.StartTimer()
		began := time.Now()
		if code, _, errOut := r.run("interrupt", id); code != 0 {
			b.Fatalf("interrupt: exit %d:\n%s", code, errOut)
		}
		stop := r.awaitType(id, "interrupt_received")
		b.StopTimer()
		took := stop.Time.Sub(began)
		total += took
		longest = max(longest, took)
		n++
		if code, _, errOut := r.run("interrupt", id, "--cancel"); code != 0 {
			b.Fatalf("interrupt --cancel: exit %d:\n%s", code, errOut)
		}
		r.awaitEnd(id)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms-to-stop-event")
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-ms-to-stop-event")
}

// BenchmarkNoopRecordCost compares, on a flow of 100 files that are all at
// their goal, an ensure (which makes an execution record, takes the lock
// and records) with a status (which records discovered states, no
// execution record) and an ensure --dry-run (which records nothing): the
// difference is what the record and the lock add to a no-op.
func BenchmarkNoopRecordCost(b *testing.B) {
	var flow strings.Builder
	flow.WriteString("flow: files\nitems:\n")
	for i := range 100 {
		fmt.Fprintf(&flow, "  - id: f%03d\n    type: file\n    params: {path: out/f%03d.txt, content: \"%d\\n\"}\n", i, i, i)
	}
	peace := buildPeaceFor(b)
	for _, args := range [][]string{
		{"ensure", "--progress", "none"},
		{"status", "--progress", "none"},
		{"ensure", "--dry-run", "--progress", "none"},
	} {
		b.Run(strings.Join(args[:len(args)-2], "-"), func(b *testing.B) {
			r := newRig(b, peace, "files", flow.String())
			if code, _, errOut := r.run("ensure", "--progress", "none"); code != 0 {
				b.Fatalf("first ensure: exit %d:\n%s", code, errOut)
			}
			for b.Loop() {
				if code, _, errOut := r.run(args...); code != 0 {
					b.Fatalf("exit %d:\n%s", code, errOut)
				}
			}
		})
	}
}
