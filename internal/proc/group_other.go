//go:build !linux

package shcmd

import (
	"errors"
	"syscall"
)

// groupAlive reports whether any process is left in group pgid.
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
