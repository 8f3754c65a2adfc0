// Package durable owns the small file-system steps that make a change
// survive a crash, shared by the state store and the built-in items: the one
// atomic file write (temp, fsync, rename, directory fsync), the one
// temporary-name pattern, and the sweep of stale temporary files. It knows
// nothing of states or items.
package durable
