// Package state owns what peace remembers between runs, per
// workspace/profile/flow: the checksummed snapshots states_current.yaml and
// states_goal.yaml, the append-only journal of begin/end records that makes
// every applied state durable the moment its apply returns (and names the
// process groups an apply started), recovery from that journal after a
// crash, the one-writer lock, and the versioning of these formats. A file
// it cannot trust is reported corrupt and kept, never overwritten or
// deleted.
//
// States are opaque JSON documents here; what they mean is items' business.
// It kills no process: it only records and reports the groups to check.
package state
