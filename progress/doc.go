// Package progress is the event protocol every command speaks while it
// runs: the events (execution, block and item transitions, progress
// limits and deltas, output lines, interrupts, lock waits), the sinks they
// go to, and the Ledger that folds them into one row per item and the
// summary. It renders no frames: the views live in progress/tui and
// progress/plain, and link what they need to draw.
//
// The core never formats text; it emits Events through an Emitter, which
// numbers them and hands them to a Sink (a View, or several through Tee).
// Item functions report through the Tracker that Emitter.ItemTracker gives
// them. A view implements Handler, one method per event type, and keeps
// its per-item state in a Ledger.
//
// The JSON lines encoding (NewJSON) is here, not in a view package: it is
// the protocol's wire format, which execution records and the server
// write as well as --progress json. Choosing a view and wiring it to a
// terminal is the command line's job, not this package's.
package progress
