//go:build !unix

package file

import "os"

// openRegular opens a file Discover has just seen to be regular.
func openRegular(path string) (*os.File, error) { return os.Open(path) }
