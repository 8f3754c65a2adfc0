// Package server owns `peace serve`: a local HTTP API over the executions
// of one flow, for every profile of a workspace, and the web page that
// draws the flow live. The executions it starts are the same executions the
// command line runs (same records, lock, IDs and interrupts, through
// cmdctx); the API only carries them over HTTP: a list, a start, an event
// stream, interrupts by ID, outcomes, logs and the flow's graph.
//
// It owns no state format and no view of its own: records are cmdctx's,
// event shapes progress's, results cmdexecution's.
package server
