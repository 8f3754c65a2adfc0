// Package state owns what peace remembers between runs, per
// workspace/profile/flow: the snapshots states_current.yaml and
// states_goal.yaml, the append-only journal of begin/end records that makes
// every applied state durable the moment its apply returns, recovery from
// that journal after a crash, the one-writer lock, and the versioning of
// these formats.
//
// States are opaque JSON documents here; what they mean is items' business.
package state
