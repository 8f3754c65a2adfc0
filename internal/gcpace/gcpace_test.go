package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// percent is the GOGC in force.
func percent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func restore(t *testing.T) {
	t.Cleanup(func() {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	})
}

// While the live heap is small the collector is paced for a short command;
// once a collection finds it large, Go's default pacing is back and the
// limit gone.
func TestSmallThenDefault(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restore(t)
	runtime.GC()
	if live := liveHeap(); live >= largeLive {
		t.Fatalf("the test starts with %d bytes live, not a small heap", live)
	}
	if !Set() {
		t.Fatal("Set changed nothing with GOGC and GOMEMLIMIT unset")
	}
	if p := percent(); p != smallPercent {
		t.Fatalf("GOGC %d while the heap is small, want %d", p, smallPercent)
	}
	if l := debug.SetMemoryLimit(-1); l != smallLimit {
		t.Fatalf("memory limit %d while the heap is small, want %d", l, smallLimit)
	}
	runtime.GC()
	runtime.GC()
	if p := percent(); p != smallPercent {
		t.Fatalf("GOGC %d after collections of a small heap, want %d", p, smallPercent)
	}

	big := make([][]byte, 0, 64)
	for range 2 * largeLive / (1 << 20) {
		big = append(big, make([]byte, 1<<20))
	}
	deadline := time.Now().Add(10 * time.Second)
	for percent() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d with %d bytes live", percent(), liveHeap())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit %d once the heap is large, want none", l)
	}
	runtime.KeepAlive(big)
}

// The operator's GOGC or GOMEMLIMIT wins.
func TestEnvironmentWins(t *testing.T) {
	restore(t)
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, "200")
			debug.SetGCPercent(100)
			if Set() {
				t.Fatalf("Set paced the collector with %s set", env)
			}
			if p := percent(); p != 100 {
				t.Fatalf("GOGC %d with %s set, want it untouched", p, env)
			}
		})
	}
}
