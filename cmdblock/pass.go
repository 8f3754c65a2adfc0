package cmdblock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// slotRetry is how soon a block whose ready items wait for a shared slot
// (Scope.Slots) looks again.
const slotRetry = 5 * time.Millisecond

// itemWork does one item's part of a pass and says how it ended. A nil error
// with an empty status means StatusDiscovered. The item holds a job slot
// while it works; it may give it back while it only waits (see jobSlot).
type itemWork func(ctx context.Context, i int, slot *jobSlot) (progress.Status, error)

// jobSlots are a block's job slots (Scope.Jobs, and Scope.Slots when set),
// shared by the scheduler, which takes one for each item it starts, and the
// items, which give theirs back while they wait for a record to be durable
// and take one again to go on. An item taking a slot again goes before any
// item not started yet.
type jobSlots struct {
	local  *semaphore.Weighted
	shared *semaphore.Weighted // Scope.Slots; nil when none
	// waiting bounds the items that gave their slot back while they wait
	// for their begin record: an item begun that way holds no slot yet, and
	// the next command reports each such item unknown if this one dies.
	waiting *semaphore.Weighted
	kick    chan struct{} // capacity 1: a slot came back
	// early is false for one job at a time: items then run one after the
	// other, start to end, as asked, and no slot is given back early.
	early bool
}

func newJobSlots(jobs int, shared *semaphore.Weighted) *jobSlots {
	return &jobSlots{
		local: semaphore.NewWeighted(int64(jobs)), shared: shared,
		waiting: semaphore.NewWeighted(int64(jobs)), kick: make(chan struct{}, 1),
		early: jobs > 1,
	}
}

// tryAcquire takes a slot for an item to start, if one is free; starved
// says that only another execution's items (Scope.Slots) hold them.
func (s *jobSlots) tryAcquire() (ok, starved bool) {
	if !s.local.TryAcquire(1) {
		return false, false
	}
	if s.shared != nil && !s.shared.TryAcquire(1) {
		s.local.Release(1)
		return false, true
	}
	return true, false
}

// acquire takes a slot for an item going on after a wait; it gives up
// when ctx ends (a cancel), holding nothing.
func (s *jobSlots) acquire(ctx context.Context) error {
	if err := s.local.Acquire(ctx, 1); err != nil {
		return err
	}
	if s.shared != nil {
		if err := s.shared.Acquire(ctx, 1); err != nil {
			s.local.Release(1)
			return err
		}
	}
	return nil
}

func (s *jobSlots) release() {
	if s.shared != nil {
		s.shared.Release(1)
	}
	s.local.Release(1)
	select {
	case s.kick <- struct{}{}:
	default: // the scheduler is already due to look
	}
}

// jobSlot is the slot one item's work holds. The item's goroutine uses it
// until it hands in its result; the block then gives back what is held.
type jobSlot struct {
	slots *jobSlots
	held  bool
}

// releaseEarly gives the slot back before the item's work returns, for
// work that is left only waiting (for its end record to be durable): the
// next item starts meanwhile, and items finishing together share the
// journal's fsyncs with the ones starting.
func (s *jobSlot) releaseEarly() {
	if s != nil && s.slots.early {
		s.release()
	}
}

func (s *jobSlot) release() {
	if s.held {
		s.held = false
		s.slots.release()
	}
}

// waitFree runs wait — a wait for a record to be durable — without holding
// the slot when few enough items do so already, and holds the slot again
// when it returns. Meanwhile more items get as far as their begin record,
// and their records share one fsync. When ctx ends before the slot is
// back (a cancel, while other items or another execution hold every
// slot), it returns ctx's error, holding none: the item must not go on.
func (s *jobSlot) waitFree(ctx context.Context, wait func() error) (waitErr, slotErr error) {
	if s == nil || !s.held || !s.slots.early || !s.slots.waiting.TryAcquire(1) {
		return wait(), nil
	}
	s.release()
	waitErr = wait()
	s.slots.waiting.Release(1)
	if slotErr = s.slots.acquire(ctx); slotErr == nil {
		s.held = true
	}
	return waitErr, slotErr
}

// pass describes how a block walks the graph.
type pass struct {
	name string
	// reverse walks dependents before their dependencies (clean).
	reverse bool
	// stopOnError stops new starts after the first item error (ensure,
	// clean); discovery carries on past errors.
	stopOnError bool
}

type itemResult struct {
	i      int
	status progress.Status
	err    error
	slot   *jobSlot // still held unless given back early; the block's now
}

// run is the scheduler every block shares. An item starts the moment its
// last dependency (its last dependent, in reverse) has finished and a job
// slot is free — not level by level. Items run in goroutines of the
// block's group (one taking the next item when it is done with its own);
// run waits for every goroutine it started before returning, so no item
// work outlives its block. A stop (stage 1) ends new starts; a cancel
// (stage 2) reaches items through their context.
func (env *Scope) run(p pass, data *Data, work itemWork) Outcome {
	all := env.Flow.Items()
	n := len(all)
	out := Outcome{Block: p.name, Errors: map[items.ID]error{}}
	env.emit(progress.Event{Type: progress.BlockStart, Block: p.name})

	// The graph by position in all, as the flow keeps it: what item i
	// waits for, and the items waiting for it (reversed for clean).
	before, after := env.Flow.DepsAt, env.Flow.DependentsAt
	if p.reverse {
		before, after = after, before
	}
	waiting := make([]int32, n)
	for i := range n {
		waiting[i] = int32(len(before(i)))
	}
	ready := make([]int32, 0, n) // positions in all
	for k := range n {
		i := k
		if p.reverse {
			i = n - 1 - k
		}
		if waiting[i] == 0 {
			ready = append(ready, int32(i))
		}
	}

	jobs := max(env.Jobs, 1)
	in := env.Interrupt
	if in == nil {
		in = NewInterrupt(context.Background(), IgnoreInterrupts)
		defer in.Release()
	}
	ctx := in.ItemContext()
	stop := in.Stopped()
	budget := in.strategy.PollNext
	stopped, failed := false, false
	// blockedBy is, for an item that will not start because an item it
	// needs failed, the first such item: its position plus one, 0 for none.
	blockedBy := make([]int32, n)
	started := make([]bool, n)
	results := make(chan itemResult, jobs)
	slots := newJobSlots(jobs, env.Slots)
	running := 0 // items whose result is still to come
	// Every item goroutine is the group's; the block waits for them all.
	// A goroutine whose item is done takes the next item to start if it
	// is idle by then (idle): a thousand quick items do not each make a
	// goroutine and grow its stack anew.
	var g errgroup.Group
	defer g.Wait()
	idle := make(chan int) // the position of the next item to do
	defer close(idle)      // before the wait: idle goroutines return
	// do is one item's work, the same func for every item: starting an
	// item allocates no closure.
	do := func(i int) {
		id := all[i].ID()
		slot := &jobSlot{slots: slots, held: true}
		st, err := work(ctx, i, slot)
		st = settle(st, err, ctx)
		data.Status[i], data.Err[i] = st, err
		in.finished(string(id))
		env.emitResult(p.name, id, st, err)
		results <- itemResult{i, st, err, slot}
	}
	// starved is set when ready work waits only for a slot another
	// execution holds (Scope.Slots); it is looked at again shortly.
	starved := false
	var settledBuf []int // reused by each result's settling

	for {
		starved = false
		for len(ready) > 0 && !failed {
			if !stopped {
				select {
				case <-stop:
					stopped, stop = true, nil
				default:
				}
			}
			if stopped && budget == 0 {
				break
			}
			ok, short := slots.tryAcquire()
			if !ok {
				starved = short
				break
			}
			if stopped {
				budget--
			}
			i := int(ready[0])
			ready = ready[1:]
			started[i] = true
			running++
			id := all[i].ID()
			in.started(string(id), i)
			env.emit(progress.Event{Type: progress.ItemStart, Block: p.name, Item: string(id)})
			select {
			case idle <- i: // a goroutine done with its item takes it
			default:
				g.Go(func() error {
					do(i)
					for i := range idle {
						do(i)
					}
					return nil
				})
			}
		}
		if running == 0 && !starved {
			break
		}
		var retry <-chan time.Time
		if starved {
			retry = time.After(slotRetry)
		}
		select {
		case <-retry:
		case <-slots.kick:
		case r := <-results:
			running--
			// Given back only now, so that what the result says (a
			// failure stops new starts) comes before the next start.
			r.slot.release()
			if out.Finished == nil {
				out.Finished = make([]items.ID, 0, n) // grown once, not by doubling
			}
			out.Finished = append(out.Finished, all[r.i].ID())
			itemFailed := r.status == progress.StatusFailed
			if r.err != nil {
				out.Errors[all[r.i].ID()] = r.err
				if p.stopOnError && itemFailed && !env.KeepGoing {
					failed = true
				}
			}
			if p.stopOnError && itemFailed {
				blockedBy[r.i] = int32(r.i) + 1 // what it blocks, it blocks by itself
			}
			// Settle r.i, and every item that will never start because it
			// needs a failed one: their dependents move on without them.
			settled := append(settledBuf[:0], r.i)
			for q := 0; q < len(settled); q++ {
				k := settled[q]
				for _, j := range after(k) {
					waiting[j]--
					if blockedBy[k] != 0 && blockedBy[j] == 0 {
						blockedBy[j] = blockedBy[k]
					}
					if waiting[j] > 0 {
						continue
					}
					if blockedBy[j] != 0 {
						settled = append(settled, int(j)) // never starts
					} else {
						ready = append(ready, j)
					}
				}
			}
			settledBuf = settled
		case <-stop:
			stopped, stop = true, nil
		}
	}

	firstFailed := items.ID("")
	for i, it := range all {
		if data.Status[i] == progress.StatusFailed {
			firstFailed = it.ID()
			break
		}
	}
	for i, it := range all {
		if !started[i] {
			out.NotStarted = append(out.NotStarted, it.ID())
			data.Status[i] = progress.StatusNotStarted
			// Say why, when it is a failure's doing.
			var why error
			switch {
			case blockedBy[i] != 0:
				why = fmt.Errorf("not started: %s failed", all[blockedBy[i]-1].ID())
			case failed && firstFailed != "":
				why = fmt.Errorf("not started: %s failed", firstFailed)
			}
			if why != nil {
				data.Err[i] = why
				env.emitResult(p.name, it.ID(), progress.StatusNotStarted, why)
			}
		} else if data.Status[i] == progress.StatusInterrupted {
			out.InFlight = append(out.InFlight, it.ID())
		}
	}
	out.Interrupted = stopped && (len(out.NotStarted) > 0 || len(out.InFlight) > 0)
	env.emit(progress.Event{Type: progress.BlockEnd, Block: p.name})
	return out
}

// settle decides the status of an item whose work returned err: cancelled
// work is interrupted, other errors failed.
func settle(st progress.Status, err error, ctx context.Context) progress.Status {
	switch {
	case err == nil && st == "":
		return progress.StatusDiscovered
	case err == nil:
		return st
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		// Once the item context is cancelled, whatever error the item
		// returns (a killed process, a closed connection) is the cancel's.
		return progress.StatusInterrupted
	case st == "":
		return progress.StatusFailed
	}
	return st
}

func (env *Scope) emitResult(block string, id items.ID, st progress.Status, err error) {
	ev := progress.Event{Block: block, Item: string(id), Status: st}
	switch st {
	case progress.StatusInterrupted:
		ev.Type = progress.ItemInterrupted
	case progress.StatusFailed:
		ev.Type = progress.ItemFailed
	default:
		ev.Type = progress.ItemDone
	}
	if err != nil {
		ev.Error = err.Error()
	}
	env.emit(ev)
}
