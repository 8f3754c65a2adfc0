package file

import (
	"encoding/json"
	"math"
	"unicode/utf8"

	"github.com/peace-go/peace/items"
)

// decodeState decodes a State as json.Unmarshal does, with the same value
// and the same error. A no-op run decodes every recorded state of every
// file, so the form json.Marshal writes is read by hand: its keys in field
// order, no spaces, strings without escapes, integers in their shortest
// form. Anything else, valid or not, goes to encoding/json.
func decodeState(data []byte) (State, error) {
	if s, ok := decodeCanonical(data); ok {
		return s, nil
	}
	var s State
	err := json.Unmarshal(data, &s)
	return s, err
}

// decodeCanonical reads a State in the form json.Marshal writes it. ok is
// false when data is in any other form, valid or not: then the caller
// decodes it with encoding/json.
func decodeCanonical(data []byte) (s State, ok bool) {
	d := canonical{data: data}
	if !d.lit(`{"path":`) || !d.str(&s.Path) || !d.lit(`,"exists":`) {
		return State{}, false
	}
	switch {
	case d.lit("true"):
		s.Exists = true
	case d.lit("false"):
	default:
		return State{}, false
	}
	if d.lit(`,"size":`) && !d.int(&s.Size) {
		return State{}, false
	}
	if d.lit(`,"sha256":`) && !d.str(&s.SHA256) {
		return State{}, false
	}
	if d.lit(`,"mode":`) && !d.str(&s.Mode) {
		return State{}, false
	}
	if d.lit(`,"seen":`) {
		var mode uint64
		if !d.lit(`{"size":`) || !d.int(&s.Seen.Size) ||
			!d.lit(`,"mtime_ns":`) || !d.int(&s.Seen.Mtime) ||
			!d.lit(`,"ctime_ns":`) || !d.int(&s.Seen.Ctime) ||
			!d.lit(`,"ino":`) || !d.uint(&s.Seen.Ino) ||
			!d.lit(`,"dev":`) || !d.uint(&s.Seen.Dev) ||
			!d.lit(`,"mode":`) || !d.uint(&mode) || mode > math.MaxUint32 ||
			!d.lit(`,"at_ns":`) || !d.int(&s.Seen.At) || !d.lit("}") {
			return State{}, false
		}
		s.Seen.Mode = uint32(mode)
	}
	if !d.lit("}") || len(d.data) != 0 {
		return State{}, false
	}
	return s, true
}

// canonical is what is left of the input to decodeCanonical.
type canonical struct{ data []byte }

// lit consumes lit if the input starts with it.
func (d *canonical) lit(lit string) bool {
	if len(d.data) < len(lit) || string(d.data[:len(lit)]) != lit {
		return false
	}
	d.data = d.data[len(lit):]
	return true
}

// str consumes a string with no escapes: valid UTF-8 with no control
// characters, which encoding/json decodes to its bytes as they are.
func (d *canonical) str(s *string) bool {
	if len(d.data) == 0 || d.data[0] != '"' {
		return false
	}
	ascii := true
	for i := 1; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			b := d.data[1:i]
			if !ascii && !utf8.Valid(b) {
				return false
			}
			*s = string(b)
			d.data = d.data[i+1:]
			return true
		case c == '\\' || c < ' ':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

// digits consumes an unsigned integer as json.Marshal writes it: 0, or a
// nonzero digit and more digits. It fails on one that does not fit.
func (d *canonical) digits() (uint64, bool) {
	if len(d.data) == 0 || d.data[0] < '0' || d.data[0] > '9' {
		return 0, false
	}
	if d.data[0] == '0' {
		d.data = d.data[1:]
		return 0, len(d.data) == 0 || !isNumberByte(d.data[0])
	}
	var n uint64
	i := 0
	for ; i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9'; i++ {
		v := uint64(d.data[i] - '0')
		if n > (math.MaxUint64-v)/10 {
			return 0, false
		}
		n = n*10 + v
	}
	d.data = d.data[i:]
	return n, len(d.data) == 0 || !isNumberByte(d.data[0])
}

// isNumberByte reports whether c may continue a JSON number: a fraction
// or an exponent, which the canonical form has none of.
func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E'
}

func (d *canonical) uint(n *uint64) bool {
	v, ok := d.digits()
	*n = v
	return ok
}

// int consumes an int64: digits, or a minus and nonzero digits.
func (d *canonical) int(n *int64) bool {
	neg := len(d.data) > 0 && d.data[0] == '-'
	if neg {
		d.data = d.data[1:]
		if len(d.data) == 0 || d.data[0] == '0' {
			return false
		}
	}
	v, ok := d.digits()
	switch {
	case !ok:
		return false
	case neg && v <= 1<<63:
		*n = -int64(v)
	case !neg && v <= math.MaxInt64:
		*n = int64(v)
	default:
		return false
	}
	return true
}

// DecodeState decodes a recorded state (see items.StateDecoder).
func (it *item) DecodeState(data []byte) (State, error) { return decodeState(data) }

var _ items.StateDecoder[State] = (*item)(nil)
