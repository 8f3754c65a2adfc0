package shcmd

import (
	"os"
	"strings"
)

// stateOut is the file a command names by $PEACE_STATE_OUT: empty when
// the command starts, read when it has ended.
type stateOut struct{ path string }

// newStateOut makes an empty file for one command, outside the world the
// item changes.
func newStateOut() (stateOut, error) {
	f, err := os.CreateTemp("", "peace-state-out-*")
	if err != nil {
		return stateOut{}, err
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(path)
		return stateOut{}, err
	}
	return stateOut{path: path}, nil
}

// read returns the state the command wrote, trimmed; ok is false when it
// wrote nothing (or only space).
func (o stateOut) read() (state string, ok bool, err error) {
	b, err := os.ReadFile(o.path)
	if err != nil {
		return "", false, err
	}
	s := strings.TrimSpace(string(b))
	return s, s != "", nil
}

func (o stateOut) remove() { os.Remove(o.path) }
