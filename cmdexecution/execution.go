package cmdexecution

import (
	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// CmdExecution is a command as an ordered list of blocks, e.g. diff is
// discover → diff. The recipes (Status, Goal, Diff, Ensure, Clean) build
// the built-in ones.
type CmdExecution struct {
	// Command names the execution in events, the journal and the lock
	// ("ensure", "clean --dry-run").
	Command string
	Blocks  []cmdblock.Block
	// Records says what the execution discovers is recorded: it needs the
	// lock. An execution that applies always records (see Applies).
	Records bool
	// View is which part of the Result the command is about.
	View View
}

// Applier is a block that changes the world when it runs. *cmdblock.Apply
// is one, unless it is a dry run.
type Applier interface {
	Applies() bool
}

// Applies says a block of e changes the world. Such an execution always
// takes the lock and writes the journal, item by item: that is not a
// choice its builder can get wrong.
func (e *CmdExecution) Applies() bool {
	for _, b := range e.Blocks {
		if a, ok := b.(Applier); ok && a.Applies() {
			return true
		}
	}
	return false
}

// Recording says e takes the lock and records what it finds or applies.
func (e *CmdExecution) Recording() bool { return e.Records || e.Applies() }

// Kind is what became of an execution.
type Kind string

const (
	Complete             Kind = "complete"
	BlockInterrupted     Kind = "block_interrupted"     // stopped in the middle of a block
	ExecutionInterrupted Kind = "execution_interrupted" // stopped between blocks
	ItemError            Kind = "item_error"            // at least one item failed
)

// CmdOutcome combines the outcomes of the blocks that ran.
type CmdOutcome struct {
	Kind         Kind
	Blocks       []cmdblock.Outcome // the blocks that ran, in order
	BlocksNotRun []string
	// Status is each item's final status, indexed like Flow.Items().
	Status []progress.Status
	// Errors holds the error of every item whose final status is failed or
	// interrupted.
	Errors map[items.ID]error
}

// Verdict is the word the JSON result and the exit code use:
// "complete", "interrupted" or "failed". An interrupt wins over a failure:
// the user asked to stop, and is told so.
func (o CmdOutcome) Verdict() string {
	switch o.Kind {
	case BlockInterrupted, ExecutionInterrupted:
		return "interrupted"
	case ItemError:
		return "failed"
	}
	return "complete"
}

// IDs returns the items whose final status is one of sts, in flow order.
func (o CmdOutcome) IDs(flow *items.Flow, sts ...progress.Status) []items.ID {
	var ids []items.ID
	for i, it := range flow.Items() {
		for _, s := range sts {
			if o.Status[i] == s {
				ids = append(ids, it.ID())
				break
			}
		}
	}
	return ids
}

// Run runs the blocks in order over data. Once the interrupt has been
// raised no further block starts.
func (e *CmdExecution) Run(env *cmdblock.Scope, data *cmdblock.Data) CmdOutcome {
	var o CmdOutcome
	interrupted := false
	for k, b := range e.Blocks {
		if env.Interrupt != nil && env.Interrupt.Stage() != cmdblock.Running {
			interrupted = true
			for _, nb := range e.Blocks[k:] {
				o.BlocksNotRun = append(o.BlocksNotRun, nb.Name())
			}
			if k > 0 {
				o.Kind = ExecutionInterrupted
			} else {
				o.Kind = BlockInterrupted // nothing ran at all
			}
			break
		}
		bo := b.Run(env, data)
		o.Blocks = append(o.Blocks, bo)
		if bo.Interrupted {
			interrupted = true
			o.Kind = BlockInterrupted
			for _, nb := range e.Blocks[k+1:] {
				o.BlocksNotRun = append(o.BlocksNotRun, nb.Name())
			}
			break
		}
	}
	o.Status, o.Errors = finalStatus(env.Flow, data, len(o.BlocksNotRun) > 0 || e.Applies())
	if !interrupted && env.Interrupt != nil && env.Interrupt.Stage() != cmdblock.Running {
		// Asked to stop after the last item had started: everything still
		// finished, but the caller was interrupted and is told so (exit 130
		// whatever the stage).
		interrupted = true
		o.Kind = ExecutionInterrupted
	}
	if !interrupted {
		o.Kind = Complete
		if len(o.Errors) > 0 {
			o.Kind = ItemError
		}
	}
	return o
}

// finalStatus is each item's status at the end of the execution. An item
// that was only discovered when more was meant to happen to it was not
// started; an item still unknown from an earlier run stays unknown.
func finalStatus(flow *items.Flow, data *cmdblock.Data, more bool) ([]progress.Status, map[items.ID]error) {
	n := flow.Len()
	sts := make([]progress.Status, n)
	errs := map[items.ID]error{}
	for i, it := range flow.Items() {
		st := data.Status[i]
		switch {
		case data.Unknown[i] && st != progress.StatusFailed && st != progress.StatusInterrupted:
			st = progress.StatusUnknown
		case st == "" || (more && st == progress.StatusDiscovered):
			st = progress.StatusNotStarted
		}
		sts[i] = st
		if data.Err[i] != nil && (st == progress.StatusFailed || st == progress.StatusInterrupted || st == progress.StatusNotStarted) {
			errs[it.ID()] = data.Err[i]
		}
	}
	return sts, errs
}
