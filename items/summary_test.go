package items

import (
	"encoding/base64"
	"strings"
	"testing"
)

type stringer struct{}

func (stringer) String() string { return "told" }

// Summary writes JSON without HTML escapes and on one line, and a state
// summarised after a big one or one that fails to encode comes out whole.
func TestSummary(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	cases := []struct {
		state State
		want  string
	}{
		{nil, "-"},
		{stringer{}, "told"},
		{"a\nb", `a\nb`},
		{map[string]any{"a": "<b&>", "n": 1}, `{"a":"<b&>","n":1}`},
		{[]byte(big), `"` + base64.StdEncoding.EncodeToString([]byte(big)) + `"`},
		{"after", "after"},
		{3, "3"},
		{func() {}, "0x"}, // not JSON: %v, a pointer
		{[]int{1, 2}, "[1,2]"},
	}
	for _, c := range cases {
		got := Summary(c.state)
		if c.want == "0x" {
			if !strings.HasPrefix(got, "0x") {
				t.Errorf("Summary(func) = %q", got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("Summary(%T) = %.40q, want %.40q", c.state, got, c.want)
		}
	}
}
