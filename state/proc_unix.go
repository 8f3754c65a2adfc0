//go:build unix

package state

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// process reports whether pid runs (a zombie does not), and what
// identifies it beyond its pid ("" where the system does not say).
func process(pid int) (alive bool, start string) {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false, ""
	}
	state, start := procStat(pid)
	if state == 'Z' || state == 'X' {
		return false, ""
	}
	return true, start
}

// procStart identifies pid beyond its number: the boot ID and the process
// start time in clock ticks since boot, from /proc. It is "" where /proc
// does not exist.
func procStart(pid int) string {
	_, start := procStat(pid)
	return start
}

// procStat reads the state letter and start identity of pid from
// /proc/PID/stat; 0 and "" if it cannot.
func procStat(pid int) (state byte, start string) {
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
