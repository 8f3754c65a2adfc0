package progress

// Tracker is what an item function uses to report its own progress: set the
// limit, advance, set a message. It is safe for concurrent use and never
// blocks item work for long.
type Tracker interface {
	SetLimit(Limit)
	Advance(n int64)
	Message(msg string)
}

// NoTracker is a Tracker that reports nothing; handy in tests and examples.
var NoTracker Tracker = noTracker{}

type noTracker struct{}

func (noTracker) SetLimit(Limit) {}
func (noTracker) Advance(int64)  {}
func (noTracker) Message(string) {}
