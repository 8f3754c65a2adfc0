//go:build unix

package file

import (
	"os"
	"syscall"
)

// openRegular opens a file Discover has just seen to be regular. It skips
// os.Open's registration with the runtime's poller, which a regular file
// never uses and which costs a system call per file: a no-op run discovers
// every file of the flow.
func openRegular(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// unlinkFile removes the file at path, never a directory: unlink(2)
// refuses one (EISDIR, or EPERM where POSIX says so), so no lstat is
// needed first. isDir is set when path is a directory.
func unlinkFile(path string) (isDir bool, err error) {
	for {
		err = syscall.Unlink(path)
		if err != syscall.EINTR {
			break
		}
	}
	switch err {
	case nil:
		return false, nil
	case syscall.EISDIR, syscall.EPERM:
		if fi, lerr := os.Lstat(path); lerr == nil && fi.IsDir() {
			return true, nil
		}
	}
	return false, &os.PathError{Op: "remove", Path: path, Err: err}
}
