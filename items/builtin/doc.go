// Package builtin collects the item types every flow file can use without
// registering anything: it owns the list, not the types themselves.
package builtin
