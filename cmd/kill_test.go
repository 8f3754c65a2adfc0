//go:build linux

// See killharness_test.go for why these run on Linux only.

package cmd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// chaosConfig is how hard TestKill tries, from the environment:
//
//	PEACE_CHAOS_SEED    seeds every choice: commands, kill instants, items
//	                    (default 1)
//	PEACE_CHAOS_POINTS  SIGKILL points; a quarter as many interrupt points
//	                    (default 40; `make chaos` asks for 2000)
//
// A kill instant is drawn as a fraction of a window measured on this
// machine (see calibrate), so a seed replays the same commands and the same
// relative instants; a failure names the seed and the point.
type chaosConfig struct {
	seed   uint64
	points int
	// thorough is set when more points than the default are asked for
	// (make chaos): crash points at every item, not a seeded few, and a
	// broken invariant is counted rather than the end of the run.
	thorough bool
}

const defaultChaosPoints = 40

func chaosConfigFromEnv(t *testing.T) chaosConfig {
	cfg := chaosConfig{seed: 1, points: defaultChaosPoints}
	if v := os.Getenv("PEACE_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("PEACE_CHAOS_SEED: %v", err)
		}
		cfg.seed = n
	}
	if v := os.Getenv("PEACE_CHAOS_POINTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PEACE_CHAOS_POINTS=%q: want a positive number", v)
		}
		cfg.points = n
	}
	cfg.thorough = cfg.points > defaultChaosPoints
	return cfg
}

// TestKill proves crash safety on the real binary (DESIGN §5, §6): it kills
// runs of a flow whose items create files with generated names at seeded
// instants, with SIGKILL (the next run starting at once), with SIGTERM then
// SIGKILL, with interrupts, and at the crash points the state package
// names; after each it holds the world against what is recorded, and
// checks that no process of an earlier run is left (every run's processes
// carry its mark in their environment).
func TestKill(t *testing.T) {
	cfg := chaosConfigFromEnv(t)
	bin := buildPeace(t, t.TempDir())
	t.Logf("seed %d, %d SIGKILL points, %d interrupt points, %d detached points", cfg.seed, cfg.points, interruptPoints(cfg), detachedPoints(cfg))
	t.Run("sigkill", func(t *testing.T) {
		t.Parallel()
		testKillRandom(t, bin, cfg)
	})
	t.Run("interrupt", func(t *testing.T) {
		t.Parallel()
		testKillInterrupt(t, bin, cfg)
	})
	t.Run("crash_points", func(t *testing.T) {
		t.Parallel()
		testKillCrashPoints(t, bin, cfg)
	})
	t.Run("detached", func(t *testing.T) {
		t.Parallel()
		testKillDetached(t, bin, cfg)
	})
}

// replay is the command that tries test again with the same choices.
func (cfg chaosConfig) replay(test string) string {
	return fmt.Sprintf("PEACE_CHAOS_SEED=%d PEACE_CHAOS_POINTS=%d go test -count=1 -run '%s' ./cmd/", cfg.seed, cfg.points, test)
}

func interruptPoints(cfg chaosConfig) int { return max(cfg.points/4, 1) }

// detachedPoints is how many detached runners TestKill/detached kills: each
// point costs two runs and a few reads of the records.
func detachedPoints(cfg chaosConfig) int { return max(cfg.points/4, 1) }

// The random points run on a flow of chaosItems items, chaosJobs at once.
const (
	chaosItems = 24
	chaosJobs  = 4
)

// window is how long an uninterrupted run of one command takes here: from
// its start to its apply block, and from there to its end.
type window struct{ early, apply time.Duration }

// calibrate runs a full ensure and a full clean, uninterrupted (both are
// checked like any run), and returns their windows.
func calibrate(c *chaosDir) map[string]window {
	c.t.Helper()
	w := map[string]window{}
	for _, op := range []string{"ensure", "clean"} {
		p := c.start(op)
		r := c.wait(p)
		c.checkHandled(r)
		if r.code != 0 {
			c.fail("calibration %s", r)
		}
		w[op] = window{early: p.applyAt.Sub(p.started), apply: p.goneAt.Sub(p.applyAt)}
		c.t.Logf("%s takes %v to its apply block, %v from there", op,
			w[op].early.Round(time.Millisecond), w[op].apply.Round(time.Millisecond))
	}
	return w
}

// instant is when a point stops a run: a fraction of a window after an
// anchor. Most instants fall in the apply block, where side effects and
// end records race the kill; the rest before it, where a run takes the
// lock and recovers what the last one left.
type instant struct {
	anchor string // "start", "apply block" or "slow item"
	frac   float64
	delay  time.Duration
}

// drawInstant draws an instant in the windows of a run that has work
// (0–1, the share of items to change) to do: the apply block's window,
// measured with every item to change, shrinks with the work.
func drawInstant(rng *rand.Rand, w window, work float64) instant {
	in := instant{anchor: "start", frac: rng.Float64()}
	span := float64(w.early)
	if rng.IntN(10) < 8 {
		in.anchor, span = "apply block", float64(w.apply)*(0.25+0.75*work)
	}
	in.delay = time.Duration(in.frac * span)
	return in
}

func (in instant) String() string {
	return fmt.Sprintf("%v after the %s (%.3f of its window)", in.delay.Round(time.Microsecond), in.anchor, in.frac)
}

// await blocks until the instant; start is what "start" means (the
// process, or the execution). It returns false if the process ended first.
func (p *proc) await(in instant, start <-chan struct{}) bool {
	switch in.anchor {
	case "apply block":
		start = p.applies
	case "slow item":
		start = p.slowGo
	}
	select {
	case <-start:
	case <-p.gone:
		return false
	}
	select {
	case <-time.After(in.delay):
		return true
	case <-p.gone:
		return false
	}
}

// closed is a channel that is always ready: an anchor at the process start.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// pointRand is the random source of one point: points draw independently,
// so a point's choices do not depend on how many draws earlier ones made.
func pointRand(cfg chaosConfig, stream uint64, point int) *rand.Rand {
	return rand.New(rand.NewPCG(cfg.seed, stream<<32|uint64(point)))
}

// chaosOp picks the command of a point: mostly ensure (it creates), some
// clean (it removes, and is where orphans go away). A command with nothing
// to do, going by what was recorded last, mostly gives way to the other:
// a point is worth more when the kill can land on work.
func (c *chaosDir) chaosOp(rng *rand.Rand) string {
	op := "ensure"
	if rng.IntN(10) < 3 {
		op = "clean"
	}
	if idle := rng.IntN(10) != 0; idle && c.work(op) == 0 {
		op = map[string]string{"ensure": "clean", "clean": "ensure"}[op]
	}
	return op
}

// work is the share of items op would change, going by what was recorded
// last: ensure creates what is not recorded present, clean removes what
// is; an unknown item may need either.
func (c *chaosDir) work(op string) float64 {
	n := 0
	for _, id := range c.ids {
		present := isFile(c.last.state(id))
		if c.last.unknown(id) || present != (op == "ensure") {
			n++
		}
	}
	return float64(n) / float64(len(c.ids))
}

// maxChain is how many runs in a row may be killed, each followed at once
// by the next, before the world is checked: after that many, the run
// started at once after the last kill runs to its end, and the check
// covers the whole chain.
const maxChain = 3

// testKillRandom kills ensure and clean with SIGKILL at seeded instants —
// a quarter of them as CI does it, SIGTERM first and SIGKILL a moment
// later if peace has not finished stopping (`timeout -k K -s TERM ...`).
// After a kill the next run starts at once, without waiting for anything
// the killed run left: nothing may be left, no process of an earlier run
// may be alive once a later one runs, and what is recorded must be the
// world. At the end a final ensure and clean must leave nothing behind.
func testKillRandom(t *testing.T, bin string, cfg chaosConfig) {
	c := newChaosDir(t, bin, chaosItems, chaosJobs)
	c.replay, c.keepGoing = cfg.replay("TestKill/sigkill"), cfg.thorough
	windows := calibrate(c)
	var chain []*run
	for i := range cfg.points {
		rng := pointRand(cfg, 1, i)
		op := c.chaosOp(rng)
		at := drawInstant(rng, windows[op], c.work(op))
		var grace time.Duration // > 0: SIGTERM at the instant, SIGKILL this much later
		if rng.IntN(4) == 0 {
			grace = 50*time.Millisecond + time.Duration(rng.Int64N(int64(600*time.Millisecond)))
		}
		c.point = fmt.Sprintf("SIGKILL point %d: %s killed %v", i, op, at)
		if grace > 0 {
			c.point = fmt.Sprintf("SIGKILL point %d: %s got SIGTERM %v (from the execution start), SIGKILL %v later", i, op, at, grace)
		}
		if len(chain) > 0 {
			c.point += fmt.Sprintf(", started at once after %d killed runs", len(chain))
			c.st.immediate++
		}
		p := c.start(op)
		if grace > 0 {
			// Signals are routed from execution_start on: before, SIGTERM
			// meets Go's default handler, not peace.
			if p.await(at, p.began) && p.signal(syscall.SIGTERM) {
				select {
				case <-time.After(grace):
					if p.signal(syscall.SIGKILL) {
						c.st.termKills++
					}
				case <-p.gone:
				}
			}
		} else if p.await(at, closed) {
			p.signal(syscall.SIGKILL)
		}
		r := c.wait(p)
		chain = append(chain, r)
		if r.killed() && len(chain) < maxChain && i < cfg.points-1 {
			continue // the next point's run starts at once
		}
		if r.killed() {
			// One more run, started at once, to its end.
			c.st.immediate++
			chain = append(chain, c.wait(c.start(c.chaosOp(rng))))
		}
		c.checkHandled(chain...)
		chain = nil
	}
	c.point = fmt.Sprintf("after %d SIGKILL points", cfg.points)
	c.settle()
	n, p50, longest := c.deathTimes()
	t.Log(c.st)
	t.Logf("SIGKILL of peace to the end of its last process (commands and watchdog), over %d kills: p50 %v, max %v",
		n, p50.Round(100*time.Microsecond), longest.Round(100*time.Microsecond))
}

// testKillInterrupt interrupts ensure and clean (SIGINT, sometimes SIGTERM)
// at seeded instants, sometimes a second time at least 300 ms later (a
// cancel): the run must exit 130 with outcome interrupted, or 0 if it had
// finished, and what it recorded must be the world. A cancelled item may
// leave a file it created before the cancel: it counts as in flight.
func testKillInterrupt(t *testing.T, bin string, cfg chaosConfig) {
	c := newChaosDir(t, bin, chaosItems, chaosJobs)
	c.replay, c.keepGoing = cfg.replay("TestKill/interrupt"), cfg.thorough
	windows := calibrate(c)
	points := interruptPoints(cfg)
	for i := range points {
		rng := pointRand(cfg, 2, i)
		op := c.chaosOp(rng)
		sig := syscall.SIGINT
		if rng.IntN(4) == 0 {
			sig = syscall.SIGTERM
		}
		at := drawInstant(rng, windows[op], c.work(op))
		var again time.Duration // 0: one signal only
		if rng.IntN(2) == 0 {
			again = 300*time.Millisecond + time.Duration(rng.Int64N(int64(50*time.Millisecond)))
		}
		// Interrupts are counted from execution_start, when peace routes
		// them: before that, one meets Go's default handler, not peace. To
		// cancel something, a second interrupt needs an item still in
		// flight after the first has had its 250 ms to itself: a point
		// that interrupts twice runs a command with a slow item to apply
		// and interrupts right after one starts.
		if again > 0 {
			op = c.slowWork()
			at = instant{anchor: "slow item", frac: at.frac, delay: time.Duration(at.frac * float64(30*time.Millisecond))}
		}
		c.point = fmt.Sprintf("interrupt point %d: %s got %v %v, again after %v", i, op, sig, at, again)
		p := c.start(op)
		if p.await(at, p.began) && p.signal(sig) && again > 0 {
			select {
			case <-time.After(again):
				p.signal(sig)
			case <-p.gone:
			}
		}
		c.checkHandled(c.wait(p))
	}
	c.point = fmt.Sprintf("after %d interrupt points", points)
	c.settle()
	t.Log(c.st)
}

// slowWork is the command that has a slow item to apply, going by what
// was recorded last: clean once every slow item has its file, else ensure.
func (c *chaosDir) slowWork() string {
	for id := range c.slow {
		if rec := c.last.state(id); !isFile(rec) || c.last.unknown(id) {
			return "ensure"
		}
	}
	return "clean"
}

// detached is a run started with `peace ensure|clean --detach`: its runner,
// a process of its own in a session of its own, and proc, which follows
// the execution with `peace wait ID` and so sees what a foreground run
// would show (JSON progress, then the JSON result).
type detached struct {
	*proc
	id       string
	pid      int
	pidStart string // the runner's start time, so that a reused pid is not taken for it
}

// startDetached runs `peace op --detach` as run N (its runner inherits the
// run's mark) and, once it has printed the execution, follows it.
func (c *chaosDir) startDetached(op string) *detached {
	c.t.Helper()
	c.runs++
	n := c.runs
	cmd := exec.Command(c.bin, "--format", "json", "-j", strconv.Itoa(c.jobs), op, "--detach")
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", runEnv, c.token, n))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.fail("peace %s --detach: %v", op, err)
	}
	var e execution
	if code := cmd.ProcessState.ExitCode(); code != 0 || json.Unmarshal(out.Bytes(), &e) != nil || e.ID == "" || e.PID <= 0 {
		c.fail("peace %s --detach: exit %d, want 0 and the execution\nstdout:\n%s\nstderr:\n%s", op, code, out.Bytes(), errOut.Bytes())
	}
	// Printed once the runner holds the lock, the execution is running —
	// or, when the printing process was slow enough (a loaded machine),
	// already at its end; never queued, never lost.
	switch {
	case e.Command != op:
		c.violated("peace %s --detach printed execution %s of %s: want %s", op, e.ID, e.Command, op)
	case e.State != "running" && e.State != "complete" && e.State != "failed":
		c.violated("peace %s --detach printed execution %s, state %q: want running (or complete, failed)", op, e.ID, e.State)
	}
	// The runner holds the lock: from now on no process of an earlier
	// run may change the world (DESIGN §5). It has recovered, killing
	// what the journal names; a killed runner's watchdog may still be on
	// its way, and a command still at its start gate runs nothing.
	c.checkEarlier(n, op, "held the lock (its ID was printed)")
	d := &detached{id: e.ID, pid: e.PID}
	var state string
	state, _, d.pidStart = procStat(e.PID)
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.PID))
	if state == "" || !bytes.Contains(cmdline, []byte("--detached-runner")) {
		// It may have run to its end already; its record says so.
		d.pidStart = ""
	}

	w := exec.Command(c.bin, "--progress", "json", "--format", "json", "wait", e.ID)
	w.Dir = c.dir // not marked: it is no process of the run
	p := &proc{c: c, n: n, cmd: w, op: op, began: make(chan struct{}), applies: make(chan struct{}),
		slow: c.slow, slowGo: make(chan struct{}), ended: make(chan struct{}), gone: make(chan struct{}),
		started: time.Now()}
	w.Stdout = &p.stdout
	errPipe, err := w.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		c.t.Fatal(err)
	}
	go p.read(errPipe)
	d.proc = p
	return d
}

// kill sends SIGKILL to the runner, unless it has ended, and returns once
// it is gone: a killed process is not gone the moment the signal is sent,
// and the next run may start as soon as it is.
func (d *detached) kill() bool {
	c := d.c
	if d.pidStart == "" || !running(d.pid, d.pidStart) {
		return false
	}
	d.watchdogs = map[int]string{}
	for _, e := range c.ps() {
		if e.ppid == d.pid && e.run == "" {
			d.watchdogs[e.pid] = e.start
		}
	}
	if syscall.Kill(d.pid, syscall.SIGKILL) != nil {
		return false
	}
	d.killedAt = time.Now()
	d.sent = append(d.sent, fmt.Sprintf("SIGKILL of its runner at %v", time.Since(d.started).Round(time.Millisecond)))
	for running(d.pid, d.pidStart) {
		if time.Since(d.killedAt) > bgExitsIn {
			c.fail("runner %d of execution %s survived SIGKILL", d.pid, d.id)
		}
		time.Sleep(200 * time.Microsecond)
	}
	// From now on, a watcher follows what it left.
	c.watchers.Go(func() { c.watch(d.proc) })
	return true
}

// waitDetached waits for the follower of d to end, and returns the run as
// it saw it. A follower of an execution whose runner was killed must exit
// 1 saying it is lost; the run then counts as killed by SIGKILL, as a
// foreground one would.
func (c *chaosDir) waitDetached(d *detached) *run {
	c.t.Helper()
	select {
	case <-d.gone:
	case <-time.After(2 * time.Minute):
		_ = d.cmd.Process.Kill()
		c.fail("peace wait %s (%s) did not end within 2 minutes", d.id, d.op)
	}
	err := d.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.fail("peace wait %s: %v", d.id, err)
	}
	r := &run{op: d.op, stdout: d.stdout.Bytes(), sent: d.sent, code: d.cmd.ProcessState.ExitCode()}
	lost := false
	for i, line := range d.lines {
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			c.fail("wait %s (%s): progress line %d is not JSON: %v\n%s", d.id, r, i+1, err, line)
		}
		if e.Type == "fatal" {
			if i != len(d.lines)-1 || !strings.HasPrefix(e.Message, "execution "+d.id+" is lost") {
				c.fail("wait %s (%s): fatal event %q, not the last line saying the execution is lost", d.id, r, e.Message)
			}
			lost = true
			break
		}
		if e.Type == "execution_start" && e.Command != d.op {
			c.fail("ran %s, which says it runs %q", d.op, e.Command)
		}
		r.events = append(r.events, e)
	}
	c.st.runs++
	switch {
	case lost && d.killedAt.IsZero():
		c.violated("wait %s (%s): the execution is lost, but its runner was not killed\n%s", d.id, r, bytes.Join(d.lines, nil))
	case lost && r.code != 1:
		c.violated("wait %s on the lost execution (%s): exit %d, want 1", d.id, r, r.code)
	case lost:
		r.code, r.signal = -1, syscall.SIGKILL
	}
	return r
}

// peace runs a read-only command to its end, unmarked.
func (c *chaosDir) peace(args ...string) (code int, stdout, stderr []byte) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.fail("peace %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.Bytes(), errOut.Bytes()
}

// checkLost holds the record of execution id, whose runner was killed, to
// what DESIGN §10 says of it: `executions` reads it lost, with no exit
// code, and `wait` on it exits 1, however often it is read.
func (c *chaosDir) checkLost(id string) {
	c.t.Helper()
	code, out, errOut := c.peace("executions", "--format", "json")
	var list struct{ Executions []execution }
	if err := json.Unmarshal(out, &list); code != 0 || err != nil {
		c.fail("executions --format json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	i := slices.IndexFunc(list.Executions, func(e execution) bool { return e.ID == id })
	switch {
	case i < 0:
		c.violated("executions does not list %s, whose runner was killed:\n%s", id, out)
	case list.Executions[i].State != "lost" || list.Executions[i].ExitCode != nil:
		c.violated("executions lists %s, whose runner was killed, as %s with exit code %v: want lost, none",
			id, list.Executions[i].State, list.Executions[i].ExitCode)
	default:
		c.st.lost++
	}
	if code, _, errOut := c.peace("wait", id); code != 1 || !bytes.Contains(errOut, []byte("execution "+id+" is lost")) {
		c.violated("wait %s, whose runner was killed: exit %d, want 1 and lost\n%s", id, code, errOut)
	}
}

// calibrateDetached runs a detached ensure and clean to their end and
// returns their windows, from the printed ID (the runner holds the lock)
// to the apply block as its follower sees it, and from there to the end.
func calibrateDetached(c *chaosDir) map[string]window {
	c.t.Helper()
	w := map[string]window{}
	for _, op := range []string{"ensure", "clean"} {
		d := c.startDetached(op)
		r := c.waitDetached(d)
		c.checkHandled(r)
		if r.code != 0 {
			c.fail("calibration %s", r)
		}
		w[op] = window{early: d.applyAt.Sub(d.started), apply: d.goneAt.Sub(d.applyAt)}
		c.t.Logf("detached %s takes %v to its apply block, %v from there", op,
			w[op].early.Round(time.Millisecond), w[op].apply.Round(time.Millisecond))
	}
	return w
}

// testKillDetached kills the runners of detached ensures and cleans with
// SIGKILL at seeded instants: after the ID is printed (the runner holds the
// lock), mostly in the apply block. The next detached run starts at once,
// as soon as the runner is gone, and runs to its end; then the pair is
// checked like any chain of runs (no process of the killed run left, what
// is recorded is the world, orphans accounted for, with the items the next
// run found unknown counted as in flight), and the killed execution must
// read lost in `executions` and make `wait` exit 1.
func testKillDetached(t *testing.T, bin string, cfg chaosConfig) {
	c := newChaosDir(t, bin, chaosItems, chaosJobs)
	c.replay, c.keepGoing = cfg.replay("TestKill/detached"), cfg.thorough
	windows := calibrateDetached(c)
	points := detachedPoints(cfg)
	for i := range points {
		rng := pointRand(cfg, 4, i)
		op := c.chaosOp(rng)
		at := drawInstant(rng, windows[op], c.work(op))
		c.point = fmt.Sprintf("detached point %d: the runner of %s killed %v (from the printed ID)", i, op, at)
		d := c.startDetached(op)
		killed := d.await(at, closed) && d.kill()
		if !killed {
			c.checkHandled(c.waitDetached(d))
			continue
		}
		// The next run starts now, while the follower of the killed one
		// finds it lost.
		c.st.immediate++
		next := c.startDetached(c.chaosOp(rng))
		r := c.waitDetached(d)
		if !r.killed() {
			// The kill raced the end of the execution: it had recorded
			// everything, and the follower read it finished.
			nr := c.waitDetached(next)
			c.checkHandled(r)
			c.checkHandled(nr)
			continue
		}
		nr := c.waitDetached(next)
		for _, e := range nr.events {
			if e.Type == "item_unknown" {
				r.foundUnknown = append(r.foundUnknown, e.Item)
			}
			if e.Type == "notice" && strings.Contains(e.Message, "left running by a run that did not finish") {
				c.st.recoveryKills++
			}
		}
		c.checkHandled(r, nr)
		c.checkLost(d.id)
	}
	c.point = fmt.Sprintf("after %d detached points", points)
	c.settle()
	n, p50, longest := c.deathTimes()
	t.Log(c.st)
	t.Logf("%d detached runners killed: %d read lost in executions and wait, %d process groups the next run's recovery had to kill",
		n, c.st.lost, c.st.recoveryKills)
	t.Logf("SIGKILL of a runner to the end of its last process (commands and watchdog), over %d kills: p50 %v, max %v",
		n, p50.Round(100*time.Microsecond), longest.Round(100*time.Microsecond))
}

// The crash points run on a smaller flow, two items at once: each starts
// from a fresh directory.
const (
	crashItems = 8
	crashJobs  = 2
)

// testKillCrashPoints stops runs exactly at the points PEACE_CRASH_AT names
// (state.CrashPoint): after an item's begin record, after its side effect
// but before its end record, and between the two snapshot writes of a
// fold, at the end of a command and while recovering at the start of one.
// Recovery passes fold:after_snapshots only when it has a journal to reset,
// so a command reaches that point in its final fold too.
func testKillCrashPoints(t *testing.T, bin string, cfg chaosConfig) {
	ids := make([]string, crashItems)
	for i := range ids {
		ids[i] = chaosID(i)
	}
	type crashCase struct {
		name string
		test func(c *chaosDir, item string)
		item string
	}
	kinds := []struct {
		name string
		test func(c *chaosDir, item string)
	}{
		{"ensure/begin:", crashEnsureBegin},
		{"ensure/apply:", crashEnsureApply},
		{"clean/begin:", crashCleanBegin},
		{"clean/apply:", crashCleanApply},
	}
	// Every item at every point when asked to be thorough; otherwise each
	// point at one item of a seeded shuffle.
	picks := slices.Clone(ids)
	pointRand(cfg, 3, 0).Shuffle(len(picks), func(i, j int) { picks[i], picks[j] = picks[j], picks[i] })
	var cases []crashCase
	for k, kind := range kinds {
		for _, id := range picks {
			if !cfg.thorough && id != picks[k] {
				continue
			}
			cases = append(cases, crashCase{kind.name + id, kind.test, id})
		}
	}
	cases = append(cases,
		crashCase{"ensure/fold:between_snapshots", crashEnsureFold("fold:between_snapshots"), ""},
		crashCase{"ensure/fold:after_snapshots", crashEnsureFold("fold:after_snapshots"), ""},
		crashCase{"clean/fold:between_snapshots", crashCleanFold("fold:between_snapshots"), ""},
		crashCase{"clean/fold:after_snapshots", crashCleanFold("fold:after_snapshots"), ""},
		crashCase{"recover/fold:between_snapshots", crashRecover("fold:between_snapshots"), picks[0]},
		crashCase{"recover/fold:after_snapshots", crashRecover("fold:after_snapshots"), picks[1]})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newChaosDir(t, bin, crashItems, crashJobs)
			c.point = tc.name
			c.replay = cfg.replay("TestKill/crash_points/" + tc.name)
			tc.test(c, tc.item)
		})
	}
}

// crash runs op with PEACE_CRASH_AT=point and expects it to die by SIGKILL.
func (c *chaosDir) crash(op, point string) *run {
	c.t.Helper()
	r := c.wait(c.start(op, "PEACE_CRASH_AT="+point))
	if !r.killed() {
		c.fail("%s with PEACE_CRASH_AT=%s: want death by SIGKILL\n%s", r, point, r.stdout)
	}
	return r
}

// rerun runs op to its end and checks it completed.
func (c *chaosDir) rerun(op string) (*run, stored, world) {
	c.t.Helper()
	r := c.wait(c.start(op))
	s, w := c.checkHandled(r)
	if r.code != 0 {
		c.fail("rerun: %s\n%s", r, r.stdout)
	}
	return r, s, w
}

// expectUnknown checks that the rerun r told about item, which a killed run
// left unknown, and says how it ended in r's apply block.
func (c *chaosDir) expectUnknown(r *run, item, status string) {
	c.t.Helper()
	if !r.has("item_unknown", item) {
		c.fail("%s: no item_unknown event for %s, which the killed run left unknown", r, item)
	}
	if got := r.applyStatus(item); got != status {
		c.fail("%s: %s ended %q, want %q", r, item, got, status)
	}
}

// ensure/begin:X: the begin record is durable, the side effect never
// happened. X is unknown, has no file; the rerun reports it, rediscovers it
// and applies it, leaving no orphan.
func crashEnsureBegin(c *chaosDir, x string) {
	s, w := c.check(c.crash("ensure", "begin:"+x))
	if !s.unknown(x) {
		c.fail("after the crash at begin:%s it is not unknown: %v", x, s.Unknown)
	}
	if len(w.files[x]) > 0 || w.applied[x] != "" {
		c.fail("after the crash at begin:%s it has files %v, but its apply never ran", x, w.files[x])
	}
	r, _, _ := c.rerun("ensure")
	c.expectUnknown(r, x, "applied")
	if c.owed[x] != 0 {
		c.fail("%s has %d orphans", x, c.owed[x])
	}
	c.settle()
}

// ensure/apply:X: the side effect happened, the end record is missing. X is
// unknown, its file exists and nothing records it; the rerun rediscovers X
// (its recorded state names no file, so it is absent) and applies it
// again: the first file is X's one orphan, for its clean to remove.
func crashEnsureApply(c *chaosDir, x string) {
	s, w := c.check(c.crash("ensure", "apply:"+x))
	if !s.unknown(x) {
		c.fail("after the crash at apply:%s it is not unknown: %v", x, s.Unknown)
	}
	if len(w.files[x]) != 1 || w.files[x][0] != w.applied[x] {
		c.fail("after the crash at apply:%s it has files %v, want the one its ensure made (%q)", x, w.files[x], w.applied[x])
	}
	if rec := s.state(x); rec != "" {
		c.fail("after the crash at apply:%s it records %q, want nothing", x, rec)
	}
	first := w.files[x][0]
	r, s, _ := c.rerun("ensure")
	c.expectUnknown(r, x, "applied")
	if rec := s.state(x); rec == first {
		c.fail("the rerun records %s for %s, the file of the killed run", rec, x)
	}
	if c.owed[x] != 1 {
		c.fail("%s has %d orphans, want 1: %s", x, c.owed[x], first)
	}
	c.settle() // its clean removes the orphan too
}

// clean/begin:X: X is unknown, its file untouched and still recorded; the
// rerun cleans it.
func crashCleanBegin(c *chaosDir, x string) {
	_, before, _ := c.rerun("ensure")
	s, w := c.check(c.crash("clean", "begin:"+x))
	if !s.unknown(x) {
		c.fail("after the crash at begin:%s it is not unknown: %v", x, s.Unknown)
	}
	if rec := s.state(x); rec != before.state(x) || !w.has(x, rec) {
		c.fail("after the crash at begin:%s it records %q (was %q), files %v", x, rec, before.state(x), w.files[x])
	}
	r, _, _ := c.rerun("clean")
	c.expectUnknown(r, x, "applied")
	c.expectClean()
}

// clean/apply:X: X's file is gone but its end record is missing: X is
// unknown and still records the removed file. The rerun rediscovers it as
// absent, which is clean already.
func crashCleanApply(c *chaosDir, x string) {
	_, before, _ := c.rerun("ensure")
	s, w := c.check(c.crash("clean", "apply:"+x))
	if !s.unknown(x) {
		c.fail("after the crash at apply:%s it is not unknown: %v", x, s.Unknown)
	}
	if rec := s.state(x); rec != before.state(x) || len(w.files[x]) > 0 {
		c.fail("after the crash at apply:%s it records %q (was %q), files %v", x, rec, before.state(x), w.files[x])
	}
	r, _, _ := c.rerun("clean")
	c.expectUnknown(r, x, "unchanged")
	c.expectClean()
}

// expectClean checks that no item has a file and every item records absent.
func (c *chaosDir) expectClean() {
	c.t.Helper()
	s, w := c.stored(), c.world()
	if w.count() > 0 {
		c.fail("files left after clean: %v", w.files)
	}
	for _, id := range c.ids {
		if rec := s.state(id); rec != "absent" {
			c.fail("after clean %s records %q", id, rec)
		}
	}
}

// ensure/fold:between_snapshots: every item applied and its end record is
// in the journal, the goal snapshot is written, the current one is not.
// Replaying the journal gives exactly the world; the rerun changes nothing.
func crashEnsureFold(point string) func(c *chaosDir, _ string) {
	return func(c *chaosDir, _ string) { crashEnsureFoldAt(c, point) }
}

func crashEnsureFoldAt(c *chaosDir, point string) {
	r := c.crash("ensure", point)
	s, w := c.check(r)
	for _, id := range c.ids {
		if st := r.applyStatus(id); st != "applied" {
			c.fail("%s: %s ended %q before the fold, want applied", r, id, st)
		}
		if rec := s.state(id); s.unknown(id) || rec != w.applied[id] || len(w.files[id]) != 1 {
			c.fail("after the crash in the fold %s records %q (unknown: %v), files %v", id, rec, s.unknown(id), w.files[id])
		}
	}
	c.expectAll("ensure", "unchanged")
}

// clean/fold:between_snapshots: likewise at the end of clean.
func crashCleanFold(point string) func(c *chaosDir, _ string) {
	return func(c *chaosDir, _ string) { crashCleanFoldAt(c, point) }
}

func crashCleanFoldAt(c *chaosDir, point string) {
	c.rerun("ensure")
	r := c.crash("clean", point)
	c.check(r)
	if len(c.stored().Unknown) > 0 {
		c.fail("unknown items after the crash in the fold: %v", c.stored().Unknown)
	}
	c.expectClean()
	c.expectAll("clean", "unchanged")
}

// expectAll reruns op and expects every item to end with status.
func (c *chaosDir) expectAll(op, status string) {
	c.t.Helper()
	r, _, _ := c.rerun(op)
	for _, id := range c.ids {
		if st := r.applyStatus(id); st != status {
			c.fail("%s: %s ended %q, want %q", r, id, st, status)
		}
	}
}

// recover/POINT: a run killed at apply:X leaves a journal; the next run
// dies at POINT while folding it in at its start, before any block. What
// is recorded is what it was before that run, and the run after recovers.
func crashRecover(point string) func(c *chaosDir, x string) {
	return func(c *chaosDir, x string) {
		before, _ := c.check(c.crash("ensure", "apply:"+x))
		r := c.crash("ensure", point)
		if r.has("block_start", "") {
			c.fail("%s: a block started before the crash at %s: it was not in recovery", r, point)
		}
		after, _ := c.check(r)
		for _, id := range c.ids {
			if after.state(id) != before.state(id) || after.unknown(id) != before.unknown(id) {
				c.fail("%s records %q (unknown: %v) after the crash in recovery, %q (unknown: %v) before",
					id, after.state(id), after.unknown(id), before.state(id), before.unknown(id))
			}
		}
		r, _, _ = c.rerun("ensure")
		c.expectUnknown(r, x, "applied")
		c.settle()
	}
}

// TestStalledStderrKeepsOutput: while peace's stderr cannot be written (a
// terminal paused with Ctrl-S, a slow log reader), an sh_cmd item whose
// output line is being reported waits; once stderr flows again, what the
// command printed after that line must still be its recorded state.
//
// It fails today: sh_cmd gives a command's output readers a fixed grace
// once the command has exited, then closes the pipes under them, dropping
// what they had not read yet (items/shcmd, command.run). The ensure here
// prints "creating" and then its ID; the reader is held up reporting
// "creating", and the ID is lost: peace records "creating" as the applied
// state. The same loss follows a long enough pause of the whole process
// (an overloaded host, SIGSTOP) between a command's exit and its readers'
// next turn: TestKill sees it under heavy load, as an ensure whose printed
// ID is not what peace records (the goal is recorded instead), or as an
// item applied again although its current command printed its file (the
// empty output differs from the goal), which leaves an orphan.
func TestStalledStderrKeepsOutput(t *testing.T) {
	bin := buildPeace(t, t.TempDir())
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flow := `flow: stall
items:
  - id: volume
    type: sh_cmd
    params:
      current: "cat volume 2>/dev/null || echo absent"
      goal: "echo created"
      ensure: "touch started; sleep 0.3; echo creating; sleep 0.3; touch exited; echo vol-42 | tee volume; echo vol-42 > \"$PEACE_STATE_OUT\""
`
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	errR, errW := os.NewFile(uintptr(fds[0]), "stderr-r"), os.NewFile(uintptr(fds[1]), "stderr-w")
	defer errR.Close()
	cmd := exec.Command(bin, "--progress", "json", "--format", "json", "ensure")
	cmd.Dir = dir
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// Nothing reads stderr yet; once the ensure has started, fill what
	// is left of the pipe, so that peace's next progress line waits.
	waitFile(t, filepath.Join(dir, "started"))
	capacity, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), syscall.F_GETPIPE_SZ, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	var queued int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fds[0]), syscall.TIOCINQ, uintptr(unsafe.Pointer(&queued))); errno != 0 {
		t.Fatal(errno)
	}
	// Should peace write in between, the fill waits for the drain below;
	// the pipe is full either way.
	filled := make(chan error, 1)
	go func() {
		_, err := errW.Write(bytes.Repeat([]byte{'\n'}, int(capacity)-int(queued)))
		errW.Close()
		filled <- err
	}()

	// The command prints its ID and exits while peace waits to report
	// "creating"; a second later, stderr flows again.
	waitFile(t, filepath.Join(dir, "exited"))
	time.Sleep(time.Second)
	drained := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, errR); drained <- err }()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ensure: %v\n%s", err, stdout.Bytes())
	}
	if err := <-filled; err != nil {
		t.Fatal(err)
	}
	<-drained

	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout.Bytes())
	}
	if got := res.Items["volume"].State; got == nil || *got != "vol-42" {
		t.Errorf("applied state %q, want %q", deref(got), "vol-42")
	}
	// What ensure printed while stderr was stalled is all in its log.
	logsCmd := exec.Command(bin, "logs", "", "volume")
	logsCmd.Dir = dir
	logs, err := logsCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("logs: %v\n%s", err, logs)
	}
	if want := "volume | creating\nvolume | vol-42\n"; string(logs) != want {
		t.Errorf("log %q, want %q: what ensure printed after the stall was lost", logs, want)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 30s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
