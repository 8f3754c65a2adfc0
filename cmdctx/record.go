package cmdctx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// flushEvery is how often a running execution's record catches up with
// its items' statuses; the event stream has them at once.
const flushEvery = time.Second

// flushEvents is the longest an event waits in memory before it is in
// events.jsonl: one write per batch, not per event, on a busy run. A
// process death loses at most that much of the stream, never a recorded
// state (the journal has those).
const flushEvents = 50 * time.Millisecond

// recording is what an execution that applies leaves on disk while it runs
// (DESIGN §10): its record, fed with the execution's events, and its
// control channel, through which any process interrupts it by ID.
type recording struct {
	c   *CmdCtx
	x   *execution
	rec *state.ExecutionRecord

	mu     sync.Mutex
	events progress.View // the json view over the record's events.jsonl
	buf    *bufio.Writer // events are written in batches (flushEvents)
	logs   map[string]logFile
	tails  map[string][]string // the last tailLines of each item's output
	done   chan struct{}
	wg     sync.WaitGroup
	stopCh func() error // stops listening for control
}

// logFile is an item's log, written in batches as events are: one write
// per flush, not per output line.
type logFile struct {
	*bufio.Writer
	f io.Closer
}

func (l logFile) Close() error {
	err := l.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// startRecording makes the record of x (queued: the lock is not held yet)
// and starts listening for control. The record is durable when it returns.
// ids are the flow's item IDs, each queued in the record.
func (c *CmdCtx) startRecording(x *execution, ids []string) (*recording, error) {
	dir := c.store.Path()
	if _, err := state.PruneExecutions(dir, state.KeepExecutions, state.KeepExecutionAge, time.Now()); err != nil {
		c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: x.id,
			Message: fmt.Sprintf("could not remove old execution records: %v", err)})
	}
	rec, err := state.CreateExecutionOf(dir, state.Execution{
		ID: x.id, Command: x.exec.Command, Flow: string(c.opts.Flow.ID), Profile: c.opts.Profile,
		Workspace: c.workspaceAbs(), State: state.ExecQueued, Params: c.opts.Params,
	}, ids)
	if err != nil {
		return nil, fmt.Errorf("execution record: %w", err)
	}
	buf := bufio.NewWriterSize(rec.EventWriter(), 64<<10)
	r := &recording{c: c, x: x, rec: rec, buf: buf, events: progress.NewJSON(buf),
		logs: map[string]logFile{}, tails: map[string][]string{}, done: make(chan struct{})}
	stages, stop, err := state.ListenControl(dir, x.id)
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		r.discard()
		return nil, fmt.Errorf("execution control: %w", err)
	}
	if err == nil {
		r.stopCh = stop
		r.wg.Go(func() { r.control(stages) })
	}
	r.wg.Go(r.flushLoop)
	return r, nil
}

// Emit takes the execution's events into its record: the json stream with
// its own seq from 1, the items' statuses, the stages, and each output
// line in the item's log.
func (r *recording) Emit(ev progress.Event) {
	if ev.Execution != r.x.id {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A stage is in execution.json before its event is in events.jsonl,
	// so whoever has seen the event reads the state it led to.
	switch ev.Type {
	case progress.InterruptReceived:
		_ = r.rec.SetState(state.ExecStopping)
	case progress.CancelRequested:
		_ = r.rec.SetState(state.ExecCancelling)
	}
	ev.Seq = 0 // numbered per record, so a follower sees no gap
	if ev.Type == progress.ExecutionStart || ev.Type == progress.ExecutionEnd {
		// These name every item: megabytes in a big flow. With nothing
		// buffered before it, the line goes to the record as it is,
		// never joined to a buffered part in a copy.
		_ = r.buf.Flush()
	}
	r.events.Emit(ev)
	switch ev.Type {
	case progress.ExecutionStart, progress.ExecutionEnd, progress.InterruptReceived, progress.CancelRequested,
		progress.Notice, progress.LockWait:
		// What a follower waits for goes out at once; the rest within
		// flushEvents.
		_ = r.buf.Flush()
	}
	switch ev.Type {
	case progress.ItemStart:
		if ev.Block != "discover" {
			r.rec.SetItem(ev.Item, "running")
		}
	case progress.ItemDone, progress.ItemFailed, progress.ItemInterrupted, progress.ItemUnknown:
		if ev.Status != "" && ev.Status != progress.StatusDiscovered {
			r.rec.SetItem(ev.Item, string(ev.Status))
		} else if ev.Type == progress.ItemFailed {
			r.rec.SetItem(ev.Item, string(progress.StatusFailed))
		}
	case progress.ItemOutput:
		r.logLine(ev.Item, ev.Line)
	}
}

// recorders routes each event to the recording of its execution.
type recorders struct {
	mu sync.RWMutex
	by map[string]*recording
}

func (rs *recorders) Emit(ev progress.Event) {
	rs.mu.RLock()
	r := rs.by[ev.Execution]
	rs.mu.RUnlock()
	if r != nil {
		r.Emit(ev)
	}
}

func (rs *recorders) add(r *recording) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.by == nil {
		rs.by = map[string]*recording{}
	}
	rs.by[r.x.id] = r
}

func (rs *recorders) remove(r *recording) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.by, r.x.id)
}

// tailLines is how many of its last output lines a failed item's result
// shows.
const tailLines = 20

// logLine appends one output line to the item's log.
func (r *recording) logLine(item, line string) {
	t := r.tails[item]
	if len(t) == tailLines {
		t = append(t[:0], t[1:]...)
	}
	r.tails[item] = append(t, line)
	f, ok := r.logs[item]
	if !ok {
		w, err := r.rec.Log(item)
		if err != nil {
			return // the events keep the line
		}
		f = logFile{bufio.NewWriter(w), w}
		r.logs[item] = f
	}
	_, _ = f.WriteString(line)
	_ = f.WriteByte('\n')
}

// annotate gives each item of res that failed or was interrupted the last
// lines its commands printed and the log that has them all.
func (r *recording) annotate(res *cmdexecution.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range res.Items {
		it := &res.Items[i]
		if it.Status != progress.StatusFailed && it.Status != progress.StatusInterrupted {
			continue
		}
		if t := r.tails[it.ID]; len(t) > 0 {
			d := it.Detail()
			d.Output = append([]string(nil), t...)
			d.Log = filepath.Join(r.rec.Path(), "logs", it.ID+".log")
		}
	}
}

// running records that the execution holds the lock and runs.
func (r *recording) running() error {
	err := r.rec.SetState(state.ExecRunning)
	var te *state.TransitionError
	if errors.As(err, &te) {
		// A stop came first: the record is already past running.
		return nil
	}
	return err
}

// control turns control messages for the execution into its stages.
func (r *recording) control(stages <-chan state.ControlStage) {
	for st := range stages {
		switch st {
		case state.ControlStop:
			if r.x.interrupt.Stage() == cmdblock.Running {
				r.c.interrupt(r.x, "interrupt "+r.x.id)
			}
		case state.ControlCancel:
			r.cancel()
		case state.ControlKill:
			// Through the stages in order, each announced: the items'
			// contexts are cancelled before their commands are killed,
			// so they end interrupted, not failed.
			r.cancel()
			r.c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: r.x.id, Stage: "kill",
				Message: "kill: every command still in flight is killed"})
			r.c.killExecution(r.x)
		}
	}
}

// cancel advances the execution to the cancel stage, through the stop.
func (r *recording) cancel() {
	for r.x.interrupt.Stage() < cmdblock.Cancelling {
		before := r.x.interrupt.Stage()
		if r.c.interrupt(r.x, "interrupt "+r.x.id) == before {
			return // interrupts ignored by the strategy
		}
	}
}

func (r *recording) flushLoop() {
	t := time.NewTicker(flushEvents)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.done:
			return
		case now := <-t.C:
			r.mu.Lock()
			_ = r.buf.Flush()
			for _, f := range r.logs {
				_ = f.Flush()
			}
			r.mu.Unlock()
			if now.Sub(last) >= flushEvery {
				last = now
				_ = r.rec.Flush()
			}
		}
	}
}

// finish writes the outcome and the final state, stops listening and
// closes the record. A nil result means the execution failed before it
// ran (err says why).
func (r *recording) finish(res *cmdexecution.Result, err error) {
	r.shutdown()
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.events.Close()
	_ = r.buf.Flush()
	for _, f := range r.logs {
		_ = f.Close()
	}
	final, code := state.ExecFailed, 1
	var outcome func(io.Writer) error
	if res != nil && res.Items != nil {
		for _, it := range res.Items {
			r.rec.SetItem(it.ID, string(it.Status))
		}
		outcome = res.WriteOutcome
		code = res.ExitCode()
		final = state.EndedState(res.Outcome)
		if err != nil {
			final, code = state.ExecFailed, 1
		}
	}
	if ferr := r.rec.FinishWith(final, code, outcome); ferr != nil {
		fmt.Fprintf(os.Stderr, "peace: execution record %s: %v\n", r.x.id, ferr)
	}
	_ = r.rec.Close()
}

// discard removes the record of an execution that never ran: the lock was
// held by another live run, or the lock could not be taken. Bad input
// leaves no record.
func (r *recording) discard() {
	r.shutdown()
	_ = r.rec.Close()
	_ = os.RemoveAll(r.rec.Path())
}

func (r *recording) shutdown() {
	select {
	case <-r.done:
		return
	default:
		close(r.done)
	}
	if r.stopCh != nil {
		_ = r.stopCh()
	}
	r.wg.Wait()
}
