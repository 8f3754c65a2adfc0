//go:build linux

// The kill harness reads /proc to find the commands a killed run left
// running, so it runs where /proc does: on Linux.

package cmd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildPeace builds the real binary into dir: the kill tests stop a whole
// process, not code running inside the test.
//
// goTool is the go command that runs these tests: on the PATH, or beside
// the toolchain's root as go env reports it.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		return filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
	}
	return "go"
}

func buildPeace(t *testing.T, dir string) string {
	t.Helper()
	goCmd := goTool()
	bin := filepath.Join(dir, "peace")
	out, err := exec.Command(goCmd, "build", "-tags", "crashpoints", "-o", bin, "github.com/peace-go/peace").CombinedOutput()
	if err != nil {
		t.Fatalf("build peace: %v\n%s", err, out)
	}
	return bin
}

// The chaos flow's items are laid out in groups of six: a chain of three
// (k0 → k1 → k2), two roots (k3, k4) and a fan-in (k5 after k2, k3 and k4).
// Groups are independent, so the graph stays four items deep however many
// items there are.
const groupSize = 6

func chaosDeps(i int) []int {
	g, k := i/groupSize*groupSize, i%groupSize
	switch k {
	case 1, 2:
		return []int{i - 1}
	case 5:
		return []int{g + 2, g + 3, g + 4}
	}
	return nil
}

func chaosID(i int) string { return fmt.Sprintf("it%02d", i) }

// chaosPause is how long item i's ensure and clean sleep after their side
// effect, from the index so that every run is the same flow: 0–30 ms,
// except for one root per group that takes 400 ms, long enough for a
// second interrupt (which must come at least 250 ms after the first) to
// find it in flight, and for kills to land often between a side effect and
// its end record.
func chaosPause(i int) time.Duration {
	if i%groupSize == 4 {
		return 400 * time.Millisecond
	}
	return time.Duration(i*7%31) * time.Millisecond
}

// chaosPre is how long item i's ensure and clean sleep before their side
// effect: 0–16 ms, 150 ms for the slow root. A command of a killed run
// that outlived it would make its change well after the next run, started
// at once, has read and recorded the world.
func chaosPre(i int) time.Duration {
	if i%groupSize == 4 {
		return 150 * time.Millisecond
	}
	return time.Duration(i*5%17) * time.Millisecond
}

// chaosDir is one flow directory under test: the flow file, the item
// scripts (from testdata/chaos) in sh/, and world/, where the items create
// their files. State lives in .peace beside the flow.
type chaosDir struct {
	t    *testing.T
	bin  string
	dir  string // resolved: processes report their cwd without symlinks
	ids  []string
	slow map[string]bool // the items whose ensure takes long (chaosPause)
	jobs int
	// owed is how many orphans each item may have now: those seen at the
	// last check. An orphan is a file an item created that no recorded
	// state names; only an item in flight when a run died or was cancelled
	// can leave one, and only its own clean removes it.
	owed map[string]int
	// applied is the last file each item's ensure created, from
	// world/.applied, read up to appliedEnd.
	applied    map[string]string
	appliedEnd int64
	// point says what is being tried, replay how to try it again; both
	// head every failure.
	point, replay string
	// keepGoing makes a broken invariant an error, not the end of the
	// test, so that a long run counts them all (up to maxViolations).
	keepGoing bool
	// last is what was recorded at the last check.
	last stored
	// st sums up what the checks saw.
	st chaosStats

	// token marks the processes of this directory's runs (runEnv), runs
	// counts the runs started: run N's processes carry token:N.
	token string
	runs  int
	// watchers follow the processes of runs that died, until none is
	// left; they note what they saw under pmu.
	watchers sync.WaitGroup
	pmu      sync.Mutex
	deaths   []time.Duration // from a SIGKILL to the end of the run's last process
	left     []string        // processes of a run that were alive killBudget after it ended
	// earlyLeft are the commands of an earlier run's applies that were
	// alive when a later run began to apply.
	earlyLeft []string
}

// runEnv marks every process of one run: peace, and through the
// environment sh_cmd passes on, every command it starts. The watchdog,
// which gets an environment of its own, is found as peace's child.
const runEnv = "CHAOS_RUN"

// chaosDirs numbers the flow directories of this process, for their tokens.
var chaosDirs atomic.Int64

// killBudget is how long the processes of a run that has ended may live
// on: DESIGN.md §5 gives a killed peace's item processes a second.
const killBudget = time.Second

// maxViolations ends even a keep-going run: past it, the world is too far
// from what the checks expect to tell anything new.
const maxViolations = 20

// fail reports what makes going on pointless, and ends the test.
func (c *chaosDir) fail(format string, args ...any) {
	c.t.Helper()
	c.t.Fatal(c.failure(format, args...))
}

// violated reports a broken invariant: it ends the test, unless keepGoing.
func (c *chaosDir) violated(format string, args ...any) {
	c.t.Helper()
	c.st.violations++
	if !c.keepGoing || c.st.violations >= maxViolations {
		c.fail(format, args...)
	}
	c.t.Error(c.failure(format, args...))
}

func (c *chaosDir) failure(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	if c.point != "" {
		msg = c.point + ": " + msg
	}
	if c.replay != "" {
		msg += "\nreplay: " + c.replay
	}
	return msg
}

// chaosStats is what a series of runs saw, for the test log.
type chaosStats struct {
	runs, kills, interrupts, finished int
	twice                             int // runs interrupted a second time: a cancel
	termKills                         int // runs killed after a SIGTERM they had not finished handling
	immediate                         int // runs started at once after a SIGKILL, no wait for leftovers
	leftovers                         int // processes of an ended run alive past killBudget
	inFlight                          int // items in flight at kills and cancels, summed
	orphansNew                        int // orphans that appeared, summed
	orphansMax                        int // most orphans in the world at once
	unknownSeen                       int // items reported unknown after a kill, summed
	violations                        int // broken invariants
	lost                              int // executions read lost after their runner was killed
	recoveryKills                     int // groups of a killed run that the next run's recovery killed
}

func (s chaosStats) String() string {
	return fmt.Sprintf("%d runs: %d killed (%d after a SIGTERM), %d interrupted (%d twice), %d ran to the end; %d started at once after a kill; %d items in flight at kills and cancels, %d orphans appeared (at most %d at once), %d items left unknown; %d leftover processes; %d broken invariants",
		s.runs, s.kills, s.termKills, s.interrupts, s.twice, s.finished, s.immediate, s.inFlight, s.orphansNew, s.orphansMax, s.unknownSeen, s.leftovers, s.violations)
}

// newChaosDir writes a flow of n items in a fresh directory.
func newChaosDir(t *testing.T, bin string, n, jobs int) *chaosDir {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sh", "world"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"current.sh", "goal.sh", "ensure.sh", "clean.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "chaos", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sh", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &chaosDir{t: t, bin: bin, dir: dir, jobs: jobs, slow: map[string]bool{}, owed: map[string]int{},
		applied: map[string]string{}, token: fmt.Sprintf("%d.%d", os.Getpid(), chaosDirs.Add(1))}
	t.Cleanup(c.killAll)
	var b strings.Builder
	b.WriteString("flow: chaos\nitems:\n")
	for i := range n {
		id := chaosID(i)
		c.ids = append(c.ids, id)
		if chaosPause(i) >= 100*time.Millisecond {
			c.slow[id] = true
		}
		fmt.Fprintf(&b, "  - id: %s\n    type: sh_cmd\n", id)
		if deps := chaosDeps(i); len(deps) > 0 {
			names := make([]string, len(deps))
			for k, d := range deps {
				names[k] = chaosID(d)
			}
			fmt.Fprintf(&b, "    depends_on: [%s]\n", strings.Join(names, ", "))
		}
		fmt.Fprintf(&b, `    params:
      current: '. ./sh/current.sh'
      goal: '. ./sh/goal.sh'
      ensure: 'pause=%[1]s; sleep %[2]s; . ./sh/ensure.sh'
      clean: 'pause=%[1]s; sleep %[2]s; . ./sh/clean.sh'
      clean_state: 'echo absent'
`, strconv.FormatFloat(chaosPause(i).Seconds(), 'f', 3, 64), strconv.FormatFloat(chaosPre(i).Seconds(), 'f', 3, 64))
	}
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// event is the part of a progress JSON line the checks read.
type event struct {
	Type    string `json:"type"`
	Command string `json:"command"`
	Block   string `json:"block"`
	Item    string `json:"item"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// run is one finished run of peace ensure or clean.
type run struct {
	op     string // "ensure" or "clean"
	code   int    // exit code; -1 when a signal ended the process
	signal syscall.Signal
	stdout []byte
	events []event
	sent   []string // signals sent to it, with when, for failure messages
	// foundUnknown are the items a later run found left unknown by this
	// one: in flight when it died, whatever its events say. A detached
	// runner's events reach its record in batches, so a kill loses the
	// last of them, item starts included.
	foundUnknown []string
}

func (r *run) killed() bool { return r.code < 0 && r.signal == syscall.SIGKILL }

// has reports whether the run emitted an event of type typ (for item, if
// item is not empty).
func (r *run) has(typ, item string) bool {
	return slices.ContainsFunc(r.events, func(e event) bool { return e.Type == typ && (item == "" || e.Item == item) })
}

// applyStatus is how item ended in the run's apply block ("applied",
// "unchanged", "interrupted", ...), "" if it never ended there.
func (r *run) applyStatus(item string) string {
	st := ""
	for _, e := range r.events {
		if e.Block == r.op && e.Item == item {
			switch e.Type {
			case "item_done", "item_failed", "item_interrupted":
				st = e.Status
			}
		}
	}
	return st
}

// inFlight returns the items the apply block started and never ended:
// those the process was applying when it died. A started item's side
// effect may have happened.
func (r *run) inFlight() map[string]bool {
	open := map[string]bool{}
	for _, e := range r.events {
		if e.Block != r.op {
			continue
		}
		switch e.Type {
		case "item_start":
			open[e.Item] = true
		case "item_done", "item_failed", "item_interrupted":
			delete(open, e.Item)
		}
	}
	for _, id := range r.foundUnknown {
		open[id] = true
	}
	return open
}

// result is the JSON ensure and clean print on stdout.
type result struct {
	Outcome string `json:"outcome"`
	Items   map[string]struct {
		Status string  `json:"status"`
		State  *string `json:"state"`
		Error  *string `json:"error"`
	} `json:"items"`
}

func (r *run) result() (result, error) {
	var res result
	err := json.Unmarshal(r.stdout, &res)
	return res, err
}

func (r *run) String() string {
	s := r.op
	if len(r.sent) > 0 {
		s += " (" + strings.Join(r.sent, ", ") + ")"
	}
	if r.code >= 0 {
		return fmt.Sprintf("%s exited %d", s, r.code)
	}
	return fmt.Sprintf("%s ended by %v", s, r.signal)
}

// proc is a running peace.
type proc struct {
	c       *chaosDir
	n       int // the run's number: its processes carry token:n
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	lines   [][]byte
	op      string
	began   chan struct{} // closed at the execution_start event: signals are routed
	applies chan struct{} // closed when the apply block starts
	slow    map[string]bool
	slowGo  chan struct{} // closed when a slow item's apply starts
	ended   chan struct{} // closed at the execution_end event: everything is recorded
	gone    chan struct{} // closed when stderr closes: the process has exited
	started time.Time
	applyAt time.Time // when the apply block started; read after applies is closed
	goneAt  time.Time // read after gone is closed
	sent    []string
	// killedAt is when the harness sent SIGKILL, watchdogs the children
	// of peace that had no run mark then: its watchdog.
	killedAt  time.Time
	watchdogs map[int]string
}

// start runs `peace op` with JSON progress on stderr and a JSON result on
// stdout; extra is added to its environment.
func (c *chaosDir) start(op string, extra ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(c.bin, "--progress", "json", "--format", "json", "-j", strconv.Itoa(c.jobs), op)
	cmd.Dir = c.dir
	c.runs++
	cmd.Env = append(append(os.Environ(), extra...), fmt.Sprintf("%s=%s:%d", runEnv, c.token, c.runs))
	p := &proc{c: c, n: c.runs, cmd: cmd, op: op, began: make(chan struct{}), applies: make(chan struct{}),
		slow: c.slow, slowGo: make(chan struct{}), ended: make(chan struct{}), gone: make(chan struct{})}
	cmd.Stdout = &p.stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.started = time.Now()
	go p.read(errPipe)
	return p
}

func (p *proc) read(r io.Reader) {
	defer func() {
		p.goneAt = time.Now()
		close(p.gone)
	}()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			p.lines = append(p.lines, line)
			var e event
			if json.Unmarshal(line, &e) == nil {
				p.mark(e)
			}
		}
		if err != nil {
			return
		}
	}
}

// mark closes the channels that say how far the run got.
func (p *proc) mark(e event) {
	switch {
	case e.Type == "execution_start":
		close(p.began)
	case e.Type == "block_start" && e.Block == p.op:
		p.applyAt = time.Now()
		close(p.applies)
		p.c.checkEarlierApplies(p)
	case e.Type == "item_limit" && e.Block == p.op && p.slow[e.Item]:
		// Its limit is set once it is known to need applying, right
		// before the apply itself.
		select {
		case <-p.slowGo:
		default:
			close(p.slowGo)
		}
	case e.Type == "execution_end":
		close(p.ended)
	}
}

// signal sends sig unless the process is gone or, for an interrupt, has
// ended its execution (an interrupt then would meet no handler: it would
// test Go's default, not peace).
func (p *proc) signal(sig syscall.Signal) bool {
	select {
	case <-p.gone:
		return false
	case <-p.ended:
		if sig != syscall.SIGKILL {
			return false
		}
	default:
	}
	if sig == syscall.SIGKILL {
		p.watchdogs = map[int]string{}
		for _, e := range p.c.ps() {
			if e.ppid == p.cmd.Process.Pid && e.run == "" {
				p.watchdogs[e.pid] = e.start
			}
		}
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return false
	}
	if sig == syscall.SIGKILL {
		p.killedAt = time.Now()
	}
	p.sent = append(p.sent, fmt.Sprintf("%v at %v", sig, time.Since(p.started).Round(time.Millisecond)))
	return true
}

// wait waits for the process to end and parses what it said.
func (c *chaosDir) wait(p *proc) *run {
	c.t.Helper()
	op := p.op
	select {
	case <-p.gone:
	case <-time.After(2 * time.Minute):
		_ = p.cmd.Process.Kill()
		c.fail("peace %s did not end within 2 minutes", op)
	}
	err := p.cmd.Wait()
	r := &run{op: op, stdout: p.stdout.Bytes(), sent: p.sent, code: p.cmd.ProcessState.ExitCode()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.fail("peace %s: %v", op, err)
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.code, r.signal = -1, ws.Signal()
	}
	for i, line := range p.lines {
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// A line cut short by a kill can only be the last one.
			if i == len(p.lines)-1 && r.code < 0 {
				break
			}
			c.fail("%s: progress line %d is not JSON: %v\n%s", r, i+1, err, line)
		}
		if e.Type == "execution_start" && e.Command != op {
			c.fail("ran %s, which says it runs %q", op, e.Command)
		}
		r.events = append(r.events, e)
	}
	c.st.runs++
	// No wait for what a killed run left: the next run may start at once.
	// A watcher follows its processes; check reports what it saw.
	if r.killed() {
		c.watchers.Go(func() { c.watch(p) })
	}
	return r
}

// psEntry is a live process of this directory's runs: one with its run
// mark (run is N of token:N), or one working in the flow directory
// without a mark (a watchdog).
type psEntry struct {
	pid, ppid int
	start     string // start time, so that a reused pid is not taken for it
	run       string
	cmdline   string
}

func (e psEntry) String() string {
	run := e.run
	if run == "" {
		run = "unmarked"
	}
	return fmt.Sprintf("%d (run %s, parent %d): %s", e.pid, run, e.ppid, e.cmdline)
}

// ps lists the live processes of this directory's runs, from /proc.
// Zombies run nothing and have no working directory: they do not count.
func (c *chaosDir) ps() []psEntry {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		panic(err)
	}
	mark := []byte(runEnv + "=" + c.token + ":")
	var out []psEntry
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		state, ppid, start := procStat(pid)
		if state == "" || state == "Z" || state == "X" {
			continue
		}
		e := psEntry{pid: pid, ppid: ppid, start: start}
		env, _ := os.ReadFile("/proc/" + d.Name() + "/environ")
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.HasPrefix(kv, mark) {
				e.run = string(kv[len(mark):])
			}
		}
		if e.run == "" {
			cwd, err := os.Readlink("/proc/" + d.Name() + "/cwd")
			if err != nil || (cwd != c.dir && !strings.HasPrefix(cwd, c.dir+"/")) {
				continue
			}
		}
		cl, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		e.cmdline = strings.TrimSpace(string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '})))
		out = append(out, e)
	}
	return out
}

// procStat reads the state, parent and start time of pid; "" if it is gone.
func procStat(pid int) (state string, ppid int, start string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, ""
	}
	s := string(b)
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return "", 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, f[19]
}

// running reports whether pid still runs as the process that started at
// start.
func running(pid int, start string) bool {
	state, _, now := procStat(pid)
	return state != "" && state != "Z" && state != "X" && now == start
}

// watch follows the processes of p, a run that died, until none is left:
// its commands and its watchdog. From a SIGKILL the harness sent, it notes
// how long they took to end; any still alive killBudget after peace's
// death is a leftover, noted and killed.
func (c *chaosDir) watch(p *proc) {
	from, timed := p.killedAt, !p.killedAt.IsZero()
	if !timed {
		from = p.goneAt
	}
	run := strconv.Itoa(p.n)
	set := map[int]psEntry{}
	for pid, start := range p.watchdogs {
		set[pid] = psEntry{pid: pid, start: start, cmdline: "the watchdog of run " + run}
	}
	for {
		for _, e := range c.ps() {
			if e.run == run {
				set[e.pid] = e
			}
		}
		if len(set) == 0 {
			break
		}
		for len(set) > 0 {
			for pid, e := range set {
				if !running(pid, e.start) {
					delete(set, pid)
				}
			}
			if len(set) > 0 && time.Since(from) > killBudget {
				c.pmu.Lock()
				for _, e := range set {
					c.left = append(c.left, fmt.Sprintf("%v after run %s (%s) died: %v", time.Since(from).Round(time.Millisecond), run, p.op, e))
					_ = syscall.Kill(e.pid, syscall.SIGKILL)
				}
				c.pmu.Unlock()
				return
			}
			time.Sleep(500 * time.Microsecond)
		}
	}
	if timed {
		c.pmu.Lock()
		c.deaths = append(c.deaths, time.Since(from))
		c.pmu.Unlock()
	}
}

// quiet waits for the watchers, then for the processes of every run to be
// gone: a run that ended by itself has ended its commands (and its
// watchdog) too. A process alive killBudget later is a leftover: each one
// breaks the one-writer rule.
func (c *chaosDir) quiet() {
	c.t.Helper()
	c.watchers.Wait()
	deadline := time.Now().Add(killBudget)
	for {
		procs := c.ps()
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.pmu.Lock()
			for _, e := range procs {
				c.left = append(c.left, fmt.Sprintf("%v after the last run ended: %v", killBudget, e))
				_ = syscall.Kill(e.pid, syscall.SIGKILL)
			}
			c.pmu.Unlock()
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.pmu.Lock()
	left := append(c.earlyLeft, c.left...)
	c.left, c.earlyLeft = nil, nil
	c.pmu.Unlock()
	c.st.leftovers += len(left)
	for _, l := range left {
		c.violated("a process of an earlier run is alive: %s", l)
	}
}

// checkEarlierApplies is called when run p starts its apply block, after
// it took the lock and recovered what the last run left: by then no
// command an apply of an earlier run started may be alive — the watchdog
// of a killed run kills them, and recovery kills any group a begin record
// names before anything is discovered (P2, P5). Discovery commands of a
// killed run are not recorded and only read: they have killBudget.
func (c *chaosDir) checkEarlierApplies(p *proc) {
	c.checkEarlier(p.n, p.op, "started its apply block")
}

// checkEarlier reports the commands of an earlier run's applies alive now,
// when run n has reached the point when: none may be.
func (c *chaosDir) checkEarlier(n int, op, when string) {
	procs := c.ps()
	byPid := map[int]psEntry{}
	for _, e := range procs {
		byPid[e.pid] = e
	}
	isApply := func(e psEntry) bool {
		return strings.Contains(e.cmdline, "sh/ensure.sh") || strings.Contains(e.cmdline, "sh/clean.sh")
	}
	for _, e := range procs {
		earlier, err := strconv.Atoi(e.run)
		if err != nil || earlier >= n {
			continue
		}
		if atGate(e) {
			continue // it runs nothing now that its peace is gone
		}
		if parent, ok := byPid[e.ppid]; isApply(e) || (ok && isApply(parent)) {
			c.pmu.Lock()
			c.earlyLeft = append(c.earlyLeft, fmt.Sprintf("run %d (%s) %s while a command of run %d's apply was alive: %v", n, op, when, earlier, e))
			c.pmu.Unlock()
		}
	}
}

// atGate reports whether e is a command's shell still waiting at its start
// gate (internal/procgroup): it holds the gate's pipe as fd 3 until peace
// opens the gate, and exits without running anything when that pipe
// closes instead.
func atGate(e psEntry) bool {
	if !strings.Contains(e.cmdline, "IFS= read -r _ <&3 || exit 125; exec 3<&-;") {
		return false
	}
	_, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", e.pid))
	return err == nil
}

// killAll ends whatever a failed test left running.
func (c *chaosDir) killAll() {
	c.watchers.Wait()
	for _, e := range c.ps() {
		_ = syscall.Kill(e.pid, syscall.SIGKILL)
	}
}

// deathTimes returns the median and the longest time from a SIGKILL to
// the end of the killed run's last process.
func (c *chaosDir) deathTimes() (n int, p50, longest time.Duration) {
	c.pmu.Lock()
	d := slices.Clone(c.deaths)
	c.pmu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	return len(d), d[len(d)/2], d[len(d)-1]
}

// stored is what `peace status --stored --format json` says.
type stored struct {
	States  map[string]*string `json:"states"`
	Unknown []string           `json:"unknown"`
}

func (s stored) state(id string) string {
	if p := s.States[id]; p != nil {
		return *p
	}
	return ""
}

func (s stored) unknown(id string) bool { return slices.Contains(s.Unknown, id) }

// stored reads the recorded states, replaying whatever journal a killed
// run left; it writes nothing.
func (c *chaosDir) stored() stored {
	c.t.Helper()
	cmd := exec.Command(c.bin, "status", "--stored", "--format", "json")
	cmd.Dir = c.dir
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	if err != nil {
		c.fail("status --stored: %v\n%s", err, errBuf.Bytes())
	}
	var s stored
	if err := json.Unmarshal(out, &s); err != nil {
		c.fail("status --stored: %v\n%s", err, out)
	}
	if len(s.States) != len(c.ids) {
		c.fail("status --stored lists %d items, want %d\n%s", len(s.States), len(c.ids), out)
	}
	return s
}

// world is what the items' files say.
type world struct {
	files   map[string][]string // item ID -> its files, as "world/NAME"
	applied map[string]string   // item ID -> the file its last ensure created
}

func (w world) has(id, path string) bool { return slices.Contains(w.files[id], path) }

func (w world) count() int {
	n := 0
	for _, fs := range w.files {
		n += len(fs)
	}
	return n
}

func (c *chaosDir) world() world {
	c.t.Helper()
	w := world{files: map[string][]string{}, applied: c.applied}
	ents, err := os.ReadDir(filepath.Join(c.dir, "world"))
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		id, _, ok := strings.Cut(e.Name(), "-")
		if !ok {
			c.fail("world holds %s, which no item makes", e.Name())
		}
		w.files[id] = append(w.files[id], "world/"+e.Name())
	}
	// Only what was appended since the last look: the file keeps growing.
	f, err := os.Open(filepath.Join(c.dir, "world", ".applied"))
	if errors.Is(err, os.ErrNotExist) {
		return w
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, c.appliedEnd, 1<<40))
	if err != nil {
		c.t.Fatal(err)
	}
	c.appliedEnd += int64(len(b))
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if id, _, ok := strings.Cut(strings.TrimPrefix(line, "world/"), "-"); ok {
			c.applied[id] = line
		}
	}
	return w
}

// trail returns the last lines world/.trail holds about item: what its
// commands were given and printed, for a failure message.
func (c *chaosDir) trail(item string) string {
	b, err := os.ReadFile(filepath.Join(c.dir, "world", ".trail"))
	if err != nil {
		return err.Error()
	}
	var mine []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, item+" ") {
			mine = append(mine, line)
		}
	}
	return strings.Join(mine[max(len(mine)-12, 0):], "\n\t")
}

// itemEvents returns what r said about item, for a failure message.
func (r *run) itemEvents(item string) string {
	var b strings.Builder
	for _, e := range r.events {
		if e.Item == item {
			fmt.Fprintf(&b, " %s/%s", e.Block, e.Type)
			if e.Status != "" {
				fmt.Fprintf(&b, "(%s)", e.Status)
			}
		}
	}
	return b.String()
}

// isFile reports whether a recorded sh_cmd state names an item's file.
func isFile(state string) bool { return strings.HasPrefix(state, "world/") }

// check holds a chain of runs against the world and what is recorded, and
// returns both. The chain is one run, or runs killed by SIGKILL each
// followed at once by the next (no wait for what the killed run left),
// ending with r, the last:
//
//   - no process of any run is left (quiet);
//   - recorded is true: an item not left unknown records a file that exists;
//   - nothing applied is lost: an item that the last run to reach it in
//     its apply block reported applied records the state its apply
//     returned (the file its ensure created; absent after clean), and is
//     not unknown;
//   - orphans are accounted for: an item has no more files that no recorded
//     state names than it had before, plus one for each run of the chain
//     that it was in flight in when the run died or was cancelled.
func (c *chaosDir) check(chain ...*run) (stored, world) {
	c.t.Helper()
	r := chain[len(chain)-1]
	c.quiet()
	s := c.stored()
	w := c.world()
	what := chainString(chain)
	orphans := 0
	for _, id := range c.ids {
		rec := s.state(id)
		if !s.unknown(id) && isFile(rec) && !w.has(id, rec) {
			c.violated("after %s: %s records %s, which does not exist (files: %v)", what, id, rec, w.files[id])
		}
		allowed := c.owed[id]
		var last *run // the last run whose apply block reached id
		for _, cr := range chain {
			if cr.started(id) {
				last = cr
			}
			if (cr.code < 0 && cr.inFlight()[id]) || cr.applyStatus(id) == "interrupted" {
				allowed++
				c.st.inFlight++
			}
		}
		if last != nil && last.applyStatus(id) == "applied" {
			want := "absent"
			if last.op == "ensure" {
				want = w.applied[id]
			}
			if s.unknown(id) || rec != want {
				c.violated("after %s: %s was reported applied by %s with %q, but records %q (unknown: %v): an applied state was lost\nevents:%s\ntrail:\n\t%s",
					what, id, last, want, rec, s.unknown(id), last.itemEvents(id), c.trail(id))
			}
		}
		n := len(w.files[id])
		if isFile(rec) && w.has(id, rec) {
			n--
		}
		if n > allowed {
			c.violated("after %s: %s has %d orphans (%v, records %q), but only %d may exist\nevents:%s\ntrail:\n\t%s",
				what, id, n, w.files[id], rec, allowed, r.itemEvents(id), c.trail(id))
		}
		if n > c.owed[id] {
			c.st.orphansNew += n - c.owed[id]
		}
		c.owed[id] = n
		orphans += n
	}
	c.st.orphansMax = max(c.st.orphansMax, orphans)
	c.last = s
	for _, cr := range chain {
		if cr.killed() {
			c.st.kills++
		}
	}
	if r.killed() {
		c.st.unknownSeen += len(s.Unknown)
	} else if len(chain) > 1 {
		for _, id := range c.ids {
			if r.has("item_unknown", id) {
				c.st.unknownSeen++
			}
		}
	}
	return s, w
}

// started reports whether the run's apply block started item.
func (r *run) started(item string) bool {
	return slices.ContainsFunc(r.events, func(e event) bool { return e.Type == "item_start" && e.Block == r.op && e.Item == item })
}

// chainString names the runs of a chain for a failure message.
func chainString(chain []*run) string {
	s := chain[len(chain)-1].String()
	if len(chain) > 1 {
		var before []string
		for _, r := range chain[:len(chain)-1] {
			before = append(before, r.String())
		}
		s += ", started at once after " + strings.Join(before, ", then ")
	}
	return s
}

// checkHandled holds a run that was not killed (it ran to its end or
// handled its interrupts) to what the command line promises: exit 0 with
// outcome complete, or 130 with outcome interrupted; the result on stdout
// agrees with what is recorded; and no item the run discovered or applied
// is left unknown.
func (c *chaosDir) checkHandled(chain ...*run) (stored, world) {
	c.t.Helper()
	r := chain[len(chain)-1]
	res, resErr := r.result()
	switch {
	case r.code < 0 && (r.signal == syscall.SIGINT || r.signal == syscall.SIGTERM) && r.has("execution_end", ""):
		// The interrupt raced the end of the run: it arrived after peace
		// stopped listening, when everything was recorded. Nothing is
		// printed for sure, so only the state is checked.
		resErr = nil
		res.Outcome = ""
	case r.code == 0 && res.Outcome == "complete":
		c.st.finished++
	case r.code == 130 && res.Outcome == "interrupted":
		c.st.interrupts++
		if len(r.sent) > 1 {
			c.st.twice++
		}
	default:
		c.violated("%s: want exit 0 and outcome complete or exit 130 and interrupted; got outcome %q (%v)\n%s",
			r, res.Outcome, resErr, r.stdout)
	}
	if resErr != nil {
		c.violated("%s: result is not JSON: %v\n%s", r, resErr, r.stdout)
	}
	s, w := c.check(chain...)
	for id, it := range res.Items {
		if it.Status == "applied" && (it.State == nil || *it.State != s.state(id)) {
			c.violated("%s: the result says %s applied %v, the record says %q", r, id, it.State, s.state(id))
		}
	}
	for _, id := range s.Unknown {
		if r.has("item_done", id) {
			c.violated("%s: %s ended in this run but is still unknown", r, id)
		}
	}
	if res.Outcome == "complete" && len(s.Unknown) > 0 {
		c.violated("%s: complete, yet %v are unknown", r, s.Unknown)
	}
	return s, w
}

// settle runs a final ensure and clean, uninterrupted: the ensure applies
// every item and records exactly the world (orphans aside), then the clean
// leaves no item file at all, orphans included, and records every item
// absent.
func (c *chaosDir) settle() {
	c.t.Helper()
	r := c.wait(c.start("ensure"))
	s, w := c.checkHandled(r)
	if r.code != 0 {
		c.fail("final %s", r)
	}
	for _, id := range c.ids {
		if rec := s.state(id); !isFile(rec) || !w.has(id, rec) {
			c.fail("after the final ensure %s records %q; files: %v", id, rec, w.files[id])
		}
	}
	r = c.wait(c.start("clean"))
	s, w = c.checkHandled(r)
	if r.code != 0 {
		c.fail("final %s", r)
	}
	if n := w.count(); n > 0 {
		c.fail("after the final clean %d item files are left: %v", n, w.files)
	}
	for _, id := range c.ids {
		if rec := s.state(id); rec != "absent" {
			c.fail("after the final clean %s records %q, want absent", id, rec)
		}
	}
}
