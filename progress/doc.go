// Package progress owns the event stream every command emits while it runs
// (execution, block and item transitions, progress limits and deltas,
// interrupts, lock waits) and the views that render it: tui, plain and json.
//
// The core never formats text; it emits Events to a Sink. Views are Sinks.
package progress
