// Package cmdblock owns the CmdBlock: one pass over the items of a flow
// (discover, diff, ensure, clean), in dependency order, items concurrently up
// to a job limit, racing item work against the execution's Interrupt, and
// recording each applied item through a Recorder the moment it finishes.
//
// It does not decide which blocks a command runs (cmdexecution) nor where
// state lives (state, cmdctx).
package cmdblock
