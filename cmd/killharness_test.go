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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildPeace builds the real binary into dir: the kill tests stop a whole
// process, not code running inside the test.
func buildPeace(t *testing.T, dir string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "peace")
	out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/peace-go/peace").CombinedOutput()
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
}

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
	inFlight                          int // items in flight at kills and cancels, summed
	orphansNew                        int // orphans that appeared, summed
	orphansMax                        int // most orphans in the world at once
	unknownSeen                       int // items reported unknown after a kill, summed
	violations                        int // broken invariants
}

func (s chaosStats) String() string {
	return fmt.Sprintf("%d runs: %d killed, %d interrupted (%d twice), %d ran to the end; %d items in flight at kills and cancels, %d orphans appeared (at most %d at once), %d items left unknown; %d broken invariants",
		s.runs, s.kills, s.interrupts, s.twice, s.finished, s.inFlight, s.orphansNew, s.orphansMax, s.unknownSeen, s.violations)
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
		applied: map[string]string{}}
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
      ensure: 'pause=%[1]s; . ./sh/ensure.sh'
      clean: 'pause=%[1]s; . ./sh/clean.sh'
      clean_state: 'echo absent'
`, strconv.FormatFloat(chaosPause(i).Seconds(), 'f', 3, 64))
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
}

// run is one finished run of peace ensure or clean.
type run struct {
	op     string // "ensure" or "clean"
	code   int    // exit code; -1 when a signal ended the process
	signal syscall.Signal
	stdout []byte
	events []event
	sent   []string // signals sent to it, with when, for failure messages
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
}

// start runs `peace op` with JSON progress on stderr and a JSON result on
// stdout; extra is added to its environment.
func (c *chaosDir) start(op string, extra ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(c.bin, "--progress", "json", "--format", "json", "-j", strconv.Itoa(c.jobs), op)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), extra...)
	p := &proc{cmd: cmd, op: op, began: make(chan struct{}), applies: make(chan struct{}),
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
	if err := p.cmd.Process.Signal(sig); err != nil {
		return false
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
	c.waitQuiet()
	return r
}

// waitQuiet waits until no process runs in the flow directory. A killed
// peace leaves its items' commands running (each has its own process group,
// so they outlive it); they finish their side effects on their own, and the
// world is only judged once they have.
func (c *chaosDir) waitQuiet() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := c.busy()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.fail("processes still running in %s after 30s: %v", c.dir, pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// busy lists the processes whose working directory is in the flow
// directory. Zombies have none, so they do not count.
func (c *chaosDir) busy() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		c.t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err == nil && (cwd == c.dir || strings.HasPrefix(cwd, c.dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
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

// check holds r against the world and what is recorded, and returns both:
//
//   - recorded is true: an item not left unknown records a file that exists;
//   - nothing applied is lost: an item the run reported applied records the
//     state its apply returned (the file its ensure created; absent after
//     clean), and is not unknown;
//   - orphans are accounted for: an item has no more files that no recorded
//     state names than it had before, plus one if it was in flight when the
//     run died or was cancelled.
func (c *chaosDir) check(r *run) (stored, world) {
	c.t.Helper()
	s := c.stored()
	w := c.world()
	flight := map[string]bool{}
	if r.code < 0 {
		flight = r.inFlight()
	}
	orphans := 0
	for _, id := range c.ids {
		rec := s.state(id)
		if !s.unknown(id) && isFile(rec) && !w.has(id, rec) {
			c.violated("after %s: %s records %s, which does not exist (files: %v)", r, id, rec, w.files[id])
		}
		status := r.applyStatus(id)
		if status == "applied" {
			want := "absent"
			if r.op == "ensure" {
				want = w.applied[id]
			}
			if s.unknown(id) || rec != want {
				c.violated("after %s: %s was reported applied with %q, but records %q (unknown: %v): an applied state was lost\nevents:%s\ntrail:\n\t%s",
					r, id, want, rec, s.unknown(id), r.itemEvents(id), c.trail(id))
			}
		}
		n := len(w.files[id])
		if isFile(rec) && w.has(id, rec) {
			n--
		}
		allowed := c.owed[id]
		if flight[id] || status == "interrupted" {
			allowed++
			c.st.inFlight++
		}
		if n > allowed {
			c.violated("after %s: %s has %d orphans (%v, records %q), but only %d may exist\nevents:%s\ntrail:\n\t%s",
				r, id, n, w.files[id], rec, allowed, r.itemEvents(id), c.trail(id))
		}
		if n > c.owed[id] {
			c.st.orphansNew += n - c.owed[id]
		}
		c.owed[id] = n
		orphans += n
	}
	c.st.orphansMax = max(c.st.orphansMax, orphans)
	c.last = s
	if r.killed() {
		c.st.kills++
		c.st.unknownSeen += len(s.Unknown)
	}
	return s, w
}

// checkHandled holds a run that was not killed (it ran to its end or
// handled its interrupts) to what the command line promises: exit 0 with
// outcome complete, or 130 with outcome interrupted; the result on stdout
// agrees with what is recorded; and no item the run discovered or applied
// is left unknown.
func (c *chaosDir) checkHandled(r *run) (stored, world) {
	c.t.Helper()
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
	s, w := c.check(r)
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
