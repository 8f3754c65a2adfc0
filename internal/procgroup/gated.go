//go:build unix

package procgroup

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// gate comes first in the shell that runs an item's command: the shell
// waits on fd 3 for the word to go, and runs nothing if the word never
// comes (the pipe closes because peace died first). Then the same shell
// runs the command: no second shell is started, no PATH searched for it.
// The gate and the command's first line are one line, so the command's
// line numbers, $0 and its arguments are those of sh -c COMMAND; a first
// line that does not parse fails before the gate is read, running nothing.
const gate = `IFS= read -r _ <&3 || exit 125; exec 3<&-; `

// Gated is a shell command started in a process group of its own that runs
// nothing until Open: between Start and Open the group can be registered
// with the Watchdog and recorded, so no process peace starts is ever
// unaccounted for, however briefly.
type Gated struct {
	Cmd  *exec.Cmd
	open *os.File // the write end of the gate
}

// Shell prepares the shell command script, gated. Set Cmd's Dir, Env and
// output before Start. Its input is /dev/null.
func Shell(script string) *Gated {
	cmd := exec.Command(shell(), "-c", gate+script)
	cmd.Args[0] = "sh"
	if f := devNull(); f != nil {
		cmd.Stdin = f
	}
	return &Gated{Cmd: cmd}
}

// devNull is /dev/null opened once for every command's input, rather than
// by os/exec on every start; nil if it cannot be opened (os/exec then
// tries).
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
})

// Start starts the command in a new process group whose ID is the returned
// pgid. It runs nothing yet: call Open, or Abort.
func (g *Gated) Start() (pgid int, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	g.Cmd.ExtraFiles = append(g.Cmd.ExtraFiles[:0], r)
	if g.Cmd.SysProcAttr == nil {
		g.Cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own group: a terminal's Ctrl-C does not reach it, and a cancel
	// or a kill reaches its children too.
	g.Cmd.SysProcAttr.Setpgid = true
	err = g.Cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return 0, err
	}
	g.open = w
	return g.Cmd.Process.Pid, nil
}

// Open lets the command run. An error means the command runs nothing: its
// shell has exited already (its first line did not parse: Cmd.Wait says
// so), or it will exit with status 125.
func (g *Gated) Open() error {
	_, err := g.open.Write([]byte("go\n"))
	if cerr := g.open.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("start command: %w", err)
	}
	return nil
}

// Abort makes the command exit without running anything; Cmd.Wait
// still has to be called.
func (g *Gated) Abort() { g.open.Close() }
