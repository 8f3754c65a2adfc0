package cmdctx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/internal/procgroup"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// run is one execution from lock to fold:
//
//	lock → recover (replay the journal of a run that died) → blocks (the
//	journal opens at the first apply) → close journal → fold into
//	snapshots → unlock
//
// Each applied state is durable in the journal as soon as its item ends, so
// the fold at the end only makes the snapshots catch up; a kill anywhere
// loses nothing the journal holds.
func (c *CmdCtx) run(x *execution) (res *cmdexecution.Result, err error) {
	flow := c.opts.Flow
	e := x.exec
	ctx := x.interrupt.ItemContext()
	var data *cmdblock.Data
	var outcome cmdexecution.CmdOutcome
	var recorded *state.Recorded
	var rm *removed    // recorded items no longer in the flow
	var rcd *recording // the record of an execution that applies
	defer func() {
		// The end event goes out before the result is worked out: for a
		// big flow, its statuses and their encoding are not in memory
		// together with the result.
		end := progress.Event{Type: progress.ExecutionEnd, Execution: x.id}
		var removedResults []cmdexecution.ItemResult
		if res != nil && rm != nil {
			removedResults = rm.results()
		}
		if err == nil {
			end.Outcome = outcome.Verdict()
			end.Statuses = make(map[string]progress.Status, flow.Len()+len(removedResults))
			for i, it := range flow.Items() {
				end.Statuses[string(it.ID())] = outcome.Status[i]
			}
			for _, it := range removedResults {
				if it.Status != "" {
					end.Statuses[it.ID] = it.Status
				}
			}
		} else {
			end.Outcome = "failed"
			end.Error = err.Error()
		}
		c.emitter.Emit(end)
		if res != nil {
			res = e.Result(x.id, flow, data, outcome)
			res.Notices = recorded.Notices
			res.Removed = removedResults
			if rcd != nil {
				rcd.annotate(res)
			}
		}
		if rcd != nil {
			c.recorders.remove(rcd)
			if recorded == nil {
				rcd.discard() // it never ran: the lock was not had
			} else {
				rcd.finish(res, err)
			}
		}
	}()

	ids := idStrings(flow)
	if e.Applies() {
		// An execution that changes the world leaves a record (DESIGN
		// §10), made before anything else so that its ID is never shown
		// without it; if the lock cannot be had, it is removed again.
		rcd, err = c.startRecording(x, ids)
		if err != nil {
			return nil, err
		}
		c.recorders.add(rcd)
	}
	c.emitter.Emit(progress.Event{
		Type: progress.ExecutionStart, Execution: x.id, Command: e.Command,
		Flow: string(flow.ID), Profile: c.opts.Profile, Workspace: c.workspaceAbs(),
		Items: ids, Deps: depStrings(flow),
	})
	if e.Recording() {
		lock, err := c.lock(ctx, x)
		if err != nil {
			return nil, err
		}
		defer lock.Release()
		if rcd != nil {
			if err := rcd.running(); err != nil {
				return nil, err
			}
		}
	}
	// The recorded states go straight into data as they are read: no map
	// of every recorded state is held meanwhile.
	data = cmdblock.NewData(flow)
	rs := newRestoring(flow, data)
	if e.Recording() {
		recorded, err = c.store.RecoverEach(rs.take)
		if err != nil {
			return nil, err
		}
		c.killLeftovers(x.id, recorded)
		// Only now is the world this execution's alone: what an earlier
		// run left running is gone (its watchdog kills it too, but on its
		// own time).
		if rcd != nil && c.opts.OnRunning != nil {
			c.opts.OnRunning(x.id)
		}
	} else {
		recorded, err = c.store.Load()
		if err != nil {
			return nil, err
		}
		for id, raw := range recorded.Current {
			rs.take([]byte(id), true, raw)
		}
		for id, raw := range recorded.Goal {
			rs.take([]byte(id), false, raw)
		}
	}
	specs, err := c.openSpecs(x.id, e.Recording())
	if err != nil {
		return nil, err
	}
	prior := c.restore(x.id, recorded, data, rs)
	// Of the recorded states, the items that left the flow need theirs.
	recorded.Current, recorded.Goal = rs.removed, nil
	rm = c.findRemoved(recorded, specs.ofRemoved())
	recorded.Current = nil

	env := &cmdblock.Scope{
		Flow: flow, Execution: x.id, Jobs: c.opts.Jobs, Slots: c.opts.Slots, KeepGoing: c.opts.KeepGoing, Interrupt: x.interrupt,
		Events: c.emitter, Tracker: func(block, item string) progress.Tracker {
			return c.emitter.ItemTracker(x.id, block, item)
		},
		Crash: c.opts.Crash, Watchdog: &x.watchdog,
	}
	// What the items started and left running (a background child) ends
	// with the execution.
	defer x.watchdog.Close()
	var journal *journalOnDemand
	if e.Applies() {
		journal = &journalOnDemand{store: c.store, x: x}
		env.Recorder = journal
	}

	// The items that left the flow are cleaned first, dependents first,
	// by an execution of the whole flow that applies; a stop during their
	// clean leaves the flow's items not started.
	if op, dry, ok := applyOp(e); ok && flow == flow.Whole() && (op == items.OpEnsure || op == items.OpClean) {
		rm.clean(*env, dry)
	}
	outcome = rm.combine(e.Run(env, data))
	res = &cmdexecution.Result{} // worked out in full by the deferred func

	if !e.Recording() {
		return res, nil
	}
	// Recording must happen even when the execution was cancelled: nothing
	// below takes the cancelled item context.
	if journal != nil {
		if err := journal.close(outcome.Verdict()); err != nil {
			return res, fmt.Errorf("close journal: %w", err)
		}
	}
	current, goal, err := updates(flow, data, recorded.Unknown, prior.goal)
	if err != nil {
		return res, err
	}
	// The specs first, so that every state the fold records has one; the
	// records of the removed items cleaned go with the fold, their specs
	// after it (a kill in between leaves a spec to clean again, a no-op).
	cleaned := rm.cleaned()
	newSpecs, err := specs.updates(flow, data, prior.had)
	if err != nil {
		return res, fmt.Errorf("record item specs: %w", err)
	}
	if err := c.store.WriteItemSpecs(newSpecs); err != nil {
		return res, fmt.Errorf("record item specs: %w", err)
	}
	for _, id := range cleaned {
		current[id], goal[id] = nil, nil
	}
	if err := c.store.Fold(current, goal); err != nil {
		return res, fmt.Errorf("record states: %w", err)
	}
	if len(cleaned) > 0 {
		for _, id := range cleaned {
			delete(newSpecs, id)
		}
		if err := c.store.WriteItemSpecs(newSpecs); err != nil {
			return res, fmt.Errorf("record item specs: %w", err)
		}
	}
	return res, nil
}

// applyOp is the op of e's apply block, and whether it is a dry run.
func applyOp(e *cmdexecution.CmdExecution) (op items.Op, dry, ok bool) {
	for _, b := range e.Blocks {
		if a, isApply := b.(cmdblock.Apply); isApply {
			return a.Op, a.DryRun, true
		}
	}
	return "", false, false
}

func (c *CmdCtx) lock(ctx context.Context, x *execution) (*state.Lock, error) {
	onWait := func(holder state.LockInfo) {
		c.emitter.Emit(progress.Event{Type: progress.LockWait, Execution: x.id,
			Message: fmt.Sprintf("waiting for the lock held by pid %d on %s (%s) since %s",
				holder.PID, holder.Host, holder.Command, holder.Started.Format(time.RFC3339))})
	}
	// A stop while waiting for the lock ends the wait: nothing has started.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-x.interrupt.Stopped():
			cancel()
		case <-ctx.Done():
		}
	}()
	lock, notice, err := c.store.LockExecution(ctx, x.exec.Command, x.id, c.opts.LockWait, onWait)
	if err != nil {
		return nil, err
	}
	if notice != "" {
		c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: x.id, Message: notice})
	}
	return lock, nil
}

// killLeftovers kills what an earlier run's applies may have left
// running (its watchdog killed too, say), before anything is discovered:
// no process of an earlier run may change the world once this run holds
// the lock.
func (c *CmdCtx) killLeftovers(id string, rec *state.Recorded) {
	for _, item := range slices.Sorted(maps.Keys(rec.Groups)) {
		for _, g := range rec.Groups[item] {
			if procgroup.KillRecorded(g.Pgid, g.Start, time.Second) {
				c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: id, Item: item,
					Message: fmt.Sprintf("killed process group %d of %s, left running by a run that did not finish", g.Pgid, item)})
			}
		}
	}
}

// priorRecord is what an execution keeps of the recorded states besides
// the decoded ones in its data, in flow order: whether each item was
// recorded, and its recorded goal state (to hand the fold only the goals
// that changed).
type priorRecord struct {
	had  []bool
	goal *recordedGoals // nil when no goal is recorded
}

// recordedGoals are the recorded goal states of the flow's items, copied
// together into one buffer: not a slice header per item, nor the snapshot
// file they were read from, held for the whole execution.
type recordedGoals struct {
	bytes []byte
	span  [][2]uint32 // item i's goal is bytes[span[i][0]:span[i][1]]; empty when none
}

// at is item i's recorded goal state, nil when none.
func (g *recordedGoals) at(i int) []byte {
	if g == nil || g.span[i][0] == g.span[i][1] {
		return nil
	}
	return g.bytes[g.span[i][0]:g.span[i][1]]
}

// restoring takes the recorded states as the store reads them: each
// current state of an item of the flow decoded by its item into
// data.Stored, each goal state kept as recorded, and the states of items
// no longer in the whole flow kept for the clean of those.
type restoring struct {
	flow  *items.Flow
	data  *cmdblock.Data
	prior priorRecord
	// removed are the recorded current states of items not in the whole
	// flow.
	removed map[string]json.RawMessage
	// bad are the items whose recorded state their item could not decode.
	bad map[int]error
}

func newRestoring(flow *items.Flow, data *cmdblock.Data) *restoring {
	return &restoring{flow: flow, data: data, prior: priorRecord{had: make([]bool, flow.Len())}}
}

// take is one recorded state: current, or goal. id is not kept.
func (r *restoring) take(id []byte, current bool, raw json.RawMessage) {
	i := r.flow.Index(items.ID(id))
	switch {
	case i < 0 && current && r.flow.Whole().Index(items.ID(id)) < 0:
		if r.removed == nil {
			r.removed = map[string]json.RawMessage{}
		}
		// A copy: raw may be a piece of the whole snapshot file's bytes.
		r.removed[string(id)] = bytes.Clone(raw)
	case i < 0:
	case !current:
		if r.prior.goal == nil {
			r.prior.goal = &recordedGoals{span: make([][2]uint32, r.flow.Len())}
		}
		g := r.prior.goal
		start := len(g.bytes)
		if uint64(start)+uint64(len(raw)) > math.MaxUint32 {
			return // not kept: the fold compares it with the record itself
		}
		g.bytes = append(g.bytes, raw...)
		g.span[i] = [2]uint32{uint32(start), uint32(len(g.bytes))}
	default:
		r.prior.had[i] = true
		if raw == nil {
			return
		}
		s, err := r.flow.Items()[i].DecodeState(raw)
		if err != nil {
			if r.bad == nil {
				r.bad = map[int]error{}
			}
			r.bad[i] = err
			return
		}
		r.data.Stored[i] = s
	}
}

// restore tells what was recorded, now that rs has taken the recorded
// states into data: the store's notices, the items an earlier run left
// unknown (marked so in data), and the states that could not be decoded.
func (c *CmdCtx) restore(id string, rec *state.Recorded, data *cmdblock.Data, rs *restoring) priorRecord {
	for _, n := range rec.Notices {
		c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: id, Message: n})
	}
	flow := c.opts.Flow
	for _, u := range rec.Unknown {
		if i := flow.Index(items.ID(u)); i >= 0 {
			data.Unknown[i] = true
			c.emitter.Emit(progress.Event{Type: progress.ItemUnknown, Execution: id, Item: u,
				Status:  progress.StatusUnknown,
				Message: "an earlier run stopped while applying this item; it is discovered again"})
		}
	}
	// A state recorded by another version of the item: it is
	// rediscovered like any other, so say so (in flow order) and carry on.
	for _, i := range slices.Sorted(maps.Keys(rs.bad)) {
		it := flow.Items()[i]
		c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: id, Item: string(it.ID()),
			Message: fmt.Sprintf("ignoring the recorded state of %s: %v", it.ID(), rs.bad[i])})
	}
	return rs.prior
}

// updates is what an execution tells the snapshots: every state it
// discovered or applied that differs from the recorded one, nil for the
// items whose state it lost. recordedGoal holds the recorded goal of each
// item (nil when none is recorded).
func updates(flow *items.Flow, data *cmdblock.Data, unknown []string, recordedGoal *recordedGoals) (current, goal map[string]json.RawMessage, err error) {
	current = map[string]json.RawMessage{}
	goal = map[string]json.RawMessage{}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // json.Marshal's encoding, into one reused buffer
	for i, it := range flow.Items() {
		id := string(it.ID())
		switch {
		case data.Lost[i]:
			current[id] = nil
		case !data.Applied[i] && data.Found[i] && data.Stored[i] != nil && !slices.Contains(unknown, id) &&
			reflect.DeepEqual(data.Current[i], data.Stored[i]):
			// Found as recorded: the record stays as it is, and is not
			// encoded again only to be compared (a no-op run's cost). An
			// item recorded unknown is recorded again: that clears it.
		case data.Found[i] || data.Applied[i]:
			if current[id], err = json.Marshal(data.Current[i]); err != nil {
				return nil, nil, fmt.Errorf("encode state of %s: %w", id, err)
			}
		}
		if data.Goal[i] != nil {
			buf.Reset()
			if err := enc.Encode(data.Goal[i]); err != nil {
				return nil, nil, fmt.Errorf("encode goal state of %s: %w", id, err)
			}
			b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
			if old := recordedGoal.at(i); old != nil && bytes.Equal(b, old) {
				continue // as recorded: the fold would only compare it
			}
			goal[id] = bytes.Clone(b)
		}
	}
	return current, goal, nil
}

func idStrings(flow *items.Flow) []string {
	ids := make([]string, 0, flow.Len())
	for _, it := range flow.Items() {
		ids = append(ids, string(it.ID()))
	}
	return ids
}

// depStrings is each item's dependencies, for items that have some: one
// allocation for all the lists, none growing.
func depStrings(flow *items.Flow) map[string][]string {
	n, with := 0, 0
	for i := range flow.Items() {
		if k := len(flow.DepsAt(i)); k > 0 {
			n, with = n+k, with+1
		}
	}
	deps := make(map[string][]string, with)
	all := make([]string, 0, n)
	for i, it := range flow.Items() {
		ds := flow.DepsAt(i)
		if len(ds) == 0 {
			continue
		}
		start := len(all)
		for _, d := range ds {
			all = append(all, string(flow.Items()[d].ID()))
		}
		deps[string(it.ID())] = all[start:len(all):len(all)]
	}
	return deps
}

// journalOnDemand is the execution's journal, opened at its first record: an
// execution with nothing to apply writes no journal and pays no fsync for it.
type journalOnDemand struct {
	store *state.Store
	x     *execution

	mu  sync.Mutex
	j   *state.Journal
	err error
}

func (r *journalOnDemand) journal() (*state.Journal, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.j == nil && r.err == nil {
		r.j, r.err = r.store.OpenJournal(r.x.id, r.x.exec.Command)
		if r.err == nil {
			r.x.setJournal(r.j)
		}
	}
	return r.j, r.err
}

func (r *journalOnDemand) Begin(item string) error {
	j, err := r.journal()
	if err != nil {
		return err
	}
	return j.Begin(item)
}

func (r *journalOnDemand) End(item, outcome string, state json.RawMessage) error {
	j, err := r.journal()
	if err != nil {
		return err
	}
	return j.End(item, outcome, state)
}

// EndSynced is End once dirs, the directory fsyncs the apply left to its
// record, are done (cmdblock.SyncRecorder).
func (r *journalOnDemand) EndSynced(item, outcome string, state json.RawMessage, dirs []string) error {
	j, err := r.journal()
	if err != nil {
		return err
	}
	return j.EndSynced(item, outcome, state, dirs)
}

// Group names a process group an item's apply started; the journal is
// open, since the item's begin record came first.
func (r *journalOnDemand) Group(item string, pgid int, start string) error {
	j, err := r.journal()
	if err != nil {
		return err
	}
	return j.Group(item, pgid, start)
}

// close appends the execution-end record if the journal was ever opened.
func (r *journalOnDemand) close(outcome string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.j == nil {
		return nil
	}
	r.x.setJournal(nil)
	return r.j.Close(outcome)
}
