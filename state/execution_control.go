package state

import (
	"fmt"
)

// ControlStage is an interrupt delivered to the process that runs an
// execution, over the record's control channel (DESIGN §5 stages).
type ControlStage string

// The stages an interrupter may deliver.
const (
	ControlStop   ControlStage = "stop"
	ControlCancel ControlStage = "cancel"
	ControlKill   ControlStage = "kill"
)

// Valid reports whether c is stop, cancel or kill.
func (c ControlStage) Valid() bool {
	return c == ControlStop || c == ControlCancel || c == ControlKill
}

// NotListeningError is a control message that reached no one: no process
// listens on the execution's control channel. If the record still says the
// execution is live, its process is gone (the execution is lost), or it has
// not started listening yet.
type NotListeningError struct {
	ID string
}

func (e *NotListeningError) Error() string {
	return fmt.Sprintf("no process is listening for interrupts of execution %s", e.ID)
}

// The control channel of a record is the FIFO executions/<ID>/control
// (mode 0600). The running process opens it for reading and writing, so it
// never sees end of file while no interrupter has it open, and reads one
// stage per line. An interrupter opens it write-only without blocking: with
// no reader the open fails (ENXIO), which is how it knows the process is
// gone, and a line shorter than PIPE_BUF is written whole or not at all.
// ListenControl and SendControl implement it where the system has FIFOs;
// elsewhere they return an error wrapping errors.ErrUnsupported.
