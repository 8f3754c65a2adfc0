package gcpace

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

const (
	// smallPercent is the GOGC while the live heap is small: the heap may
	// grow to five times what is live before a collection.
	smallPercent = 400
	// smallLimit bounds the heap while smallPercent is in force: a small
	// live heap never grows a process past it.
	smallLimit = 128 << 20
	// largeLive is the live heap from which Go's default takes over: below
	// it, smallPercent lets the heap reach at most smallLimit.
	largeLive = smallLimit / 5
)

// Set paces the collector for a peace command, unless the environment
// sets GOGC or GOMEMLIMIT: those are the operator's, and win. It reports
// whether it changed anything.
func Set() bool {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetGCPercent(smallPercent)
	debug.SetMemoryLimit(smallLimit)
	watch()
	return true
}

// watch looks at the live heap after every collection, until it is large:
// then Go's default pacing comes back and the limit goes. A finalizer on
// an object nothing refers to runs after each collection that frees it.
func watch() {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		if liveHeap() >= largeLive {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			return
		}
		watch()
	})
}

// sentinel is big enough to get an allocation of its own: the tiny
// allocator's blocks may never run their objects' finalizers.
type sentinel struct{ _ [16]byte }

// liveHeap is the heap marked live by the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
