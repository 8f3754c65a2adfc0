package progress

import (
	"time"
)

// Version is the format version of the JSON event stream. It is written in
// the first line of the json view and bumped whenever an event's shape
// changes incompatibly.
const Version = 1

// Type names an event. The string values are part of the JSON line protocol.
type Type string

const (
	ExecutionStart    Type = "execution_start"    // Command, Flow, Profile, Workspace, Items
	ExecutionEnd      Type = "execution_end"      // Outcome
	BlockStart        Type = "block_start"        // Block
	BlockEnd          Type = "block_end"          // Block
	ItemStart         Type = "item_start"         // Block, Item
	ItemLimit         Type = "item_limit"         // Item, Limit
	ItemProgress      Type = "item_progress"      // Item, Delta, Done
	ItemMessage       Type = "item_message"       // Item, Message
	ItemOutput        Type = "item_output"        // Block, Item, Line: one line an item's command printed; never coalesced
	ItemDone          Type = "item_done"          // Block, Item, Status (applied, unchanged, discovered ...)
	ItemFailed        Type = "item_failed"        // Block, Item, Error
	ItemInterrupted   Type = "item_interrupted"   // Block, Item: in flight when cancelled
	ItemUnknown       Type = "item_unknown"       // Item: begun but never ended in an earlier run
	InterruptReceived Type = "interrupt_received" // Stage "stop", InFlight
	CancelRequested   Type = "cancel_requested"   // Stage "cancel", InFlight
	LockWait          Type = "lock_wait"          // Message: who holds the lock and since when
	Notice            Type = "notice"             // Message: something the user should know (torn journal tail, lock takeover)
	Fatal             Type = "fatal"              // Message, Code: an error before or instead of a run (a usage error, a held lock)
)

// LimitKind says how an item's work is measured.
type LimitKind string

const (
	LimitUnknown LimitKind = "unknown" // a spinner: no total is known
	LimitSteps   LimitKind = "steps"
	LimitBytes   LimitKind = "bytes"
)

// Limit is the total amount of work an item will do, in its unit.
type Limit struct {
	Kind  LimitKind `json:"kind"`
	Total int64     `json:"total,omitempty"`
}

// Unknown, Steps and Bytes build Limits.
func Unknown() Limit      { return Limit{Kind: LimitUnknown} }
func Steps(n int64) Limit { return Limit{Kind: LimitSteps, Total: n} }
func Bytes(n int64) Limit { return Limit{Kind: LimitBytes, Total: n} }

// Event is one entry in the stream. Which fields are set depends on Type
// (see the comments on the Type constants); the rest stay zero and are
// omitted from JSON.
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Type Type      `json:"type"`

	Execution string `json:"execution,omitempty"` // execution ID
	Block     string `json:"block,omitempty"`
	Item      string `json:"item,omitempty"`

	// ExecutionStart
	Command   string              `json:"command,omitempty"`
	Flow      string              `json:"flow,omitempty"`
	Profile   string              `json:"profile,omitempty"`
	Workspace string              `json:"workspace,omitempty"`
	Items     []string            `json:"items,omitempty"` // every item ID, in the flow's stable order
	Deps      map[string][]string `json:"deps,omitempty"`  // item ID -> the items it depends on

	Limit   *Limit `json:"limit,omitempty"`
	Delta   int64  `json:"delta,omitempty"`
	Done    int64  `json:"done,omitempty"` // progress so far, after Delta
	Message string `json:"message,omitempty"`
	Line    string `json:"line,omitempty"` // ItemOutput
	Status  Status `json:"status,omitempty"`
	Error   string `json:"error,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// Statuses is set on ExecutionEnd: item ID -> final Status.
	Statuses map[string]Status `json:"statuses,omitempty"`

	Code     int      `json:"code,omitempty"`      // Fatal: the exit code
	Stage    string   `json:"stage,omitempty"`     // "stop" or "cancel"
	InFlight []string `json:"in_flight,omitempty"` // items running when a stage began
}

// Status is where an item ended up in a block or an execution. The values
// are part of the JSON result and event contracts (DESIGN §3).
type Status string

const (
	StatusApplied     Status = "applied"     // apply ran and returned
	StatusUnchanged   Status = "unchanged"   // already at its target: no apply needed
	StatusDiscovered  Status = "discovered"  // a discover block found its state
	StatusWouldApply  Status = "would_apply" // a dry run: apply would run
	StatusFailed      Status = "failed"
	StatusInterrupted Status = "interrupted" // in flight when the execution was cancelled
	StatusNotStarted  Status = "not_started" // never started: stopped, or an earlier error
	StatusUnknown     Status = "unknown"     // begun in an earlier run that died before it ended
	StatusRemoved     Status = "removed"     // recorded, no longer in the flow, cleaned by this execution
)

// Sink receives events. Implementations are safe for concurrent use and
// must not block the caller for long: item work waits on Emit.
type Sink interface {
	Emit(Event)
}

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) {}

// View is a Sink that renders events for a person or a program. Close waits
// until every event emitted before it has been rendered, then releases what
// the view holds (the terminal, timers). Views are safe for concurrent use.
type View interface {
	Sink
	Close() error
}
