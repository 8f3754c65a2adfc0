// Package file owns the built-in item type "file": a regular file with the
// content and mode a flow gives it, written atomically (temp file, fsync,
// rename, directory fsync) so a stop at any moment never leaves half a file.
// It does not create parent directories; a "dir" item does.
package file
