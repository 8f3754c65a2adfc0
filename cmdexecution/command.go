package cmdexecution

import (
	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/items"
)

// The command recipes. The command line, a program of one's own, a
// background runner and the server all build their executions here, so a
// command means the same wherever it is run.

// Status discovers each item's current state and records it.
func Status() *CmdExecution {
	return &CmdExecution{Command: "status", View: ViewStates,
		Blocks: []cmdblock.Block{cmdblock.Discover{States: cmdblock.DiscoverCurrent}}, Records: true}
}

// Goal discovers each item's goal state and records it.
func Goal() *CmdExecution {
	return &CmdExecution{Command: "goal", View: ViewStates,
		Blocks: []cmdblock.Block{cmdblock.Discover{States: cmdblock.DiscoverGoal}}, Records: true}
}

// Diff discovers each item's current and goal states and how they differ.
// It changes and records nothing.
func Diff() *CmdExecution {
	return &CmdExecution{Command: "diff", View: ViewDiff, Blocks: []cmdblock.Block{
		cmdblock.Discover{States: cmdblock.DiscoverCurrent | cmdblock.DiscoverGoal},
		cmdblock.Diff{},
	}}
}

// Ensure brings every item to its goal state, dependencies first; with
// dryRun it only says what it would apply.
func Ensure(dryRun bool) *CmdExecution { return apply(items.OpEnsure, dryRun) }

// Clean brings every item to its clean state, dependents first; with
// dryRun it only says what it would apply.
func Clean(dryRun bool) *CmdExecution { return apply(items.OpClean, dryRun) }

// ForOp is Ensure or Clean, by op.
func ForOp(op items.Op, dryRun bool) *CmdExecution { return apply(op, dryRun) }

func apply(op items.Op, dryRun bool) *CmdExecution {
	command := string(op)
	if dryRun {
		command += " --dry-run"
	}
	// One block: each item is discovered right before it is applied, once
	// its dependencies are done. Its states are then never stale, and an
	// item's discovery overlaps the others' work instead of waiting for
	// every item to be discovered first.
	return &CmdExecution{Command: command, View: ViewOutcome,
		Blocks: []cmdblock.Block{cmdblock.Apply{Op: op, DryRun: dryRun}}}
}
