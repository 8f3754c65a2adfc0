package server

import (
	"bytes"
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/result"
	"github.com/peace-go/peace/state"
)

// run is an execution this server started.
type run struct {
	id string
	p  *profile
	cc *cmdctx.CmdCtx // the profile's, or one for the execution's params
	// mem holds the execution when it makes no record (status, diff, dry
	// runs): its events, logs and outcome live in the server's memory.
	mem *memExec

	startOnce sync.Once
	started   chan struct{} // closed when it runs (holds the lock) or has ended
	ran       atomic.Bool   // a block started: it held the lock
	done      chan struct{} // closed when it has ended and res, err are set
	res       *cmdexecution.Result
	err       error
}

func newRun(id string, p *profile, cc *cmdctx.CmdCtx, mem *memExec) *run {
	return &run{id: id, p: p, cc: cc, mem: mem, started: make(chan struct{}), done: make(chan struct{})}
}

func (r *run) emit(ev progress.Event) {
	if r.mem != nil {
		r.mem.add(ev)
	}
	switch ev.Type {
	case progress.BlockStart:
		r.ran.Store(true)
		r.startOnce.Do(func() { close(r.started) })
	case progress.ExecutionEnd:
		// Blocks start once the lock is held and the record says running.
		r.startOnce.Do(func() { close(r.started) })
	}
}

// memExec is an execution without a record, kept in memory in the shapes
// records have: the execution as JSON, its events numbered from 1, the
// lines its items printed, and its result once it has ended.
type memExec struct {
	mu      sync.Mutex
	e       cmdctx.Execution
	events  []progress.Event // events[i].Seq == i+1
	logs    map[string]*bytes.Buffer
	outcome []byte
	changed chan struct{} // closed and replaced whenever something is added
}

func newMemExec(id, command, flow, profile, workspace string, itemIDs []string) *memExec {
	host, _ := os.Hostname()
	its := map[string]string{}
	for _, it := range itemIDs {
		its[it] = "queued"
	}
	m := &memExec{
		e: cmdctx.Execution{ID: id, Command: command, Flow: flow, Profile: profile, Workspace: workspace,
			PID: os.Getpid(), Host: host, State: state.ExecQueued, Started: time.Now().UTC(),
			Params: map[string]string{}, Items: its, Version: state.ExecutionFormatVersion},
		logs: map[string]*bytes.Buffer{}, changed: make(chan struct{}),
	}
	m.e.Actions = m.e.State.Actions()
	return m
}

func (m *memExec) setState(s cmdctx.ExecState) {
	if m.e.State.CanMoveTo(s) {
		m.e.State = s
		m.e.Actions = s.Actions()
	}
}

func (m *memExec) add(ev progress.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev.Seq = uint64(len(m.events) + 1)
	m.events = append(m.events, ev)
	m.e.LastSeq = int64(ev.Seq)
	switch ev.Type {
	case progress.BlockStart:
		m.setState(state.ExecRunning)
	case progress.ItemStart:
		m.e.Items[ev.Item] = "running"
	case progress.ItemDone, progress.ItemFailed, progress.ItemInterrupted, progress.ItemUnknown:
		st := string(ev.Status)
		if st == "" {
			st = string(progress.StatusFailed)
		}
		m.e.Items[ev.Item] = st
	case progress.ItemOutput:
		b := m.logs[ev.Item]
		if b == nil {
			b = &bytes.Buffer{}
			m.logs[ev.Item] = b
		}
		b.WriteString(ev.Line)
		b.WriteByte('\n')
	case progress.InterruptReceived:
		m.setState(state.ExecStopping)
	case progress.CancelRequested:
		m.setState(state.ExecCancelling)
	case progress.ExecutionEnd:
		for id, st := range ev.Statuses {
			m.e.Items[id] = string(st)
		}
	}
	m.notify()
}

func (m *memExec) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// finish records how the execution ended.
func (m *memExec) finish(res *cmdexecution.Result, err error) {
	var out bytes.Buffer
	final, code := state.ExecFailed, 1
	if res != nil && res.Items != nil {
		_ = result.New(&out, result.Options{Format: "json"}).Write(res)
		code = res.ExitCode()
		final = state.EndedState(res.Outcome)
	}
	if err != nil {
		final, code = state.ExecFailed, 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UTC()
	m.e.State, m.e.Ended, m.e.ExitCode = final, &now, &code
	m.e.Actions = final.Actions()
	if out.Len() > 0 {
		m.outcome = out.Bytes()
	}
	m.notify()
}

// snapshot is the execution as it is now.
func (m *memExec) snapshot() cmdctx.Execution {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.e
	e.Items = make(map[string]string, len(m.e.Items))
	for k, v := range m.e.Items {
		e.Items[k] = v
	}
	return e
}

func (m *memExec) log(item string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.logs[item]
	if !ok {
		return nil, false
	}
	return bytes.Clone(b.Bytes()), true
}

func (m *memExec) result() ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.outcome, m.e.State.Ended()
}

// follow passes each event with seq ≥ from to fn, in order, waiting for
// more until the execution has ended and every event has been passed; it
// returns the execution as it ended.
func (m *memExec) follow(ctx context.Context, from int64, fn func(progress.Event) error) (*cmdctx.Execution, error) {
	next := max(from, 1)
	for {
		m.mu.Lock()
		var batch []progress.Event
		if int(next-1) < len(m.events) {
			batch = m.events[next-1:]
		}
		ended := m.e.State.Ended()
		changed := m.changed
		m.mu.Unlock()
		for _, ev := range batch {
			if err := fn(ev); err != nil {
				return nil, err
			}
			next++
		}
		if len(batch) > 0 {
			continue
		}
		if ended {
			e := m.snapshot()
			return &e, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}
