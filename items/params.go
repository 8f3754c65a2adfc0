package items

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Flow params and the references a param string may hold (DESIGN §4):
//
//	${params.NAME}             a flow param's value for this run
//	${profile}                 the profile's name
//	${flow}                    the flow's ID
//	${items.ID.state}          item ID's state (a string as it is, else its JSON)
//	${items.ID.state.FIELD}    a field of that state as JSON; FIELD.SUB for nested ones
//	$${                        a literal ${
//
// The loader replaces the first three in every string of an item's params
// before the item type sees them; a reference to an item's state makes the
// item depend on that item, and the item is built once the state is known
// (see Deferred). Params an item type declares verbatim are left as written.

// RefKind is what a reference names.
type RefKind int

const (
	RefParam   RefKind = iota + 1 // ${params.NAME}
	RefProfile                    // ${profile}
	RefFlow                       // ${flow}
	RefItem                       // ${items.ID.state[.FIELD]}
)

// Ref is one ${...} in a param string.
type Ref struct {
	Kind RefKind
	// Name is the flow param's name (RefParam) or the item's ID (RefItem).
	Name string
	// Field is the path into the item's state, empty for the whole state.
	Field []string
	// Text is the reference as written, "${...}".
	Text string
	// Offset is where Text starts in the string, in bytes.
	Offset int

	// typed is set when Field was checked against the Go type of the
	// item's states: a field that type has but a state leaves out (JSON's
	// omitempty) then stands for "".
	typed bool
}

// segment is a run of literal text, or a reference.
type segment struct {
	lit string
	ref *Ref
}

// refError is a malformed reference at a byte offset of its string.
type refError struct {
	offset int
	msg    string
}

const refForms = "${params.NAME}, ${profile}, ${flow} or ${items.ID.state[.FIELD]}"

// scanRefs splits s into literal text and references, and says what is
// malformed in it (each mistake; a malformed reference is left out of the
// segments). It returns nil segments when s holds no reference and no $${
// (the common case: nothing to do).
func scanRefs(s string) ([]segment, []refError) {
	if !strings.Contains(s, "${") {
		return nil, nil
	}
	var segs []segment
	var errs []refError
	var lit strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, refError{i, "unclosed ${: expected " + refForms + " (a literal ${ is written $${)"})
			break
		}
		text := s[i : i+end+1]
		ref, msg := parseRef(text[2 : len(text)-1])
		if ref == nil {
			errs = append(errs, refError{i, msg})
			i += end + 1
			continue
		}
		ref.Text, ref.Offset = text, i
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String()})
			lit.Reset()
		}
		segs = append(segs, segment{ref: ref})
		i += end + 1
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{lit: lit.String()})
	}
	return segs, errs
}

// parseRef reads what is between ${ and }.
func parseRef(inner string) (*Ref, string) {
	unknown := func() (*Ref, string) {
		return nil, fmt.Sprintf("unknown reference ${%s}: expected %s (a literal ${ is written $${)", inner, refForms)
	}
	switch {
	case inner == "profile":
		return &Ref{Kind: RefProfile}, ""
	case inner == "flow":
		return &Ref{Kind: RefFlow}, ""
	case strings.HasPrefix(inner, "params."):
		name := inner[len("params."):]
		if name == "" || strings.ContainsAny(name, ". \t") {
			return nil, fmt.Sprintf("malformed reference ${%s}: expected ${params.NAME}", inner)
		}
		return &Ref{Kind: RefParam, Name: name}, ""
	case strings.HasPrefix(inner, "items."):
		parts := strings.Split(inner[len("items."):], ".")
		if len(parts) < 2 || parts[0] == "" || parts[1] != "state" {
			return nil, fmt.Sprintf("malformed reference ${%s}: expected ${items.ID.state} or ${items.ID.state.FIELD}", inner)
		}
		for _, f := range parts[2:] {
			if f == "" {
				return nil, fmt.Sprintf("malformed reference ${%s}: a field name is empty", inner)
			}
		}
		return &Ref{Kind: RefItem, Name: parts[0], Field: parts[2:]}, ""
	case inner == "param" || strings.HasPrefix(inner, "param."):
		msg := fmt.Sprintf("unknown reference ${%s}: flow params are ${params.NAME}", inner)
		return nil, msg
	}
	return unknown()
}

// refPosition is the line and column of the byte at offset in scalar n's
// value: exact for a scalar on one line, plain or quoted without escapes;
// the scalar's own position otherwise.
func refPosition(n *yaml.Node, offset int) (line, col int) {
	line, col = n.Line, n.Column
	if strings.Contains(n.Value[:offset], "\n") {
		return line, col
	}
	switch n.Style {
	case 0, yaml.FlowStyle:
		return line, col + len([]rune(n.Value[:offset]))
	case yaml.SingleQuotedStyle:
		if !strings.Contains(n.Value[:offset], "'") {
			return line, col + 1 + len([]rune(n.Value[:offset]))
		}
	case yaml.DoubleQuotedStyle:
		// Escapes make the written text longer than the value; only a
		// value without any is counted.
		if !strings.ContainsAny(n.Value[:offset], "\\\"\t") {
			return line, col + 1 + len([]rune(n.Value[:offset]))
		}
	}
	return line, col
}
