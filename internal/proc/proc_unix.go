//go:build unix

package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Alive reports whether pid runs (a zombie does not), and what identifies
// it beyond its pid ("" where the system does not say). A process that
// exists but belongs to another user (EPERM) is alive.
func Alive(pid int) (alive bool, start string) {
	if pid <= 0 {
		return false, ""
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false, ""
	}
	state, start := stat(pid)
	if state == 'Z' || state == 'X' {
		return false, ""
	}
	return true, start
}

// Start identifies pid beyond its number: the boot ID and the process start
// time in clock ticks since boot, from /proc. It is "" where /proc does not
// exist or pid is gone.
func Start(pid int) string {
	_, start := stat(pid)
	return start
}

// Same reports whether the process group pgid, whose leader had the start
// identity start, may still be the one recorded: its leader runs with that
// identity, or its leader is gone but members remain (the system does not
// give a pid to a new process while a group of that number exists).
func Same(pgid int, start string) bool {
	if !GroupAlive(pgid) {
		return false
	}
	now := Start(pgid)
	return now == "" || start == "" || now == start
}

// stat reads the state letter and start identity of pid from
// /proc/PID/stat; 0 and "" if it cannot.
func stat(pid int) (state byte, start string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, ""
	}
	// The command name (field 2) is in parentheses and may itself hold
	// spaces and parentheses; the fields after the last ')' are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, ""
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, ""
	}
	return fields[0][0], bootID() + ":" + fields[19]
}

var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})
