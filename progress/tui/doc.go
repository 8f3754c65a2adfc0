// Package tui is the terminal view of the progress events: a bubbletea
// program on stderr with a row per item, a footer that says what Ctrl-C
// does now, and the summary at the end. Its rows come from a
// progress.Ledger; the protocol itself is package progress's.
package tui
