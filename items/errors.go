package items

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// InputError is a mistake in a flow file: where it is and what was expected.
type InputError struct {
	File      string // "" until the loader fills it in
	Line, Col int    // 1-based; 0 when unknown
	Msg       string
}

func (e *InputError) Error() string {
	switch {
	case e.File == "":
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// atNode makes an InputError positioned at n (which may be nil).
func atNode(n *yaml.Node, format string, args ...any) *InputError {
	e := &InputError{Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// ErrorAt is atNode for item types outside this package.
func ErrorAt(n *yaml.Node, format string, args ...any) error { return atNode(n, format, args...) }

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// fromYAMLError turns a yaml.v3 decoding error into InputErrors, one for each
// problem yaml.v3 reports (joined when several), keeping the line yaml.v3
// reports and falling back to n's position. An InputError (a param type's
// UnmarshalYAML may return one, made with ErrorAt) is kept as it is.
func fromYAMLError(n *yaml.Node, err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return err
	}
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs = te.Errors
	}
	errs := make([]error, len(msgs))
	for i, msg := range msgs {
		e := atNode(n, "%s", msg)
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
			e.Col = 0
			if c := named(n, e.Line, e.Msg); c != nil {
				e.Col = c.Column
			}
		}
		errs[i] = e
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// named finds the node on line that a yaml.v3 message names (it quotes values
// as `value` and keys as "key"), so the error can have a column too.
func named(n *yaml.Node, line int, msg string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Line == line && n.Kind == yaml.ScalarNode &&
		(strings.Contains(msg, "`"+n.Value+"`") || strings.Contains(msg, strconv.Quote(n.Value))) {
		return n
	}
	for _, c := range n.Content {
		if found := named(c, line, msg); found != nil {
			return found
		}
	}
	return nil
}
