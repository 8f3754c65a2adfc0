package cmd

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams is the process's standard streams, and whether they are
// terminals; tests replace it.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer // results
	ErrOut io.Writer // progress and messages

	InTTY, OutTTY, ErrTTY bool
	// Getenv reads the environment (NO_COLOR, TERM).
	Getenv func(string) string
}

// System returns the streams of this process.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())) && os.Getenv("TERM") != "dumb",
		Getenv: os.Getenv,
	}
}
