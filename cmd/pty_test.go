//go:build linux

// The pseudo-terminal is opened with Linux ioctls.

package cmd_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal pair. The master is the test's side: what the
// program writes arrives there, and keys are written to it. The slave is
// handed to the program as its terminal.
type pty struct {
	master, slave *os.File
	mute          bool // never answers a query, like script(1) or Python's pty

	mu       sync.Mutex
	out      bytes.Buffer // everything read from the master so far
	answered int          // out up to here is scanned for queries
	eof      chan struct{}
}

// openPTY opens a pseudo-terminal of cols x rows and starts reading its
// master side. Both ends are closed when the test ends.
func openPTY(t *testing.T, cols, rows int) *pty {
	t.Helper()
	return newPTY(t, cols, rows, false)
}

// openMutePTY is openPTY for a terminal that answers no query.
func openMutePTY(t *testing.T, cols, rows int) *pty {
	t.Helper()
	return newPTY(t, cols, rows, true)
}

func newPTY(t *testing.T, cols, rows int, mute bool) *pty {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		// A container without devpts has no terminals to give.
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	// The master goes through the runtime poller, so Close ends a pending
	// Read; calling Fd would make it blocking. Hence the raw-conn ioctls.
	var n int
	err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlockpt: %w", err)
		}
		n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN)
		if err != nil {
			return fmt.Errorf("ptsname: %w", err)
		}
		return nil
	})
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("open slave: %v", err)
	}
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		t.Fatalf("set window size: %v", err)
	}
	p := &pty{master: master, slave: slave, mute: mute, eof: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		p.slave.Close()
		p.master.Close()
		<-p.eof
	})
	return p
}

func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// read copies the master side into p.out until it fails: EIO once no
// process holds the slave open any more, or the master is closed. Like a
// terminal, it answers the queries programs send it.
func (p *pty) read() {
	defer close(p.eof)
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		p.mu.Lock()
		p.out.Write(buf[:n])
		answers := p.answers()
		p.mu.Unlock()
		if answers != "" && !p.mute {
			_, _ = io.WriteString(p.master, answers)
		}
		if err != nil {
			return
		}
	}
}

// terminalQueries are what a terminal is asked at start (the colour
// libraries ask for the background colour, then the cursor position) and
// how a dark terminal answers.
var terminalQueries = []struct{ query, answer string }{
	{"\x1b]11;?\x1b\\", "\x1b]11;rgb:0000/0000/0000\x1b\\"},
	{"\x1b[6n", "\x1b[1;1R"},
}

// answers returns the answers to the queries received since the last call.
// Without them a program waits for its query to time out.
func (p *pty) answers() string {
	out := p.out.Bytes()
	var b strings.Builder
	for {
		at, which := -1, 0
		for i, q := range terminalQueries {
			if j := bytes.Index(out[p.answered:], []byte(q.query)); j >= 0 && (at < 0 || j < at) {
				at, which = j, i
			}
		}
		if at < 0 {
			break
		}
		b.WriteString(terminalQueries[which].answer)
		p.answered += at + len(terminalQueries[which].query)
	}
	// A query cut in two by a read is found on the next one.
	longest := 0
	for _, q := range terminalQueries {
		longest = max(longest, len(q.query))
	}
	p.answered = max(p.answered, len(out)-longest+1)
	return b.String()
}

// drain waits, after the program has exited, until everything it wrote
// has been read. It closes the test's own slave descriptor, so the
// terminal's mode must be checked before.
func (p *pty) drain(t *testing.T) {
	t.Helper()
	p.slave.Close()
	select {
	case <-p.eof:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal is still open: a process left behind holds it")
	}
}

// output is everything the terminal received so far.
func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// quiet reports whether nothing more reaches the terminal for a moment:
// a frame being drawn has been written whole by then.
func (p *pty) quiet() bool {
	before := len(p.output())
	time.Sleep(20 * time.Millisecond)
	return len(p.output()) == before
}

// screen renders what the terminal received so far.
func (p *pty) screen() string {
	return renderScreen(p.output())
}

// press writes keys to the terminal, as if typed.
func (p *pty) press(t *testing.T, keys string) {
	t.Helper()
	if _, err := io.WriteString(p.master, keys); err != nil {
		t.Fatalf("type %q: %v", keys, err)
	}
}

// waitFor polls the rendered screen until ok holds for it, and fails the
// test with the screen after timeout. Deadlines are generous: a loaded
// machine is slow, and only a hang should fail here.
func (p *pty) waitFor(t *testing.T, what string, timeout time.Duration, ok func(screen string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := p.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s; the screen:\n%s\nraw: %q", what, timeout, s, p.output())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitText waits until the rendered screen contains all of texts.
func (p *pty) waitText(t *testing.T, timeout time.Duration, texts ...string) string {
	t.Helper()
	return p.waitFor(t, fmt.Sprintf("%q", texts), timeout, func(s string) bool {
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
}

// termios reads the terminal's mode from the slave side.
func (p *pty) termios(t *testing.T) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("get termios: %v", err)
	}
	return tio
}

// renderScreen replays a terminal output stream onto a page of text and
// returns it, trailing blanks trimmed. It understands what an inline
// bubbletea program and plain line output use: CR, LF, backspace, tab
// (stops every 8 columns), cursor up/down/forward/back, to a column and
// to the next or previous line, forward and back by tab stops (ESC[I,
// ESC[Z), reverse index (ESC M) and index (ESC D,
// ESC E), erase in line (ESC[K, ESC[1K, ESC[2K), below (ESC[J) and
// characters (ESC[X), insert and delete characters (ESC[@, ESC[P), and
// repeat the last character (ESC[b). SGR colours, modes (ESC[?25l) and
// OSC strings are dropped. The page has no height: the cursor moves over
// every line written so far, which is what a program that never goes
// above its own frame needs.
func renderScreen(stream string) string {
	var (
		lines    [][]rune
		row, col int
		last     rune = ' ' // the last character drawn, for ESC[b
	)
	line := func() []rune {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		return lines[row]
	}
	put := func(r rune) {
		l := line()
		for len(l) <= col {
			l = append(l, ' ')
		}
		l[col] = r
		lines[row] = l
		col++
		last = r
	}
	erase := func(from, to int) { // cells [from, to) of the current line
		l := line()
		for i := from; i < to && i < len(l); i++ {
			l[i] = ' '
		}
	}
	s := []rune(stream)
	for i := 0; i < len(s); i++ {
		switch r := s[i]; {
		case r == '\r':
			col = 0
		case r == '\n':
			row++
		case r == '\b':
			col = max(col-1, 0)
		case r == '\t':
			col = (col/8 + 1) * 8
		case r == 0x1b && i+1 < len(s) && s[i+1] == '[':
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			if j == len(s) {
				i = j
				break
			}
			params, final := string(s[i+2:j]), s[j]
			i = j
			if strings.HasPrefix(params, "?") || strings.HasPrefix(params, ">") {
				break // private modes: cursor visibility, paste, ...
			}
			n := 1
			if v, err := strconv.Atoi(params); err == nil && v > 0 {
				n = v
			}
			arg := 0
			if v, err := strconv.Atoi(params); err == nil {
				arg = v
			}
			switch final {
			case 'A':
				row = max(row-n, 0)
			case 'B':
				row += n
			case 'C':
				col += n
			case 'D':
				col = max(col-n, 0)
			case 'E':
				row, col = row+n, 0
			case 'F':
				row, col = max(row-n, 0), 0
			case 'G':
				col = n - 1
			case 'X':
				erase(col, col+n)
			case 'I': // forward n tab stops
				col = (col/8 + n) * 8
			case 'Z': // back n tab stops
				for range n {
					col = max((col-1)/8*8, 0)
				}
			case 'b':
				for range n {
					put(last)
				}
			case '@', 'P':
				l := line()
				if col < len(l) {
					if final == '@' {
						l = append(l[:col], append([]rune(strings.Repeat(" ", n)), l[col:]...)...)
					} else {
						l = append(l[:col], l[min(col+n, len(l)):]...)
					}
					lines[row] = l
				}
			case 'K':
				switch arg {
				case 0:
					erase(col, 1<<30)
				case 1:
					erase(0, col+1)
				case 2:
					erase(0, 1<<30)
				}
			case 'J':
				if arg == 0 {
					erase(col, 1<<30)
					if row+1 < len(lines) {
						lines = lines[:row+1]
					}
				}
			}
		case r == 0x1b && i+1 < len(s) && s[i+1] == ']':
			// OSC: up to BEL or ESC \.
			j := i + 2
			for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			if j < len(s) && s[j] == 0x1b {
				j++
			}
			i = j
		case r == 0x1b && i+1 < len(s) && s[i+1] == 'M':
			i++ // reverse index: up a line
			row = max(row-1, 0)
		case r == 0x1b && i+1 < len(s) && (s[i+1] == 'D' || s[i+1] == 'E'):
			if s[i+1] == 'E' {
				col = 0
			}
			i++ // index: down a line
			row++
		case r == 0x1b:
			i++ // another two-byte escape (ESC 7, ESC =, ...)
		case r < 0x20 || r == 0x7f:
			// other controls (BEL) draw nothing
		default:
			put(r)
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(string(l), " ")
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

func TestRenderScreen(t *testing.T) {
	for _, tc := range []struct{ name, stream, want string }{
		{"lines", "a\r\nb\r\n", "a\nb"},
		{"colours dropped", "\x1b[1mbold\x1b[0m \x1b[38;5;2mgreen\x1b[0m", "bold green"},
		{"redraw in place", "one\r\ntwo\r\x1b[1Aeins\x1b[K\r\nzwei\x1b[K\r", "eins\nzwei"},
		{"erase a longer line", "a long line\rshort\x1b[K", "short"},
		{"erase whole line", "gone\x1b[2K\rnew", "new"},
		{"erase below", "a\r\nb\r\nc\r\x1b[1A\x1b[J", "a"},
		{"raw LF keeps the column", "ab\ncd", "ab\n  cd"},
		{"modes and OSC dropped", "\x1b[?25l\x1b]11;?\x1b\\\x1b[6nx\x1b[?25h", "x"},
		{"reverse index and tabs", "row one\r\nrow two\r\x1bM\t1\n\b2", "row one 1\nrow two 2"},
		{"erase, repeat, insert and delete characters", "abcdef\r\x1b[2Xx\x1b[3b\r\x1b[@\x1b[2P", "xxxef"},
		{"next and previous line", "a\r\nb\x1b[Fc\x1b[Ed", "c\nd"},
		{"a bubbletea frame", "\r\x1b[90mfooter\x1b[0m\x1b[K\rhead\x1b[K\r\nrow\x1b[K\r\nfooter\x1b[K\r\x1b[2A\n\x1b[34mrow!\x1b[0m\x1b[K\r\n\r", "head\nrow!\nfooter"},
	} {
		if got := renderScreen(tc.stream); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
