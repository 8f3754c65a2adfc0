//go:build unix

package proc

import (
	"bytes"
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
// /proc/PID/stat; 0 and "" if it cannot. It is on the path of every
// command an item starts, so it reads into a buffer on the stack and
// allocates only the identity.
func stat(pid int) (state byte, start string) {
	var buf [2048]byte
	b := readSmall(procPath(pid), buf[:])
	// The command name (field 2) is in parentheses and may itself hold
	// spaces and parentheses; the fields after the last ')' are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ""
	}
	// After ") " come field 3 (state) and on; field 22 (starttime) is the
	// 20th of them.
	var field []byte
	rest := b[i+1:]
	for n := 0; n < 20; n++ {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			j = len(rest)
		}
		field, rest = rest[:j], rest[j:]
		if len(field) == 0 || n == 0 && len(field) != 1 {
			return 0, ""
		}
		if n == 0 {
			state = field[0]
		}
	}
	return state, bootID() + ":" + string(bytes.TrimRight(field, "\n"))
}

// procPath is "/proc/PID/stat" without the garbage of concatenation.
func procPath(pid int) string {
	var b [32]byte
	p := append(b[:0], "/proc/"...)
	p = strconv.AppendInt(p, int64(pid), 10)
	p = append(p, "/stat"...)
	return string(p)
}

// readSmall reads the file at path into buf, as much as fits; nil if it
// cannot be read. No *os.File: no poller registration, no stat.
func readSmall(path string, buf []byte) []byte {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n]
}

var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})
