//go:build !linux

package proc

import (
	"errors"
	"syscall"
)

// GroupAlive reports whether any process is left in group pgid.
func GroupAlive(pgid int) bool {
	if pgid <= 1 {
		return false // kill(-1) would mean every process
	}
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
