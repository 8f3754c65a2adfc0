//go:build unix

package procgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peace-go/peace/internal/proc"
)

// script is the watchdog itself. It ignores the stops meant for peace
// (a terminal's Ctrl-C, a closed terminal, a CI runner's SIGTERM), reads
// "+PGID:START" and "-PGID" lines until end of file, then kills what is
// left — but not a group whose leader is alive with another start time
// (field 22 of /proc/PGID/stat): pid numbers are reused, sometimes within
// seconds, and that number now belongs to someone else.
const script = `trap '' INT TERM HUP PIPE QUIT
gs=
while IFS= read -r l; do
	case $l in
	+*) gs="$gs ${l#+}" ;;
	-*) n=${l#-}; k=; for e in $gs; do [ "${e%%:*}" = "$n" ] || k="$k $e"; done; gs=$k ;;
	esac
done
for e in $gs; do
	g=${e%%:*} want=${e#*:} line=
	{ read -r line < "/proc/$g/stat"; } 2>/dev/null
	if [ -n "$line" ] && [ -n "$want" ]; then
		set -- ${line##*) }
		shift 19
		[ "$1" = "$want" ] || continue
	fi
	kill -s KILL -- "-$g" 2>/dev/null
done
`

// Watchdog kills the registered process groups when its owner dies. The
// zero value is ready to use and safe for concurrent use; the watchdog
// process starts on the first Register.
type Watchdog struct {
	mu      sync.Mutex
	w       *os.File       // the pipe to the watchdog; closing it fires it
	cmd     *exec.Cmd      // the watchdog process
	groups  map[int]bool   // registered; true: its command has ended but processes of it remain
	starts  map[int]string // each registered group's leader start (startTicks)
	killing bool           // Kill was called: no new group may run
}

// ErrKilled is returned by Register once Kill has been called: the group
// must not run.
var ErrKilled = errors.New("the run is being killed")

// Register tells the watchdog about process group pgid, which has not run
// anything yet. Once Register returns nil the group is covered: if this
// process dies, the group is killed. Call the returned func when the group
// has ended: the group stays covered while a process of it remains (a
// background child), and is dropped once none does.
func (d *Watchdog) Register(pgid int) (ended func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.killing {
		return nil, ErrKilled
	}
	// Groups whose command ended with processes left: forget those that
	// are gone now, before their number can be given to another group.
	for g, lingering := range d.groups {
		if lingering && !proc.GroupAlive(g) {
			delete(d.groups, g)
			delete(d.starts, g)
			d.forget(g)
		}
	}
	if d.w == nil {
		if err := d.start(); err != nil {
			return nil, err
		}
	}
	start := startTicks(pgid)
	if err := d.sendLine("+" + strconv.Itoa(pgid) + ":" + start); err != nil {
		return nil, err
	}
	if d.groups == nil {
		d.groups = make(map[int]bool)
		d.starts = make(map[int]string)
	}
	d.groups[pgid] = false
	d.starts[pgid] = start
	var once sync.Once
	return func() { once.Do(func() { d.ended(pgid) }) }, nil
}

func (d *Watchdog) ended(pgid int) {
	alive := proc.GroupAlive(pgid)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.groups[pgid]; !ok {
		return
	}
	if alive {
		d.groups[pgid] = true
		return
	}
	delete(d.groups, pgid)
	delete(d.starts, pgid)
	d.forget(pgid)
}

// forget tells the watchdog that group pgid is gone.
func (d *Watchdog) forget(pgid int) {
	if d.w != nil {
		// A lost line only means a kill of a group number that is gone,
		// or reused after the group ended: the watchdog checks nothing, so
		// the line must get there; an error here means the watchdog is
		// gone and nothing is covered any more, which the next Register
		// reports.
		_ = d.sendLine("-" + strconv.Itoa(pgid))
	}
}

func (d *Watchdog) sendLine(line string) error {
	if _, err := d.w.Write([]byte(line + "\n")); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// startTicks is the start time of pgid's leader in clock ticks since boot
// (field 22 of /proc/PID/stat), "" where the system does not say.
func startTicks(pgid int) string {
	st := proc.Start(pgid)
	if i := strings.LastIndexByte(st, ':'); i >= 0 {
		return st[i+1:]
	}
	return st
}

// start runs the watchdog in a process group of its own, so that signals
// sent to peace's group (a terminal's Ctrl-C) do not reach it.
func (d *Watchdog) start() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	cmd := exec.Command(shell(), "-c", script)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("watchdog: %w", err)
	}
	r.Close()
	d.w, d.cmd = w, cmd
	return nil
}

// Kill sends SIGKILL to every registered group at once and lets no new
// group run: the third interrupt.
func (d *Watchdog) Kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.killing = true
	for g := range d.groups {
		if now := startTicks(g); now != "" && d.starts[g] != "" && now != d.starts[g] {
			continue // the number is another group's now
		}
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
}

// Close ends the watchdog, killing any group still registered, and waits
// for it to exit.
func (d *Watchdog) Close() error {
	d.mu.Lock()
	w, cmd := d.w, d.cmd
	d.w, d.cmd = nil, nil
	d.mu.Unlock()
	if w == nil {
		return nil
	}
	w.Close()
	return cmd.Wait()
}

// Pid is the watchdog process's pid, 0 before it started. Tests use it.
func (d *Watchdog) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// KillRecorded kills process group pgid if it is still the one whose
// leader had the start identity start (see proc.Same), and waits up to
// wait for it to be gone. It reports whether it sent the signal.
func KillRecorded(pgid int, start string, wait time.Duration) (killed bool) {
	if !proc.Same(pgid, start) {
		return false
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(wait)
	for proc.GroupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

var shellPath = sync.OnceValue(func() string {
	if p, err := exec.LookPath("sh"); err == nil {
		return p
	}
	return "/bin/sh"
})

// shell is the path of sh, looked up once.
func shell() string { return shellPath() }
