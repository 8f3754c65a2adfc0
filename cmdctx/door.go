package cmdctx

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/peace-go/peace/internal/durable"
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

// FlowCache keeps the parsed flow files of a workspace in its .cache
// directory (a name no profile can take), one file per flow file: pass it
// to LoadFlow (items.WithCache) and a flow file that has not changed is not
// parsed again. Reading it never fails a load: a cache file that is
// missing, damaged or of another version is parsed anew. With write, a
// flow file that loads without a mistake is put in the cache, if the
// workspace exists (the cache never creates one), written like every state
// file: a temporary file, fsynced and renamed, so it is never half-written.
// Without write nothing is written.
func FlowCache(workspace string, write bool) items.LoadOption {
	return items.WithCache(flowCache{dir: filepath.Join(workspace, flowCacheDir), write: write})
}

const flowCacheDir = ".cache"

type flowCache struct {
	dir   string
	write bool
}

// path names the cache file of the flow file at name.
func (c flowCache) path(name string) string {
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(c.dir, "flow-"+hex.EncodeToString(sum[:8])+".nodes")
}

func (c flowCache) Get(name string) []byte {
	data, err := os.ReadFile(c.path(name))
	if err != nil {
		return nil
	}
	return data
}

func (c flowCache) Put(name string, data []byte) {
	if !c.write {
		return
	}
	if fi, err := os.Stat(filepath.Dir(c.dir)); err != nil || !fi.IsDir() {
		return
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return
	}
	path := c.path(name)
	// What a killed writer left; one that is writing now merely fails to
	// rename, and its cache is written by the next run.
	_, _ = durable.SweepTemps(path)
	_ = durable.WriteFile(path, data, 0o644)
}
