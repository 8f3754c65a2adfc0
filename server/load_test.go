package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// chattyFlow has items that print many lines each (one event a line) and
// always apply, so every ensure runs them again.
func chattyFlow(items, lines int) string {
	var b strings.Builder
	b.WriteString("flow: chatty\nitems:\n")
	for i := range items {
		fmt.Fprintf(&b, `  - id: talk%d
    type: sh_cmd
    params:
      current: "echo absent"
      goal: "echo done"
      ensure: "i=0; while [ $i -lt %d ]; do echo line $i; i=$((i+1)); done; sleep 0.2"
      clean: "true"
      clean_state: "echo absent"
`, i, lines)
	}
	return b.String()
}

// follower reads one execution's whole stream and checks that its seqs
// run from 1 with no gap; it returns the last seq.
func follower(t testing.TB, ts *testServer, id string) (last int64, err error) {
	var seqs []int64
	ended := false
	readSSE(t, ts.base, ts.token, "/api/v1/executions/"+id+"/events?from=1", "", func(ev sseEvent) bool {
		if ev.Event == "end" {
			ended = true
			return false
		}
		seqs = append(seqs, ev.ID)
		return true
	})
	if !ended {
		return 0, fmt.Errorf("stream of %s ended without its end event after %d events", id, len(seqs))
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			return 0, fmt.Errorf("event %d has seq %d", i, s)
		}
	}
	if len(seqs) == 0 {
		return 0, fmt.Errorf("no events")
	}
	return seqs[len(seqs)-1], nil
}

// TestLoad: 50 clients follow one running execution, then 20 executions
// are started back to back; no client misses an event.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const clients, executions = 50, 20
	ts := startServer(t, writeFlow(t, chattyFlow(4, 200)))
	done := make(chan struct{})
	budget := 120 * time.Second
	timer := time.AfterFunc(budget, func() {
		select {
		case <-done:
		default:
			panic(fmt.Sprintf("TestLoad did not finish within %s", budget))
		}
	})
	defer timer.Stop()
	defer close(done)

	start := time.Now()
	e := ts.start("ensure")
	var wg sync.WaitGroup
	lasts := make([]int64, clients)
	errs := make([]error, clients)
	for i := range clients {
		wg.Go(func() { lasts[i], errs[i] = follower(t, ts, e.ID) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var x execution
	ts.do("GET", "/api/v1/executions/"+e.ID, nil, &x)
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		if lasts[i] != x.LastSeq {
			t.Fatalf("client %d saw up to seq %d, the execution has %d", i, lasts[i], x.LastSeq)
		}
	}
	if x.State != "complete" {
		t.Fatalf("execution %s", x.State)
	}
	t.Logf("%d clients × %d events in %s: %.0f events/s delivered", clients, x.LastSeq, elapsed.Round(time.Millisecond),
		float64(int64(clients)*x.LastSeq)/elapsed.Seconds())

	// 20 executions back to back, each followed by two clients.
	start = time.Now()
	total := int64(0)
	for n := range executions {
		command := "ensure"
		if n%2 == 1 {
			command = "status"
		}
		e := ts.start(command)
		var wg sync.WaitGroup
		var l [2]int64
		var er [2]error
		for i := range 2 {
			wg.Go(func() { l[i], er[i] = follower(t, ts, e.ID) })
		}
		wg.Wait()
		for i := range 2 {
			if er[i] != nil || l[i] != l[0] {
				t.Fatalf("execution %d (%s): client %d: %v (last %d, other %d)", n, command, i, er[i], l[i], l[0])
			}
		}
		total += l[0]
		var out json.RawMessage
		if code := ts.do("GET", "/api/v1/executions/"+e.ID+"/outcome", nil, &out); code != 200 {
			t.Fatalf("execution %d: outcome %d", n, code)
		}
	}
	t.Logf("%d executions back to back in %s, %d events, none lost", executions, time.Since(start).Round(time.Millisecond), total)
}

// BenchmarkEventDelivery measures the events per second the server
// delivers to 10 clients following one execution.
func BenchmarkEventDelivery(b *testing.B) {
	const clients = 10
	ts := startServer(b, writeFlow(b, chattyFlow(2, 1000)))
	var events int64
	start := time.Now()
	for b.Loop() {
		e := ts.start("ensure")
		var wg sync.WaitGroup
		lasts := make([]int64, clients)
		for i := range clients {
			wg.Go(func() {
				var err error
				if lasts[i], err = follower(b, ts, e.ID); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		for _, l := range lasts {
			events += l
		}
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}
