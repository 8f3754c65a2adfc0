// Package progress owns the event stream every command emits while it runs
// (execution, block and item transitions, progress limits and deltas,
// interrupts, lock waits) and the views that render it: tui, plain and json.
//
// The core never formats text; it emits Events through an Emitter, which
// numbers them and hands them to a Sink (a View, or several through Tee).
// Item functions report through the Tracker that Emitter.ItemTracker gives
// them. Views are Sinks; choosing one and wiring it to a terminal is the
// command line's job, not this package's.
package progress
