//go:build !unix

package file

import "os"

// openRegular opens a file Discover has just seen to be regular.
func openRegular(path string) (*os.File, error) { return os.Open(path) }

// unlinkFile removes the file at path, never a directory. isDir is set
// when path is a directory.
func unlinkFile(path string) (isDir bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return false, err
	case fi.IsDir():
		return true, nil
	}
	return false, os.Remove(path)
}
