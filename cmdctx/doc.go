// Package cmdctx owns the CmdCtx: everything a command needs (workspace,
// profile, flow, the event sink, the state store) and the queue of
// CmdExecutions it runs, each with an execution ID by which it can be
// interrupted. Around every execution it takes the lock, recovers what an
// earlier run left in the journal, opens the journal, and folds what the
// execution found into the snapshots.
//
// It never prints: everything it has to say is a progress event or an error.
package cmdctx
