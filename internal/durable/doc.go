// Package durable owns the small file-system steps that make a change
// survive a crash, shared by the state store and the built-in items. It
// knows nothing of states or items.
package durable
