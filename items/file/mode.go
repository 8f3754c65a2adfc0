package file

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mode is a unix permission mode as flow files write it: always octal, like
// chmod, whether quoted ("0644"), a YAML int (0644, 0o644) or bare digits
// (644). Only the permission bits 0000–0777 can be set.
//
// The zero Mode is unset: the item uses its default.
type Mode struct {
	Perm fs.FileMode
	Set  bool
}

// Perm returns a set Mode; for Go code building params.
func Perm(p fs.FileMode) Mode { return Mode{Perm: p & fs.ModePerm, Set: true} }

// Or returns the mode, or def when it is unset.
func (m Mode) Or(def fs.FileMode) fs.FileMode {
	if m.Set {
		return m.Perm
	}
	return def
}

// ParseMode reads an octal mode: "0644", "644" or "0o644".
func ParseMode(s string) (Mode, error) {
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	n, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || digits == "" || strings.HasPrefix(digits, "+") {
		return Mode{}, fmt.Errorf("mode %q is not an octal number like 0644", s)
	}
	if n > 0o777 {
		return Mode{}, fmt.Errorf("mode %q is out of range: only permission bits 0000-0777 are supported", s)
	}
	return Perm(fs.FileMode(n)), nil
}

// UnmarshalYAML reads the mode from the text as written, so that 0644 and
// "0644" mean the same thing whatever YAML version the reader assumes.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: mode must be an octal number like 0644", n.Line)}}
	}
	v, err := ParseMode(n.Value)
	if err != nil {
		// A TypeError with "line N:" keeps the position through the loader.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*m = v
	return nil
}

// String is the mode in the four-digit octal form states use: "0644".
func (m Mode) String() string { return FormatMode(m.Perm) }

// FormatMode writes a file mode's permission bits, plus setuid, setgid and
// sticky when present, as unix octal: "0644", "4755".
func FormatMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}
