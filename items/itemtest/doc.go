// Package itemtest helps item authors test an item without the executor:
// it runs an item's functions in the order a command would, once. It owns
// no item and records nothing.
package itemtest
