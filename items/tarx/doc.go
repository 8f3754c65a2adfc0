// Package tarx owns the tar_x item type: the files a .tar or .tar.gz archive
// puts under a destination directory. It extracts only what differs, each
// file through a temporary file and a rename, writes sparse entries (and
// runs of zeros) as holes, refuses archives whose entries would land outside
// the destination or below a symlink, never follows a symlink on the way to
// an entry, and on clean removes only what the archive put there.
package tarx
