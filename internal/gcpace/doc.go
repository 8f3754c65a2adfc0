// Package gcpace sets how often the garbage collector of a peace process
// runs: rarely while its heap is small, as Go's default once it is not.
//
// A command over a flow of a thousand items lives tens of milliseconds and
// keeps a few megabytes live; with Go's default the collector runs several
// times over that short life and takes about a fifth of its CPU. A flow of
// a hundred thousand items keeps tens of megabytes live, and there the
// default's bound on memory (twice the live heap) matters more than the
// collector's CPU. So: a high GOGC while the live heap is small, Go's
// default from the first collection that finds it large.
package gcpace
