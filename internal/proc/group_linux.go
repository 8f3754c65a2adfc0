package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// GroupAlive reports whether a live process is left in group pgid. kill -0
// also finds zombies waiting for a reaper (PID 1 in some containers never
// reaps), so a group it finds is looked up in /proc: only zombies is gone.
func GroupAlive(pgid int) bool {
	if pgid <= 1 {
		return false // kill(-1) would mean every process
	}
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return false
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := []byte(strconv.Itoa(pgid))
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			return true
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) > 2 && bytes.Equal(f[2], want) && !bytes.Equal(f[0], []byte("Z")) && !bytes.Equal(f[0], []byte("X")) {
			return true
		}
	}
	return false
}
