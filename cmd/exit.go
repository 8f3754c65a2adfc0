package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/items"
)

// ExitCode is what peace tells the shell or the pipeline.
type ExitCode int

const (
	ExitOK             ExitCode = 0   // done
	ExitItemFailed     ExitCode = 1   // an item failed, or an execution was lost
	ExitBadInput       ExitCode = 2   // bad usage or bad input: flow file, flags, unknown command, state files, an unwritable workspace
	ExitLocked         ExitCode = 3   // another live run holds the lock
	ExitChangesPending ExitCode = 4   // diff --exit-code: ensure would change something
	ExitInterrupted    ExitCode = 130 // interrupted by SIGINT, SIGTERM, SIGHUP or an interrupt
)

// exitCodesHelp is listed in every command's --help.
const exitCodesHelp = `Exit codes:
  0    done
  1    an item failed (or an execution was lost)
  2    bad usage or bad input (flow file, flags, unknown command, state files,
       an unwritable workspace)
  3    another live run holds the lock
  4    changes pending (diff --exit-code)
  130  interrupted (SIGINT, SIGTERM, SIGHUP, or an interrupt)`

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
		locked  *cmdctx.LockedError
		corrupt *cmdctx.CorruptError
		version *cmdctx.VersionError
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
		errors.As(err, new(inputError)), errors.As(err, new(*cmdctx.UnknownExecutionError)):
		return ExitBadInput
	}
	if _, ok := unwritable(err); ok {
		return ExitBadInput
	}
	return ExitItemFailed
}

// unwritable returns the path peace could not write when err is a
// permission or read-only-filesystem failure, as taking the lock or
// writing a state file meets in a workspace it may not write. Item
// failures never reach here: they travel in the outcome.
func unwritable(err error) (string, bool) {
	var (
		pe *fs.PathError
		le *os.LinkError
	)
	denied := errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
	switch {
	case !denied:
		return "", false
	case errors.As(err, &pe):
		return pe.Path, true
	case errors.As(err, &le):
		return le.New, true
	}
	return "", false
}

// unwritableMessage says which directory could not be written and how to
// pick another; workspace is the one in use.
func unwritableMessage(err error, path, workspace string) (msg, hint string) {
	dir, aerr := filepath.Abs(workspace)
	if aerr != nil {
		dir = workspace
	}
	if p, aerr := filepath.Abs(path); aerr != nil || !(inside(p, dir) || inside(dir, p)) {
		return err.Error(), ""
	}
	return fmt.Sprintf("workspace %s is not writable: %v", dir, err),
		"Choose another with -w DIR (--workspace DIR), or make it writable."
}

// inside reports whether path is dir or below it. (A failed MkdirAll names
// the first parent it could not make, which may be above the workspace.)
func inside(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
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
