// Package proc tells whether a process or a process group is still the one
// peace knew, by pid and start time, so that a pid the system has reused is
// never mistaken for it. It kills nothing on its own; callers decide.
package proc
