//go:build unix

package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type followResult struct {
	lines []EventLine
	e     *Execution
	err   error
}

// follow runs FollowEvents in a goroutine and delivers what it saw.
func follow(ctx context.Context, dir, id string, from int64) <-chan followResult {
	done := make(chan followResult, 1)
	go func() {
		var res followResult
		res.e, res.err = FollowEvents(ctx, dir, id, from, func(l EventLine) error {
			res.lines = append(res.lines, l)
			return nil
		})
		done <- res
	}()
	return done
}

func awaitFollow(t *testing.T, c <-chan followResult) followResult {
	t.Helper()
	select {
	case res := <-c:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not end")
		return followResult{}
	}
}

// checkSeqs fails unless lines hold exactly the events from..to in order,
// after the version record when withVersion, each line as written.
func checkSeqs(t *testing.T, what string, lines []EventLine, withVersion bool, from, to int64) {
	t.Helper()
	if withVersion {
		if len(lines) == 0 || lines[0].Seq != 0 || !strings.Contains(string(lines[0].Line), `"version"`) {
			t.Errorf("%s: first line %v, want the version record", what, lines)
			return
		}
		lines = lines[1:]
	}
	if int64(len(lines)) != to-from+1 {
		t.Errorf("%s: %d events, want %d..%d", what, len(lines), from, to)
	}
	for i, l := range lines {
		want := from + int64(i)
		if l.Seq != want || !strings.HasPrefix(string(l.Line), fmt.Sprintf(`{"seq":%d,`, want)) || strings.Contains(string(l.Line), "\n") {
			t.Errorf("%s: event %d is seq %d %q, want seq %d", what, i, l.Seq, l.Line, want)
			return
		}
	}
}

func TestFollowEvents(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	mustOK(t, r.SetState(ExecRunning))
	id := r.ID()
	ctx := context.Background()
	const last = 40
	const half = 10 // this event reaches the file in two writes

	fromStart := follow(ctx, dir, id, 0)
	fromMiddle := follow(ctx, dir, id, 17)

	raw, err := os.OpenFile(filepath.Join(r.Path(), "events.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	mustOK(t, err)
	defer raw.Close()
	writerDone := make(chan error, 1)
	go func() {
		writerDone <- func() error {
			if err := r.AppendEvent([]byte(`{"type":"version","version":1}`)); err != nil {
				return err
			}
			for seq := 1; seq <= last; seq++ {
				line := fmt.Sprintf(`{"seq":%d,"type":"item_message","message":"%s"}`, seq, strings.Repeat("m", seq))
				if seq == half {
					// A line written in two halves: no follower may
					// pass it before it is whole.
					cut := len(line) / 2
					if _, err := raw.WriteString(line[:cut]); err != nil {
						return err
					}
					time.Sleep(40 * time.Millisecond)
					if _, err := raw.WriteString(line[cut:] + "\n"); err != nil {
						return err
					}
					continue
				}
				if err := r.AppendEvent([]byte(line)); err != nil {
					return err
				}
				time.Sleep(time.Duration(seq%4) * time.Millisecond)
			}
			return nil
		}()
	}()
	mustOK(t, <-writerDone)

	// Every event is written, but the execution has not ended: the
	// followers wait for more.
	time.Sleep(150 * time.Millisecond)
	for _, c := range []<-chan followResult{fromStart, fromMiddle} {
		select {
		case res := <-c:
			t.Fatalf("a follower ended before the execution: %+v", res)
		default:
		}
	}
	late := follow(ctx, dir, id, 1) // starts after everything was written

	mustOK(t, r.Finish(ExecComplete, 0, []byte(`{"outcome":"complete"}`)))
	for name, c := range map[string]<-chan followResult{"from 0": fromStart, "from 17": fromMiddle, "late from 1": late} {
		res := awaitFollow(t, c)
		if res.err != nil || res.e == nil || res.e.State != ExecComplete || *res.e.ExitCode != 0 {
			t.Fatalf("%s: ended with %+v, %v", name, res.e, res.err)
		}
		switch name {
		case "from 0":
			checkSeqs(t, name, res.lines, true, 1, last)
		case "from 17":
			checkSeqs(t, name, res.lines, false, 17, last)
		default:
			checkSeqs(t, name, res.lines, false, 1, last)
		}
	}

	// A finished record is read to its end and no further.
	res := awaitFollow(t, follow(ctx, dir, id, 39))
	checkSeqs(t, "finished, from 39", res.lines, false, 39, last)
	res = awaitFollow(t, follow(ctx, dir, id, last+1))
	if res.err != nil || len(res.lines) != 0 {
		t.Errorf("from past the end: %v, %v", res.lines, res.err)
	}
}

func TestFollowEventsEndsWhenLost(t *testing.T) {
	dir := newExecDir(t)
	runner := startSleeper(t)
	e := sampleExecution()
	e.PID, e.State = runner.Process.Pid, ExecRunning
	r := mustCreate(t, dir, e)
	for seq := 1; seq <= 3; seq++ {
		mustOK(t, r.AppendEvent(fmt.Appendf(nil, `{"seq":%d,"type":"x"}`, seq)))
	}
	c := follow(context.Background(), dir, r.ID(), 1)
	// The runner dies in the middle of a line.
	raw, err := os.OpenFile(filepath.Join(r.Path(), "events.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	mustOK(t, err)
	_, err = raw.WriteString(`{"seq":4,"ty`)
	raw.Close()
	mustOK(t, err)
	time.Sleep(50 * time.Millisecond)
	killAndReap(t, runner)

	res := awaitFollow(t, c)
	if res.err != nil || res.e.State != ExecLost {
		t.Fatalf("ended with %+v, %v", res.e, res.err)
	}
	checkSeqs(t, "lost", res.lines, false, 1, 3)
}

func TestFollowEventsStops(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	mustOK(t, r.AppendEvent([]byte(`{"seq":1}`)))
	mustOK(t, r.AppendEvent([]byte(`{"seq":2}`)))

	ctx, cancel := context.WithCancel(context.Background())
	c := follow(ctx, dir, r.ID(), 0)
	time.Sleep(30 * time.Millisecond)
	cancel()
	if res := awaitFollow(t, c); !errors.Is(res.err, context.Canceled) || len(res.lines) != 2 {
		t.Errorf("cancelled: %v, %d lines", res.err, len(res.lines))
	}

	stop := errors.New("enough")
	_, err := FollowEvents(context.Background(), dir, r.ID(), 0, func(EventLine) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}

	var unknown *UnknownExecutionError
	if _, err := FollowEvents(context.Background(), dir, "20260101-000000-000000", 0, func(EventLine) error { return nil }); !errors.As(err, &unknown) {
		t.Errorf("unknown ID: %v", err)
	}
}

// TestFollowEventsReadsToTheEnd ends the execution in the instant between
// a follower's reaching the end of the file and its look at the record:
// the events written in that instant must still be passed on.
func TestFollowEventsReadsToTheEnd(t *testing.T) {
	dir := newExecDir(t)
	r := mustCreate(t, dir, sampleExecution())
	mustOK(t, r.AppendEvent([]byte(`{"seq":1,"type":"x"}`)))
	var once bool
	followAtEnd = func() {
		if once {
			return
		}
		once = true
		for seq := 2; seq <= 5; seq++ {
			mustOK(t, r.AppendEvent(fmt.Appendf(nil, `{"seq":%d,"type":"x"}`, seq)))
		}
		mustOK(t, r.Finish(ExecFailed, 1, nil))
	}
	defer func() { followAtEnd = nil }()
	res := awaitFollow(t, follow(context.Background(), dir, r.ID(), 1))
	if res.err != nil || res.e.State != ExecFailed {
		t.Fatalf("ended with %+v, %v", res.e, res.err)
	}
	checkSeqs(t, "ended at the end", res.lines, false, 1, 5)
}
