package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/state"
)

// ExitCode is what peace tells the shell or the pipeline.
type ExitCode int

const (
	ExitOK          ExitCode = 0   // done
	ExitItemFailed  ExitCode = 1   // an item failed
	ExitBadInput    ExitCode = 2   // bad usage or bad input: flow file, flags, state files
	ExitLocked      ExitCode = 3   // another live run holds the lock
	ExitInterrupted ExitCode = 130 // interrupted by SIGINT or SIGTERM
)

// exitCodesHelp is listed in every command's --help.
const exitCodesHelp = `Exit codes:
  0    done
  1    an item failed
  2    bad usage or bad input (flow file, flags, state files)
  3    another live run holds the lock
  130  interrupted (SIGINT or SIGTERM)`

// usageError is a mistake on the command line; its usage is printed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// outcomeError carries an execution's outcome to the exit code once the
// result has been printed; it has nothing more to say.
type outcomeError struct{ code ExitCode }

func (e outcomeError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// exitCode decides the exit code of every run of peace, from the error
// the command returned. It is the only place that does.
func exitCode(err error) ExitCode {
	var (
		oe      outcomeError
		ue      usageError
		ie      *items.InputError
		locked  *state.LockedError
		corrupt *state.CorruptError
		version *state.VersionError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &oe):
		return oe.code
	case errors.As(err, &locked):
		return ExitLocked
	case errors.Is(err, context.Canceled):
		// Stopped before anything ran, e.g. while waiting for the lock.
		return ExitInterrupted
	case errors.As(err, &ue), errors.As(err, &ie), errors.As(err, &corrupt), errors.As(err, &version),
		errors.As(err, new(inputError)):
		return ExitBadInput
	}
	return ExitItemFailed
}

// inputError is bad input that is not a flow-file mistake: a missing flow
// file, a malformed profile name.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// noArgs is cobra.NoArgs as a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if err := cobra.NoArgs(c, args); err != nil {
		return usageError{err}
	}
	return nil
}
