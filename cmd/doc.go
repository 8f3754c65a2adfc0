// Package cmd is peace's command line: cobra commands that parse flags,
// pick the progress view and the result format, build a CmdCtx and hand it
// a CmdExecution. No automation logic lives here, and nothing else in peace
// imports cobra.
package cmd
