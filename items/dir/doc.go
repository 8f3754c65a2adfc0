// Package dir owns the built-in item type "dir": a directory with a mode.
// Clean removes it only when it holds nothing but peace's own stale
// temporary files; it never deletes what other items (or people) put inside
// it.
package dir
