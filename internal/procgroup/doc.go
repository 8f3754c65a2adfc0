// Package watchdog makes sure that no process group an item started
// outlives the process that started it, however that process ends —
// SIGKILL included, when it runs no code at all.
//
// A Watchdog is one small shell process per peace process, started the
// first time a group is registered. Peace tells it, over a pipe, each group
// it starts and each group that has ended; when the pipe closes — peace
// exited, crashed or was killed — it sends SIGKILL to every group still
// registered and exits. It does not cover a process that leaves its group
// (a daemon that calls setsid): such a process is no longer reachable as
// part of the item, and the item that started it should not have.
package procgroup
