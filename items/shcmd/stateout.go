package shcmd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// stateOut is the file a command names by $PEACE_STATE_OUT. It does not
// exist when the command starts: a command that writes it creates it, and
// most never do, so most applies create no file at all. It is read when
// the command has ended.
type stateOut struct{ path string }

// stateDir is the private directory (mode 0700: no one else can put a file
// at a name given out) the stateOut files are named in. It is made for the
// first command that needs one and removed, with anything a command left
// in it, when the last command in flight is done with it, so that one
// directory serves all the commands of a run that overlap.
var stateDir struct {
	mu    sync.Mutex
	path  string
	users int    // commands in flight that were given a name in it
	seq   uint64 // the last name given
}

// newStateOut names a file for one command, outside the world the item
// changes. Call remove once the command has ended.
func newStateOut() (stateOut, error) {
	stateDir.mu.Lock()
	defer stateDir.mu.Unlock()
	if stateDir.path == "" {
		dir, err := os.MkdirTemp("", "peace-state-out-*")
		if err != nil {
			return stateOut{}, err
		}
		stateDir.path = dir
	}
	stateDir.users++
	stateDir.seq++
	return stateOut{path: filepath.Join(stateDir.path, strconv.FormatUint(stateDir.seq, 10))}, nil
}

// read returns the state the command wrote, trimmed; ok is false when it
// wrote nothing (or only space), or no file at all.
func (o stateOut) read() (state string, ok bool, err error) {
	b, err := os.ReadFile(o.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	s := strings.TrimSpace(string(b))
	return s, s != "", nil
}

// remove removes the file, and the directory with the last command in
// flight.
func (o stateOut) remove() {
	os.Remove(o.path)
	stateDir.mu.Lock()
	defer stateDir.mu.Unlock()
	stateDir.users--
	if stateDir.users == 0 && stateDir.path != "" {
		// RemoveAll: a background child may have written its file late.
		os.RemoveAll(stateDir.path)
		stateDir.path = ""
	}
}
