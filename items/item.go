package items

import (
	"context"
	"encoding/json"
	"regexp"

	"github.com/peace-go/peace/progress"
)

// ID is an item's stable identifier: [a-z][a-z0-9_]*.
type ID string

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Valid reports whether id is a well-formed item (or flow) ID.
func (id ID) Valid() bool { return idPattern.MatchString(string(id)) }

// State is an item's state, type-erased. Every State is a value that
// encoding/json can marshal; an item decodes its own states back with
// DecodeState. nil means "no state".
type State = any

// Op is the command an apply serves: ensure (target is the goal state) or
// clean (target is the clean state).
type Op string

const (
	OpEnsure Op = "ensure"
	OpClean  Op = "clean"
)

// FnCtx is what every item function receives besides its context.Context.
type FnCtx struct {
	// Op is the command being run; items whose apply differs between ensure
	// and clean (sh_cmd runs a different command) read it.
	Op Op
	// Progress reports this item's progress. Never nil.
	Progress progress.Tracker
	// Stored is the last recorded state of this item, decoded with the item's
	// DecodeState, or nil when none was recorded.
	Stored State
	// Processes, when set, is told of every process group the item starts,
	// before the group runs anything. Items that start processes must tell
	// it: that is how no process outlives peace.
	Processes ProcessGroups
}

// ProcessGroups is told of the process groups an item starts. Started is
// called with a group that has run nothing yet; the group may run only if
// Started returns nil. The item calls ended once the group's command has
// ended (processes it left in the group stay covered until they are gone).
type ProcessGroups interface {
	Started(pgid int) (ended func(), err error)
}

// ApplyCheck says whether moving from one state to another needs an apply,
// and how its progress will be measured.
type ApplyCheck struct {
	Required bool
	Limit    progress.Limit
}

// NotRequired is the ApplyCheck of an item already at its target.
var NotRequired = ApplyCheck{}

// Required returns an ApplyCheck that needs an apply measured by limit.
func Required(limit progress.Limit) ApplyCheck { return ApplyCheck{Required: true, Limit: limit} }

// Diff is what would change between two states of an item.
type Diff struct {
	// Equal is true when nothing would change.
	Equal bool `json:"equal"`
	// Text is a short human summary of the change, e.g. "absent → built".
	Text string `json:"text,omitempty"`
}

// Item is a unit of automation as the core runs it. Every function that can
// touch the world takes a context; when it is cancelled the function returns
// promptly with ctx.Err() (wrapped is fine).
//
// Implementations are usually written with Typed rather than by hand.
type Item interface {
	ID() ID
	// Type is the item type name as written in flow files ("file", "sh_cmd").
	Type() string

	// Current discovers the state the world is in now.
	Current(ctx context.Context, fc FnCtx) (State, error)
	// Goal discovers the state ensure moves the world to.
	Goal(ctx context.Context, fc FnCtx) (State, error)
	// Clean discovers the state clean moves the world to.
	Clean(ctx context.Context, fc FnCtx) (State, error)
	// Diff tells what would change from one state to another.
	Diff(from, to State) (Diff, error)
	// ApplyCheck tells whether Apply is needed to go from current to target.
	ApplyCheck(ctx context.Context, fc FnCtx, current, target State) (ApplyCheck, error)
	// Apply moves the world from current to target and returns the state it
	// reached, with any physical parts only known now (an ETag, a generated ID).
	Apply(ctx context.Context, fc FnCtx, current, target State) (State, error)
	// ApplyDry returns the state Apply would reach, without touching the world.
	ApplyDry(ctx context.Context, fc FnCtx, current, target State) (State, error)

	// DecodeState decodes a state this item's functions returned, from its
	// JSON encoding.
	DecodeState(data json.RawMessage) (State, error)
}
