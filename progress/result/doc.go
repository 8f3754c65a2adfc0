// Package result renders an execution's typed result (cmdexecution.Result)
// on stdout, in the format asked for: text tables with one-line state
// summaries and coloured diffs for people, YAML and JSON for programs (the
// JSON shapes are the command line's contract). It renders; it decides
// nothing about what happened.
package result
