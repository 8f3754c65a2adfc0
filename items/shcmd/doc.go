// Package shcmd owns the built-in item type "sh_cmd": an item whose states
// are the trimmed stdout of shell commands. Each command runs with sh -c in
// its own process group, streams its output lines as progress messages, and
// is stopped with SIGTERM, then SIGKILL, when its context is cancelled.
package shcmd
