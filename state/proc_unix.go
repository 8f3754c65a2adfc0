//go:build unix

package state

import (
	"errors"
	"os"
	"syscall"

	"github.com/peace-go/peace/internal/proc"
)

// processAlive and procStart tell whether a lock holder still runs; see
// package proc.
var (
	processAlive = proc.Alive
	procStart    = proc.Start
)

// lockDir takes an exclusive advisory lock on dir, held until unlock is
// called or the process ends, whichever comes first.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// killSelf ends the process at once, as a power cut or kill -9 would.
func killSelf() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
