package progress

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// jsonView writes the event stream as JSON lines for programs: first a
// version record, then one object per event, each written as it arrives
// in a single Write (never buffered to the end):
//
//	{"type":"version","version":1,"time":"..."}
//	{"seq":1,"time":"...","type":"execution_start",...}
//
// Control characters in strings are escaped by encoding/json, so the
// stream holds no raw escape codes or carriage returns.
type jsonView struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	seq    uint64 // the last seq written
	err    error
	closed bool
	buf    []byte // the line being written, kept for the next
}

var _ View = (*jsonView)(nil)

// versionRecord is the first line of the stream.
type versionRecord struct {
	Type    string    `json:"type"`
	Version int       `json:"version"`
	Time    time.Time `json:"time"`
}

// NewJSON returns the json view writing to w; it writes the version record
// at once, so even a stream that only carries a Fatal event starts with it.
func NewJSON(w io.Writer) View {
	return newJSON(w, time.Now)
}

func newJSON(w io.Writer, now func() time.Time) *jsonView {
	v := &jsonView{w: w, now: now}
	v.write(versionRecord{Type: "version", Version: Version, Time: now()})
	return v
}

func (v *jsonView) write(x any) {
	if v.err != nil {
		return
	}
	b, err := json.Marshal(x)
	if err != nil {
		v.err = err
		return
	}
	_, v.err = v.w.Write(append(b, '\n'))
}

// Emit writes ev as one line. An event keeps the Seq an Emitter gave it;
// one without (or out of order, from a second source) gets the next
// number, so seq always increases down the stream.
func (v *jsonView) Emit(ev Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	if ev.Seq <= v.seq {
		ev.Seq = v.seq + 1
	}
	v.seq = ev.Seq
	if ev.Time.IsZero() {
		ev.Time = v.now()
	}
	if v.err != nil {
		return
	}
	v.buf, v.err = appendEvent(v.buf[:0], &ev)
	if v.err != nil {
		return
	}
	v.buf = append(v.buf, '\n')
	_, v.err = v.w.Write(v.buf)
	if cap(v.buf) > maxKeptLine {
		v.buf = nil // an event naming every item of a big flow: not kept for the rest
	}
}

// maxKeptLine is the largest line buffer the json view keeps for the next
// event.
const maxKeptLine = 64 << 10

// Close returns the first write error; every line is already written.
func (v *jsonView) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	return v.err
}
