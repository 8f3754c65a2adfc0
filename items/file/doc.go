// Package file owns the built-in item type "file": a regular file with the
// content and mode a flow gives it, written atomically (temp file, fsync,
// rename, directory fsync) so a stop at any moment never leaves half a file,
// and the temporary files a killed write left beside it are removed by the
// next ensure or clean. Missing parent directories are made as `mkdir -p`
// would; a "dir" item gives one a mode, or removes it.
package file
