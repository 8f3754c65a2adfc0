// Package graph owns the drawing of a flow as a graph: its items in
// dependency layers (an item's layer is one more than its deepest
// dependency's), in a stable order, with or without what is recorded of
// each, and its renderings as DOT, Mermaid and JSON. `peace graph` prints
// it and the web page of `peace serve` draws the same one.
//
// It reads no state: the caller gives the recorded statuses.
package graph
