// Package items owns what peace automates: the Item interface the core runs
// (with type-erased states), the Typed adapter that lets a Go author write an
// item against its own State type, the Flow graph (a DAG of items), the item
// type Registry and the flow-file loader.
//
// Built-in item types live in items/<type>/ and are collected by items/builtin.
// This package never runs items concurrently and never records state: that is
// cmdblock's and state's job.
package items
