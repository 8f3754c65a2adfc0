package progress

// Tracker is what an item function uses to report its own progress: set the
// limit, advance, set a message, pass on a line its command printed. It is
// safe for concurrent use and never blocks item work for long.
type Tracker interface {
	SetLimit(Limit)
	Advance(n int64)
	// Message is the latest news; views may drop one for the next.
	Message(msg string)
	// Output is one line of what the item's command printed: it is kept
	// in the item's log and no view drops it.
	Output(line string)
}

// NoTracker is a Tracker that reports nothing; handy in tests and examples.
var NoTracker Tracker = noTracker{}

type noTracker struct{}

func (noTracker) SetLimit(Limit) {}
func (noTracker) Advance(int64)  {}
func (noTracker) Message(string) {}
func (noTracker) Output(string)  {}
