package durable

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TempMarker is in the name of every temporary file peace makes, in the
// store and in the world alike: ".NAME.peace-tmp-RANDOM" beside NAME. One
// pattern, so the next run can tell its own leftovers from the user's files
// and remove them before they get in the way (P8).
const TempMarker = ".peace-tmp-"

// CreateTemp creates a new temporary file beside path, named by the one
// pattern, open for writing.
func CreateTemp(path string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+TempMarker+"*")
}

// TempName is a fresh temporary name beside path, for callers that create
// the file themselves (with O_EXCL).
func TempName(path string) string {
	dir, base := filepath.Split(path)
	return dir + "." + base + TempMarker + strconv.FormatUint(rand.Uint64(), 36)
}

// IsTemp reports whether a directory entry's name is one of peace's
// temporary files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, TempMarker)
}

// IsTempOf reports whether name is a temporary file made for base.
func IsTempOf(name, base string) bool {
	return strings.HasPrefix(name, "."+base+TempMarker)
}
