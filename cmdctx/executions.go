package cmdctx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// Executions as any process sees them: the records of DESIGN §10, read
// through the CmdCtx of their flow and profile.
type (
	// Execution is an execution as JSON (the shape of DESIGN §10).
	Execution = state.Execution
	// ExecState is where an execution is: queued, running, ..., lost.
	ExecState = state.ExecState
	// UnknownExecutionError: no execution has this ID here.
	UnknownExecutionError = state.UnknownExecutionError
	// NotListeningError: the process that ran the execution is gone.
	NotListeningError = state.NotListeningError
	// ControlStage is a stage an interrupt by ID asks for.
	ControlStage = state.ControlStage
)

// The stages an interrupt by ID asks for.
const (
	StageStop   = state.ControlStop
	StageCancel = state.ControlCancel
	StageKill   = state.ControlKill
)

// Executions lists this flow's executions of this profile, or of every
// profile in the workspace, newest first, with notices about records that
// could not be read.
func (c *CmdCtx) Executions(allProfiles bool) ([]Execution, []string, error) {
	if allProfiles {
		return state.ListWorkspaceExecutions(c.opts.Workspace, string(c.opts.Flow.ID))
	}
	return state.ListExecutions(c.store.Path())
}

// Execution reads one execution; a live one whose process is gone reads as
// lost. An empty id means the latest.
func (c *CmdCtx) Execution(id string) (*Execution, error) {
	if id == "" {
		e, _, err := state.LatestExecution(c.store.Path())
		return e, err
	}
	return state.ReadExecution(c.store.Path(), id)
}

// Follow passes each event of execution id with seq ≥ from to fn, in
// order, following the record as it grows, until the execution has ended
// (or is lost) and every event has been passed; it returns the execution
// as it ended. The stream's version record is skipped.
func (c *CmdCtx) Follow(ctx context.Context, id string, from int64, fn func(progress.Event) error) (*Execution, error) {
	return state.FollowEvents(ctx, c.store.Path(), id, from, func(l state.EventLine) error {
		if l.Seq == 0 {
			return nil // the version record
		}
		var ev progress.Event
		if err := json.Unmarshal(l.Line, &ev); err != nil {
			return fmt.Errorf("execution %s: event %d: %w", id, l.Seq, err)
		}
		return fn(ev)
	})
}

// Outcome is the outcome document of a finished execution (ErrNoOutcome
// while it runs).
func (c *CmdCtx) Outcome(id string) ([]byte, error) { return state.ReadOutcome(c.store.Path(), id) }

// ErrNoOutcome: the execution has not finished.
var ErrNoOutcome = state.ErrNoOutcome

// LogItems are the items of execution id that have a log.
func (c *CmdCtx) LogItems(id string) ([]string, error) { return state.LogItems(c.store.Path(), id) }

// Log is what item's commands printed in execution id.
func (c *CmdCtx) Log(id, item string) ([]byte, error) { return state.ReadLog(c.store.Path(), id, item) }

// InterruptByID delivers a stage to the process running execution id,
// wherever it runs. It returns the execution as read just before: a
// finished one is not interrupted (and that is no error); a live one whose
// process is gone is lost.
func (c *CmdCtx) InterruptByID(id string, stage ControlStage) (*Execution, error) {
	e, err := c.Execution(id)
	if err != nil {
		return nil, err
	}
	if !e.State.Live() {
		return e, nil
	}
	err = state.SendControl(c.store.Path(), e.ID, stage)
	var nl *state.NotListeningError
	if errors.As(err, &nl) {
		// Gone between the read and the send: read it again (lost).
		if e2, rerr := c.Execution(e.ID); rerr == nil {
			return e2, nil
		}
	}
	return e, err
}
