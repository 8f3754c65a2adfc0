package items

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Sprintf("%v", s)
	}
	return strings.TrimSpace(buf.String())
}
