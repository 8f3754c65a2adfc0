package progress

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Text is how a status reads in a sentence: "not started", not
// "not_started".
func (s Status) Text() string {
	return strings.ReplaceAll(string(s), "_", " ")
}

// OutcomeText is the start of a summary line: "done in 3.1s", or
// "interrupted after 3.1s".
func OutcomeText(outcome string, d time.Duration) string {
	took := Seconds(d)
	switch outcome {
	case "", "complete":
		return "done in " + took
	default:
		return outcome + " after " + took
	}
}

// Seconds renders a duration as "3.1s", "2m05s" past a minute, or "1h02m"
// past an hour.
func Seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Amount renders done out of the limit in its unit: "3/5 steps",
// "3.2 MiB / 10.0 MiB", or just what is done when the total is unknown.
func (l Limit) Amount(done int64) string {
	switch l.Kind {
	case LimitSteps:
		if l.Total > 0 {
			return fmt.Sprintf("%d/%d steps", done, l.Total)
		}
		return fmt.Sprintf("%d steps", done)
	case LimitBytes:
		if l.Total > 0 {
			return HumanBytes(done) + " / " + HumanBytes(l.Total)
		}
		return HumanBytes(done)
	default:
		if done != 0 {
			return fmt.Sprintf("%d", done)
		}
		return ""
	}
}

// HumanBytes renders n in binary units: "512 B", "3.2 MiB". Views and
// state summaries say sizes the same way.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for (f >= unit || f <= -unit) && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// OneLine makes text from items and commands safe to show on one line of
// a log or a terminal row: escape sequences and control characters are
// dropped, text overwritten with a carriage return keeps its last version
// (as a terminal would show it), and lines are joined with "; ".
func OneLine(s string) string {
	if s == "" {
		return ""
	}
	s = stripEscapes(strings.ToValidUTF8(s, "\uFFFD"))
	var lines []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if i := strings.LastIndexByte(strings.TrimRight(line, "\r"), '\r'); i >= 0 {
			line = line[i+1:]
		}
		line = strings.Map(func(r rune) rune {
			switch {
			case r == '\t':
				return ' '
			case isControl(r):
				return -1
			}
			return r
		}, line)
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "; ")
}

// Printable is line as a log or a plain view shows it: escape sequences
// and control characters but the tab removed, invalid UTF-8 replaced —
// nothing left that would act on a terminal.
func Printable(line string) string {
	line = stripEscapes(strings.ToValidUTF8(line, "\uFFFD"))
	return strings.Map(func(r rune) rune {
		if r != '\t' && isControl(r) {
			return -1
		}
		return r
	}, line)
}

// isControl reports whether r is a C0 or C1 control character or DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// stripEscapes removes ANSI escape sequences: CSI (ESC [ ... final byte),
// OSC and other strings (ESC ] ... BEL or ESC \), and two-byte escapes.
func stripEscapes(s string) string {
	if !strings.ContainsRune(s, 0x1b) && !strings.ContainsRune(s, 0x9b) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x9b: // 8-bit CSI
			i = skipCSI(s, i+size)
		case r == 0x1b && i+1 < len(s):
			switch s[i+1] {
			case '[':
				i = skipCSI(s, i+2)
			case ']', 'P', '_', '^', 'X':
				i = skipString(s, i+2)
			default:
				i += 2
			}
		case r == 0x1b:
			i++
		default:
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return b.String()
}

func skipCSI(s string, i int) int {
	for i < len(s) {
		c := s[i]
		i++
		if c >= 0x40 && c <= 0x7e {
			break
		}
	}
	return i
}

func skipString(s string, i int) int {
	for i < len(s) {
		if s[i] == 0x07 {
			return i + 1
		}
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
			return i + 2
		}
		i++
	}
	return i
}

// JoinIDs lists item IDs for a sentence, eliding past max: "a, b, c +4 more".
func JoinIDs(ids []string, max int) string {
	if len(ids) <= max {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s +%d more", strings.Join(ids[:max], ", "), len(ids)-max)
}
