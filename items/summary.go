package items

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// Summary is a state on one line, for people: its String method when it
// has one (every built-in state type does), a string with its line breaks
// shown as \n, or else its compact JSON.
func Summary(s State) string {
	switch s := s.(type) {
	case nil:
		return "-"
	case fmt.Stringer:
		return s.String()
	case string:
		return strings.ReplaceAll(s, "\n", `\n`)
	}
	e := summaryEncoders.Get().(*summaryEncoder)
	defer e.put()
	if err := e.enc.Encode(s); err != nil {
		return fmt.Sprintf("%v", s)
	}
	return string(bytes.TrimSpace(e.buf.Bytes()))
}

// summaryEncoder is an encoder Summary reuses: a result summarises every
// item, and an encoder of its own per state is most of the cost.
type summaryEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var summaryEncoders = sync.Pool{New: func() any {
	e := &summaryEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

func (e *summaryEncoder) put() {
	if e.buf.Cap() > 64<<10 {
		return // a big state's buffer is not kept
	}
	e.buf.Reset()
	summaryEncoders.Put(e)
}
