package cmdblock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// slotRetry is how soon a block whose ready items wait for a shared slot
// (Scope.Slots) looks again.
const slotRetry = 5 * time.Millisecond

// itemWork does one item's part of a pass and says how it ended. A nil error
// with an empty status means StatusDiscovered.
type itemWork func(ctx context.Context, i int) (progress.Status, error)

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
}

// run is the scheduler every block shares. An item starts the moment its
// last dependency (its last dependent, in reverse) has finished and a job
// slot is free — not level by level. Each item runs in its own goroutine;
// run waits for every goroutine it started before returning, so no item work
// outlives its block. A stop (stage 1) ends new starts; a cancel (stage 2)
// reaches items through their context.
func (env *Scope) run(p pass, data *Data, work itemWork) Outcome {
	all := env.Flow.Items()
	n := len(all)
	out := Outcome{Block: p.name, Errors: map[items.ID]error{}}
	env.emit(progress.Event{Type: progress.BlockStart, Block: p.name})

	waiting := make([]int, n)
	next := make([][]int, n)
	for i, it := range all {
		before, after := env.Flow.Deps(it.ID()), env.Flow.Dependents(it.ID())
		if p.reverse {
			before, after = after, before
		}
		waiting[i] = len(before)
		for _, id := range after {
			next[i] = append(next[i], env.Flow.Index(id))
		}
	}
	ready := make([]int, 0, n)
	for k := range n {
		i := k
		if p.reverse {
			i = n - 1 - k
		}
		if waiting[i] == 0 {
			ready = append(ready, i)
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
	// needs failed, the first such item.
	blockedBy := make([]items.ID, n)
	started := make([]bool, n)
	results := make(chan itemResult, jobs)
	running := 0
	// Every item goroutine is the group's; the block waits for them all.
	var g errgroup.Group
	defer g.Wait()
	// starved is set when ready work waits only for a slot another
	// execution holds (Scope.Slots); it is looked at again shortly.
	starved := false

	for {
		starved = false
		for len(ready) > 0 && running < jobs && !failed {
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
			if env.Slots != nil && !env.Slots.TryAcquire(1) {
				starved = true
				break
			}
			if stopped {
				budget--
			}
			i := ready[0]
			ready = ready[1:]
			started[i] = true
			running++
			id := all[i].ID()
			in.started(string(id), i)
			env.emit(progress.Event{Type: progress.ItemStart, Block: p.name, Item: string(id)})
			g.Go(func() error {
				st, err := work(ctx, i)
				st = settle(st, err, ctx)
				data.Status[i], data.Err[i] = st, err
				in.finished(string(id))
				env.emitResult(p.name, id, st, err)
				results <- itemResult{i, st, err}
				return nil
			})
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
		case r := <-results:
			running--
			if env.Slots != nil {
				env.Slots.Release(1)
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
				blockedBy[r.i] = all[r.i].ID() // what it blocks, it blocks by itself
			}
			// Settle r.i, and every item that will never start because it
			// needs a failed one: their dependents move on without them.
			settled := []int{r.i}
			for len(settled) > 0 {
				k := settled[0]
				settled = settled[1:]
				for _, j := range next[k] {
					waiting[j]--
					if blockedBy[k] != "" && blockedBy[j] == "" {
						blockedBy[j] = blockedBy[k]
					}
					if waiting[j] > 0 {
						continue
					}
					if blockedBy[j] != "" {
						settled = append(settled, j) // never starts
					} else {
						ready = append(ready, j)
					}
				}
			}
		case <-stop:
			stopped, stop = true, nil
		}
	}

	firstFailed := items.ID("")
	for _, it := range all {
		if data.Status[env.Flow.Index(it.ID())] == progress.StatusFailed {
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
			case blockedBy[i] != "":
				why = fmt.Errorf("not started: %s failed", blockedBy[i])
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
