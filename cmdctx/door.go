package cmdctx

import (
	"path/filepath"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/state"
)

// What a command line needs of the state store, through the one door: the
// kinds of error that decide exit codes, and the format it writes.
type (
	// LockedError: another live run holds the lock.
	LockedError = state.LockedError
	// CorruptError: a state file, journal or lock cannot be read; it is
	// kept where it is.
	CorruptError = state.CorruptError
	// VersionError: a state file was written by a newer peace.
	VersionError = state.VersionError
	// LockInfo says who holds, or held, a lock.
	LockInfo = state.LockInfo
)

// StateFormat is the version of the state files this peace writes.
const StateFormat = state.FormatVersion

// DefaultWorkspace is where state lives unless told otherwise: .peace
// beside the flow file.
func DefaultWorkspace(flowFile string) string {
	return filepath.Join(filepath.Dir(flowFile), ".peace")
}

// LoadFlow reads and checks the flow file at path with the item types of
// reg, for the profile and flow params opts name (items.WithProfile,
// items.WithParams). Every mistake in it is an *items.InputError naming
// file, line and column; nothing is written. The flow's Params are the
// values an execution uses: pass them on as Options.Params, so they are
// recorded.
func LoadFlow(path string, reg *items.Registry, opts ...items.LoadOption) (*items.Flow, error) {
	return items.Load(path, reg, opts...)
}
