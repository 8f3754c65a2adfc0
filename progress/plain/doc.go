// Package plain is the view of the progress events for CI logs: one line
// per transition, stamped with the time since the start, every line an
// item's command prints, heartbeats for long items, and no escape codes.
// NewQuiet is the same view showing only what must always be shown.
package plain
