package progress

// Handler has one method per event Type. A view (or anything else that
// renders the stream) implements it and passes each event to Handle, so
// adding a Type breaks the build of every view until it says what it does
// with the new kind — even if that is nothing. The json view needs none:
// it writes every event as it is.
type Handler interface {
	ExecutionStart(Event)
	ExecutionEnd(Event)
	BlockStart(Event)
	BlockEnd(Event)
	ItemStart(Event)
	ItemLimit(Event)
	ItemProgress(Event)
	ItemMessage(Event)
	ItemOutput(Event)
	ItemDone(Event)
	ItemFailed(Event)
	ItemInterrupted(Event)
	ItemUnknown(Event)
	InterruptReceived(Event)
	CancelRequested(Event)
	LockWait(Event)
	Notice(Event)
	Fatal(Event)
}

// Handle calls h's method for ev's Type and reports whether the Type is
// one this package knows. A Type it does not know (from a newer stream
// replayed from a record) calls nothing.
func Handle(h Handler, ev Event) bool {
	switch ev.Type {
	case ExecutionStart:
		h.ExecutionStart(ev)
	case ExecutionEnd:
		h.ExecutionEnd(ev)
	case BlockStart:
		h.BlockStart(ev)
	case BlockEnd:
		h.BlockEnd(ev)
	case ItemStart:
		h.ItemStart(ev)
	case ItemLimit:
		h.ItemLimit(ev)
	case ItemProgress:
		h.ItemProgress(ev)
	case ItemMessage:
		h.ItemMessage(ev)
	case ItemOutput:
		h.ItemOutput(ev)
	case ItemDone:
		h.ItemDone(ev)
	case ItemFailed:
		h.ItemFailed(ev)
	case ItemInterrupted:
		h.ItemInterrupted(ev)
	case ItemUnknown:
		h.ItemUnknown(ev)
	case InterruptReceived:
		h.InterruptReceived(ev)
	case CancelRequested:
		h.CancelRequested(ev)
	case LockWait:
		h.LockWait(ev)
	case Notice:
		h.Notice(ev)
	case Fatal:
		h.Fatal(ev)
	default:
		return false
	}
	return true
}
