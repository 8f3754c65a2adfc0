package items

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// yaml.v3 reports where the construct that failed began, by line only. A
// person wants the line and column of the mistake and a word on how to fix
// it; placeSyntaxError finds them for the mistakes people make most.

const tabHint = "tabs are not allowed for indentation in YAML: use spaces"

// placeSyntaxError sets e's column (and line, when the mistake is
// elsewhere than where yaml.v3 says) and adds a hint.
func (l *loader) placeSyntaxError(e *InputError) {
	lines := bytes.Split(l.data, []byte("\n"))
	msg := e.Msg
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token"):
		if line, col, ok := indentTab(lines, e.Line-1); ok {
			e.Line, e.Col = line, col
			e.Msg = msg + ": " + tabHint
			return
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		if line, col, ok := badIndent(lines, e.Line-1); ok {
			e.Line, e.Col = line, col
			e.Msg = msg + ": this line is indented unlike the lines before it"
			return
		}
		if col, ok := secondColon(lineAt(lines, e.Line)); ok {
			e.Col = col
			e.Msg = msg + `: a value holding ": " must be quoted`
			return
		}
		e.Msg = msg + `: is this line indented too far, or does a value hold an unquoted ": "?`
	case strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "did not find expected '-' indicator") ||
		strings.Contains(msg, "block mapping") || strings.Contains(msg, "block collection"):
		if line, col, ok := badIndent(lines, e.Line-1); ok {
			e.Line, e.Col = line, col
			e.Msg = msg + ": this line is indented unlike the lines before it (keys of one mapping, and the \"- \" of one list, line up)"
			return
		}
	case strings.Contains(msg, "did not find expected ',' or"):
		e.Msg = msg + ": a [ or { is not closed"
		if line, col, ok := unclosed(lines, e.Line-1); ok {
			e.Line, e.Col = line, col
			return
		}
	case strings.Contains(msg, "unexpected end of stream"):
		e.Msg = msg + ": a quote, [ or { is not closed"
	}
	e.Col = firstNonBlank(lineAt(lines, e.Line))
}

func lineAt(lines [][]byte, line int) []byte {
	if line < 1 || line > len(lines) {
		return nil
	}
	return lines[line-1]
}

// firstNonBlank is the 1-based column of the first character of line that
// is not a space or a tab.
func firstNonBlank(line []byte) int {
	i := bytes.IndexFunc(line, func(r rune) bool { return r != ' ' && r != '\t' })
	if i < 0 {
		return 1
	}
	return 1 + utf8.RuneCount(line[:i])
}

// indentTab finds the first tab in the indentation of a line (spaces, tabs
// and the "- " of list items), from line index from on, else before it.
func indentTab(lines [][]byte, from int) (line, col int, ok bool) {
	find := func(i int) (int, bool) {
		for j, c := range lines[i] {
			switch c {
			case '\t':
				return j, true
			case ' ', '-':
			default:
				return 0, false
			}
		}
		return 0, false
	}
	from = max(from, 0)
	for i := from; i < len(lines); i++ {
		if j, found := find(i); found {
			return i + 1, j + 1, true
		}
	}
	for i := 0; i < from && i < len(lines); i++ {
		if j, found := find(i); found {
			return i + 1, j + 1, true
		}
	}
	return 0, 0, false
}

// secondColon is the column of the ": " that makes a mapping inside a
// plain value ("flow: a: b").
func secondColon(line []byte) (int, bool) {
	first := true
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ') {
			return 0, false
		}
		if line[i] == ':' && (i+1 == len(line) || line[i+1] == ' ') {
			if !first {
				return 1 + utf8.RuneCount(line[:i]), true
			}
			first = false
		}
	}
	return 0, false
}

// badIndent finds the first line, at or after line index from (less one:
// yaml.v3 often names the line before), that comes back to a column no
// line before it opened, or puts a key at the column of a list's "- ".
// Block scalars (| and >) and flow collections spanning lines are
// stepped over. It is a heuristic for placing a message, not a parser.
func badIndent(lines [][]byte, from int) (line, col int, ok bool) {
	type level struct {
		col int
		seq bool // opened by "- "
	}
	stack := []level{{0, false}}
	block := -1 // indentation of the line that opened a block scalar
	depth := 0  // open [ and { of flow collections
	for i, raw := range lines {
		text := strings.TrimRight(string(raw), " \r")
		trimmed := strings.TrimLeft(text, " ")
		indent := len(text) - len(trimmed)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if block >= 0 {
			if indent > block {
				continue
			}
			block = -1
		}
		if depth > 0 {
			depth += flowDepth(trimmed)
			continue
		}
		if strings.HasPrefix(trimmed, "---") || strings.HasPrefix(trimmed, "...") {
			stack = stack[:1]
			continue
		}
		dash := trimmed == "-" || strings.HasPrefix(trimmed, "- ")
		popped := false
		for len(stack) > 1 && stack[len(stack)-1].col > indent {
			stack = stack[:len(stack)-1]
			popped = true
		}
		top := stack[len(stack)-1]
		switch {
		case popped && top.col < indent:
			if i >= from-1 {
				return i + 1, indent + 1, true
			}
			stack = append(stack, level{indent, dash})
		case top.col < indent:
			stack = append(stack, level{indent, dash})
		case top.col > indent, top.seq && !dash:
			if i >= from-1 {
				return i + 1, indent + 1, true
			}
		}
		rest := trimmed
		for strings.HasPrefix(rest, "- ") {
			// "- key: v" opens a mapping two columns in.
			indent += 2
			rest = strings.TrimLeft(rest[2:], " ")
			indent += len(strings.TrimLeft(rest, " ")) - len(rest)
			stack = append(stack, level{indent, strings.HasPrefix(rest, "- ")})
		}
		if strings.HasSuffix(rest, "|") || strings.HasSuffix(rest, ">") ||
			strings.HasSuffix(rest, "|-") || strings.HasSuffix(rest, ">-") ||
			strings.HasSuffix(rest, "|+") || strings.HasSuffix(rest, ">+") {
			block = len(text) - len(strings.TrimLeft(text, " "))
		}
		depth += flowDepth(rest)
	}
	return 0, 0, false
}

// flowDepth is how many [ and { a line opens minus how many it closes,
// outside quotes.
func flowDepth(s string) int {
	d := 0
	brackets(s, func(_ int, opens bool) {
		if opens {
			d++
		} else {
			d--
		}
	})
	return max(d, 0)
}

// brackets calls fn with the index of each [, {, ] and } of the line s
// outside quotes and comments, and whether it opens.
func brackets(s string, fn func(i int, opens bool)) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return
		case c == '[' || c == '{':
			fn(i, true)
		case c == ']' || c == '}':
			fn(i, false)
		}
	}
}

// unclosed finds the [ or { opened at or after line index from (less
// one) that the lines after it do not close, outside quotes and comments.
func unclosed(lines [][]byte, from int) (line, col int, ok bool) {
	type pos struct{ line, col int }
	var open []pos
	for i := max(from-1, 0); i < len(lines); i++ {
		s := string(lines[i])
		brackets(s, func(j int, opens bool) {
			switch {
			case opens:
				open = append(open, pos{i + 1, 1 + utf8.RuneCountInString(s[:j])})
			case len(open) > 0:
				open = open[:len(open)-1]
			}
		})
	}
	if len(open) == 0 {
		return 0, 0, false
	}
	return open[0].line, open[0].col, true
}
