package state

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/peace-go/peace/internal/durable"
)

// The journal is a sequence of frames, one per record:
//
//	magic (2 bytes: 0xFF 'J') | length (uint32 LE) | CRC32C (uint32 LE) | payload
//
// The CRC covers the length bytes and the payload, and the payload is a JSON
// record. The magic starts with 0xFF, a byte that never occurs in UTF-8 (and
// so never in a payload): after a damaged frame, a reader can look for later
// intact frames and tell a torn tail (nothing intact follows: the last write
// was cut short) from corruption in the middle of the file.
//
// Only a damaged last record that runs to the end of the file is a torn
// tail: the last write was cut short. Its bytes are kept aside in
// journal.log.torn-<time> when the journal is next rewritten. Anything else
// is corruption (P4, P7): damage with an intact record after it, a damaged
// record whose full length is in the file with more bytes after it, or a
// damaged first record (a file zero-filled or garbage from byte 0), unless
// that first record is only cut short.

var frameMagic = []byte{0xff, 'J'}

const frameHeader = 10 // magic, length, CRC

// maxRecord bounds a record's length, so a damaged length is never trusted
// with an allocation.
const maxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record kinds. kindJournal heads every journal file with a random ID, which
// a snapshot names when it folds the journal (see foldMark).
const (
	kindJournal   = "journal"
	kindExecStart = "exec_start"
	kindBegin     = "begin"
	kindEnd       = "end"
	kindSignal    = "signal"
	kindGroup     = "group"
	kindExecEnd   = "exec_end"
)

// record is one journal record. Fields a kind does not use stay empty.
type record struct {
	V       int             `json:"v"`
	Kind    string          `json:"kind"`
	ID      string          `json:"id,omitempty"` // kindJournal
	Exec    string          `json:"exec,omitempty"`
	Command string          `json:"command,omitempty"` // kindExecStart
	Item    string          `json:"item,omitempty"`
	Outcome string          `json:"outcome,omitempty"` // kindEnd, kindExecEnd
	State   json.RawMessage `json:"state,omitempty"`   // kindEnd; absent: not known
	Stage   string          `json:"stage,omitempty"`   // kindSignal
	Pgid    int             `json:"pgid,omitempty"`    // kindGroup
	Start   string          `json:"start,omitempty"`   // kindGroup: the group leader's start identity
	Time    time.Time       `json:"time"`

	off int64 // where the record's frame starts in the file
}

// appendFrame appends payload framed as a journal record.
func appendFrame(dst, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, frameMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, payload...)
	crc := crc32.Update(crc32.Checksum(dst[start+2:start+6], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(dst[start+6:], crc)
	return dst
}

// frameRecord encodes r as a framed journal record.
func frameRecord(r record) ([]byte, error) {
	if payload, ok := appendRecord(make([]byte, 0, 160+len(r.State)), &r); ok {
		return appendFrame(make([]byte, 0, frameHeader+len(payload)), payload), nil
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("journal %s record: %w", r.Kind, err)
	}
	return appendFrame(nil, payload), nil
}

// appendRecord appends r as json.Marshal encodes it, byte for byte, without
// reflection: every item's begin and end record is encoded. ok is false
// when a string needs escaping, the state holds a byte json.Marshal would
// write otherwise, or the time is out of JSON's range; the caller then uses
// json.Marshal. r.State, compact (End made it so), is appended as it is.
func appendRecord(b []byte, r *record) (_ []byte, ok bool) {
	if y := r.Time.Year(); y < 0 || y >= 10000 {
		return nil, false
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"kind":`...)
	if b, ok = appendPlainString(b, r.Kind); !ok {
		return nil, false
	}
	for _, f := range [...]struct{ key, value string }{
		{`,"id":`, r.ID}, {`,"exec":`, r.Exec}, {`,"command":`, r.Command},
		{`,"item":`, r.Item}, {`,"outcome":`, r.Outcome},
	} {
		if f.value == "" {
			continue
		}
		b = append(b, f.key...)
		if b, ok = appendPlainString(b, f.value); !ok {
			return nil, false
		}
	}
	if len(r.State) > 0 {
		if !plainJSON(r.State) {
			return nil, false
		}
		b = append(b, `,"state":`...)
		b = append(b, r.State...)
	}
	if r.Stage != "" {
		b = append(b, `,"stage":`...)
		if b, ok = appendPlainString(b, r.Stage); !ok {
			return nil, false
		}
	}
	if r.Pgid != 0 {
		b = append(b, `,"pgid":`...)
		b = strconv.AppendInt(b, int64(r.Pgid), 10)
	}
	if r.Start != "" {
		b = append(b, `,"start":`...)
		if b, ok = appendPlainString(b, r.Start); !ok {
			return nil, false
		}
	}
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), true
}

// plainJSON reports whether compact JSON s holds only printable ASCII
// that json.Marshal writes as it is (it escapes <, > and &).
func plainJSON(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendPlainString appends s quoted, if it is printable ASCII that JSON
// does not escape (json.Marshal also escapes <, > and &).
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return nil, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// frameAt returns the payload and total size of the intact frame at
// data[off:], or ok false if there is none.
func frameAt(data []byte, off int) (payload []byte, size int, ok bool) {
	rest := data[off:]
	if len(rest) < frameHeader || rest[0] != frameMagic[0] || rest[1] != frameMagic[1] {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(rest[2:6])
	if n > maxRecord || int64(n) > int64(len(rest)-frameHeader) {
		return nil, 0, false
	}
	payload = rest[frameHeader : frameHeader+int(n)]
	crc := crc32.Update(crc32.Checksum(rest[2:6], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(rest[6:10]) {
		return nil, 0, false
	}
	return payload, frameHeader + int(n), true
}

// rawFrame is an intact frame found by scanFrames.
type rawFrame struct {
	off     int
	payload []byte
}

// scanFrames splits data into intact frames. end is where the intact prefix
// ends; if end < len(data), damage says why what follows is corruption, or
// is "" for a torn tail of len(data)-end bytes.
func scanFrames(data []byte) (frames []rawFrame, end int, damage string) {
	for end < len(data) {
		payload, n, ok := frameAt(data, end)
		if !ok {
			break
		}
		frames = append(frames, rawFrame{off: end, payload: payload})
		end += n
	}
	if end < len(data) {
		damage = damageAt(data, end)
	}
	return frames, end, damage
}

// damageAt tells, for the damaged record at data[end:], why it is corruption
// rather than a torn tail, or "" if it is a torn tail.
func damageAt(data []byte, end int) string {
	if intactFrameAfter(data, end+1) {
		return fmt.Sprintf("a damaged record at byte %d is followed by intact ones", end)
	}
	rest := data[end:]
	cut, size := cutShort(rest)
	switch {
	case end == 0 && !cut:
		return "its first record is damaged"
	case !cut && size > 0 && size < len(rest):
		return fmt.Sprintf("a damaged record at byte %d is followed by %d more bytes", end, len(rest)-size)
	}
	return ""
}

// cutShort reports whether rest is the start of a frame whose write was cut
// short: an intact header (or the start of one) whose length runs past the
// end, and nothing in the payload a writer never writes. Otherwise size is
// the length of the damaged frame if its header can be trusted, or 0.
func cutShort(rest []byte) (cut bool, size int) {
	if len(rest) < frameHeader {
		return bytes.HasPrefix(frameMagic, rest[:min(len(rest), len(frameMagic))]), 0
	}
	if rest[0] != frameMagic[0] || rest[1] != frameMagic[1] {
		return false, 0
	}
	n := binary.LittleEndian.Uint32(rest[2:6])
	if n > maxRecord {
		return false, 0
	}
	if int64(n) <= int64(len(rest)-frameHeader) {
		return false, frameHeader + int(n)
	}
	// A payload is UTF-8 JSON text: never a 0xFF or a NUL byte.
	payload := rest[frameHeader:]
	return bytes.IndexByte(payload, 0xff) < 0 && bytes.IndexByte(payload, 0) < 0, 0
}

func intactFrameAfter(data []byte, from int) bool {
	for from < len(data) {
		i := bytes.Index(data[from:], frameMagic)
		if i < 0 {
			return false
		}
		if _, _, ok := frameAt(data, from+i); ok {
			return true
		}
		from += i + 1
	}
	return false
}

// decodeRecord parses and checks one payload. A newer version is a
// *VersionError (Path unset); any other error means the record is corrupt.
func decodeRecord(payload []byte) (record, error) {
	r, ok := parseRecord(payload)
	if !ok {
		r = record{}
		if err := json.Unmarshal(payload, &r); err != nil {
			return r, err
		}
	}
	if r.V > FormatVersion {
		return r, &VersionError{Found: r.V, Supported: FormatVersion}
	}
	if r.V < 1 {
		return r, fmt.Errorf("unsupported record version %d", r.V)
	}
	missing := ""
	switch r.Kind {
	case kindJournal:
		if r.ID == "" {
			missing = "id"
		}
	case kindExecStart, kindExecEnd:
	case kindBegin:
		if r.Item == "" {
			missing = "item"
		}
	case kindEnd:
		switch {
		case r.Item == "":
			missing = "item"
		case r.Outcome == "":
			missing = "outcome"
		}
	case kindSignal:
		if r.Stage == "" {
			missing = "stage"
		}
	case kindGroup:
		switch {
		case r.Item == "":
			missing = "item"
		case r.Pgid <= 0:
			missing = "pgid"
		}
	default:
		return r, fmt.Errorf("unknown record kind %q", r.Kind)
	}
	if missing != "" {
		return r, fmt.Errorf("a %s record without %s", r.Kind, missing)
	}
	return r, nil
}

// parseRecord decodes payload as json.Unmarshal would, without reflection,
// when it is written as appendRecord writes records: the record's keys
// spelled as they are, no space, strings of printable ASCII without
// escapes, integers. Anything else (ok false) is left to json.Unmarshal,
// which also says what is wrong with a record that is not JSON.
func parseRecord(p []byte) (r record, ok bool) {
	if len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		return r, false
	}
	i := 1
	for {
		key, n := plainString(p, i)
		if n < 0 || n >= len(p) || p[n] != ':' {
			return r, false
		}
		i = n + 1
		var end int
		switch key {
		case "v", "pgid":
			var v int
			if v, end = plainInt(p, i); end < 0 {
				return r, false
			}
			if key == "v" {
				r.V = v
			} else {
				r.Pgid = v
			}
		case "state":
			if end = valueEnd(p, i); end <= i || isSpace(p[i]) || isSpace(p[end-1]) || !json.Valid(p[i:end]) {
				return r, false
			}
			r.State = append(json.RawMessage(nil), p[i:end]...)
		case "time":
			if _, end = plainString(p, i); end < 0 || r.Time.UnmarshalJSON(p[i:end]) != nil {
				return r, false
			}
		default:
			var v string
			if v, end = plainString(p, i); end < 0 {
				return r, false
			}
			switch key {
			case "kind":
				r.Kind = v
			case "id":
				r.ID = v
			case "exec":
				r.Exec = v
			case "command":
				r.Command = v
			case "item":
				r.Item = v
			case "outcome":
				r.Outcome = v
			case "stage":
				r.Stage = v
			case "start":
				r.Start = v
			default:
				return r, false
			}
		}
		switch {
		case end == len(p)-1:
			return r, true
		case end < len(p) && p[end] == ',':
			i = end + 1
		default:
			return r, false
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// plainString reads the string at p[i:] if it is printable ASCII without
// escapes, and returns it and where it ends; end is -1 otherwise.
func plainString(p []byte, i int) (s string, end int) {
	if i >= len(p) || p[i] != '"' {
		return "", -1
	}
	for j := i + 1; j < len(p); j++ {
		switch c := p[j]; {
		case c == '"':
			return string(p[i+1 : j]), j + 1
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", -1
		}
	}
	return "", -1
}

// plainInt reads the integer at p[i:], as JSON writes it (no fraction,
// exponent or leading zero), and where it ends; end is -1 otherwise.
func plainInt(p []byte, i int) (v int, end int) {
	j := i
	if j < len(p) && p[j] == '-' {
		j++
	}
	k := j
	for k < len(p) && p[k] >= '0' && p[k] <= '9' {
		k++
	}
	switch {
	case k == j, p[j] == '0' && k > j+1, k < len(p) && (p[k] == '.' || p[k] == 'e' || p[k] == 'E'):
		return 0, -1
	}
	v, err := strconv.Atoi(string(p[i:k]))
	if err != nil {
		return 0, -1
	}
	return v, k
}

// valueEnd returns where the JSON value at p[i:] ends, following strings
// and nesting only (the caller checks it is valid), or -1.
func valueEnd(p []byte, i int) int {
	depth, inString := 0, false
	for j := i; j < len(p); j++ {
		c := p[j]
		switch {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return j // the end of the enclosing record
			}
			depth--
		case c == ',' && depth == 0:
			return j
		}
		if !inString && depth == 0 && (c == '}' || c == ']' || c == '"') {
			return j + 1
		}
	}
	return -1
}

// journalScan is what readJournal found.
type journalScan struct {
	exists  bool
	id      string // from the kindJournal record heading the file
	records []record
	end     int64  // end of the last intact record
	torn    int    // bytes of a torn last record, ignored
	tail    []byte // those bytes, to keep aside
}

// parseJournal reads journal data. It fails with a *VersionError (Path unset)
// for a newer record, or with a reason the journal is corrupt.
func parseJournal(data []byte) (journalScan, error) {
	frames, end, damage := scanFrames(data)
	scan := journalScan{exists: true, end: int64(end), torn: len(data) - end, tail: data[end:]}
	if damage != "" {
		return scan, errors.New(damage)
	}
	scan.records = make([]record, 0, len(frames))
	for i, f := range frames {
		r, err := decodeRecord(f.payload)
		var verr *VersionError
		if errors.As(err, &verr) {
			return scan, verr
		}
		if err != nil {
			return scan, fmt.Errorf("record at byte %d: %v", f.off, err)
		}
		if i == 0 && r.Kind == kindJournal {
			scan.id = r.ID
		}
		r.off = int64(f.off)
		scan.records = append(scan.records, r)
	}
	return scan, nil
}

// readJournal reads the journal at path. A missing file is an empty journal;
// a corrupt one is a *CorruptError, left where it is; a newer one is refused
// (*VersionError).
func readJournal(path string) (journalScan, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return journalScan{}, nil
	}
	if err != nil {
		return journalScan{}, fmt.Errorf("read journal: %w", err)
	}
	scan, err := parseJournal(data)
	var verr *VersionError
	switch {
	case errors.As(err, &verr):
		verr.Path = path
		return journalScan{}, verr
	case err != nil:
		return journalScan{}, corrupt(path, err.Error())
	}
	return scan, nil
}

// keepTorn writes the bytes of a torn last record beside the journal at
// path, as path.torn-<UTC time> (never overwriting an earlier one), before
// the journal is cut or reset: they are ignored, never deleted. (P4)
func keepTorn(path string, tail []byte) (string, error) {
	base := path + ".torn-" + time.Now().UTC().Format("20060102T150405Z")
	for n := 1; n < 1000; n++ {
		name := base
		if n > 1 {
			name += "-" + strconv.Itoa(n)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("keep torn journal tail: %w", err)
		}
		_, err = f.Write(tail)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("keep torn journal tail: %w", err)
		}
		return name, durable.SyncDir(filepath.Dir(path))
	}
	return "", fmt.Errorf("keep torn journal tail: too many torn tails beside %s", path)
}

// Journal appends one command execution's records to the journal file. Its
// methods are safe for concurrent use: records handed in together are
// written with one write and made durable with one fsync (group commit) by a
// single writer goroutine.
type Journal struct {
	store *Store
	path  string
	exec  string
	f     *os.File

	mu     sync.Mutex
	queue  []*pending
	closed bool
	err    error // the first write or fsync failure: the file can no longer be trusted

	wake    chan struct{} // capacity 1: "the queue has something"
	stopped chan struct{} // closed when the writer goroutine returns

	// wmu orders the file's writes: the writer goroutine's batches and
	// Group's records, which are written by their caller (wmu before mu).
	wmu     sync.Mutex
	closing bool         // under mu: Close has begun, no record may be written past its end record
	written int64        // under wmu: file size after the last write
	syncs   atomic.Int64 // fsyncs completed by the writer; group commit keeps it below the records
	// sync is (*os.File).Sync; tests replace it to see what each fsync covers.
	sync func(*os.File) error
	// fsyncDirs is durable.SyncDirs; tests replace it likewise.
	fsyncDirs func(dirs []string) (failed []string, err error)
}

// pending is a framed record waiting for the writer.
type pending struct {
	frame []byte
	sync  bool // wait for fsync, not only for the write
	// dirs are fsynced before the record is written: what it says is
	// done (a file removed) is durable first. (P1)
	dirs []string
	done chan error // capacity 1
}

var errJournalClosed = errors.New("journal is closed")

// OpenJournal appends an execution-start record (execution ID, command, time)
// and returns the writer. Open one per command execution, while holding the
// lock. A torn last record left by a crash is cut off first, so appends stay
// well framed.
func (s *Store) OpenJournal(execution, command string) (*Journal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil {
		return nil, errors.New("open journal: a journal is already open for this state")
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	path := s.journalPath()
	scan, err := readJournal(path)
	if err != nil {
		return nil, setAside(err)
	}
	if scan.torn > 0 {
		if _, err := keepTorn(path, scan.tail); err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{
		store: s, path: path, exec: execution, f: f,
		wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		written: scan.end, sync: (*os.File).Sync, fsyncDirs: durable.SyncDirs,
	}
	if err := j.start(scan, command); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	go j.writeLoop()
	s.journal = j
	return j, nil
}

// start cuts off a torn tail (kept aside by then), heads a new file with its ID and appends the
// execution-start record, durably.
func (j *Journal) start(scan journalScan, command string) error {
	if scan.torn > 0 {
		if err := j.f.Truncate(scan.end); err != nil {
			return err
		}
	}
	var head []byte
	var err error
	now := time.Now().UTC()
	if scan.end == 0 {
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return err
		}
		if head, err = frameRecord(record{V: FormatVersion, Kind: kindJournal, ID: hex.EncodeToString(id), Time: now}); err != nil {
			return err
		}
	}
	start, err := frameRecord(record{V: FormatVersion, Kind: kindExecStart, Exec: j.exec, Command: command, Time: now})
	if err != nil {
		return err
	}
	head = append(head, start...)
	if _, err := j.f.Write(head); err != nil {
		return err
	}
	j.written += int64(len(head))
	if err := j.sync(j.f); err != nil {
		return err
	}
	if !scan.exists {
		return durable.SyncDir(j.store.dir)
	}
	return nil
}

// Begin durably records that item's apply is about to start: the record is
// written and fsynced before Begin returns. (P2)
func (j *Journal) Begin(item string) error {
	if item == "" || !utf8.ValidString(item) {
		return fmt.Errorf("journal begin: item ID %q is empty or not UTF-8", item)
	}
	return j.submit(record{Kind: kindBegin, Item: item}, true)
}

// End durably records that item's apply finished with outcome ("applied",
// "failed", "interrupted") and resulting state. A nil state means the state is
// not known (a failed or cancelled apply): replay then forgets the item's
// recorded current state, without reporting it unknown. End returns once the
// record is fsynced; records of items finishing together share one fsync. (P1)
func (j *Journal) End(item, outcome string, state json.RawMessage) error {
	return j.EndSynced(item, outcome, state, nil)
}

// EndSynced is End for an apply whose last directory fsyncs were left to
// the record (see durable.DirSyncs): each of dirs is fsynced before the
// record is written, once for all the records written together. (P1)
func (j *Journal) EndSynced(item, outcome string, state json.RawMessage, dirs []string) error {
	if item == "" || !utf8.ValidString(item) || outcome == "" {
		return fmt.Errorf("journal end of %q: a UTF-8 item ID and an outcome are required", item)
	}
	r := record{Kind: kindEnd, Item: item, Outcome: outcome}
	if len(state) > 0 {
		norm, err := normalizeState(state)
		if err != nil {
			return fmt.Errorf("journal end of %q: %w", item, err)
		}
		r.State = norm
	}
	return j.submitAfter(r, true, dirs)
}

// Signal records an interrupt stage ("stop", "cancel"). It returns once the
// record is written, without waiting for an fsync of its own: the next
// Begin, End or Close makes it durable.
func (j *Journal) Signal(stage string) error {
	if stage == "" {
		return errors.New("journal signal: empty stage")
	}
	return j.submit(record{Kind: kindSignal, Stage: stage}, false)
}

// Group records that item's apply started the process group pgid, whose
// leader has the start identity start (see package proc), so that the next
// command can kill what is left of it if this one dies. Call it between
// Begin and End of item, once per group. It returns once the record is
// written, without an fsync: a process that dies leaves the page cache to
// the kernel, and after a power cut no process is left to kill. (P2)
func (j *Journal) Group(item string, pgid int, start string) error {
	if item == "" || !utf8.ValidString(item) || pgid <= 0 {
		return fmt.Errorf("journal group of %q: a UTF-8 item ID and a process group are required", item)
	}
	// It asks for no fsync, so it is written here and now, not queued
	// behind the writer's batches and their fsyncs: the command waits for
	// it before it runs.
	r := record{Kind: kindGroup, Item: item, Pgid: pgid, Start: start}
	r.V, r.Exec, r.Time = FormatVersion, j.exec, time.Now().UTC()
	frame, err := frameRecord(r)
	if err != nil {
		return err
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	j.mu.Lock()
	closing, err := j.closing, j.err
	j.mu.Unlock()
	switch {
	case closing:
		return errJournalClosed
	case err != nil:
		return err
	}
	return j.write(frame)
}

// write appends b, holding wmu. On failure the file is cut back to its
// last whole record and the journal fails.
func (j *Journal) write(b []byte) error {
	if _, err := j.f.Write(b); err != nil {
		// Cut off what was written of it, so the file stays well framed
		// for whoever reads it next.
		j.f.Truncate(j.written)
		return j.fail(fmt.Errorf("append to journal %s: %w", j.path, err))
	}
	j.written += int64(len(b))
	return nil
}

// Close appends the execution-end record with outcome, durably, and stops the
// writer. Later calls to any method return an error; Close itself returns nil.
func (j *Journal) Close(outcome string) error {
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return nil
	}
	j.mu.Lock()
	j.closing = true
	j.mu.Unlock()
	err := j.submit(record{Kind: kindExecEnd, Outcome: outcome}, true)
	j.mu.Lock()
	if j.closed { // a concurrent Close got here first
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	close(j.wake)
	j.mu.Unlock()
	<-j.stopped
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal %s: %w", j.path, cerr)
	}
	j.store.journalClosed(j)
	return err
}

// submit hands a record to the writer and waits until it is written (and
// fsynced if sync).
func (j *Journal) submit(r record, sync bool) error {
	return j.submitAfter(r, sync, nil)
}

// submitAfter is submit for a record written only once dirs are fsynced.
func (j *Journal) submitAfter(r record, sync bool, dirs []string) error {
	r.V, r.Exec, r.Time = FormatVersion, j.exec, time.Now().UTC()
	frame, err := frameRecord(r)
	if err != nil {
		return err
	}
	p := &pending{frame: frame, sync: sync, dirs: dirs, done: make(chan error, 1)}
	j.mu.Lock()
	switch {
	case j.closed:
		j.mu.Unlock()
		return errJournalClosed
	case j.err != nil:
		err := j.err
		j.mu.Unlock()
		return err
	}
	j.queue = append(j.queue, p)
	select {
	case j.wake <- struct{}{}:
	default: // the writer is already due to look at the queue
	}
	j.mu.Unlock()
	return <-p.done
}

// writeLoop is the writer goroutine: it takes everything queued, writes it
// with one write, fsyncs once if any record asks for it, and wakes every
// waiter. Records queued while it writes form the next batch.
func (j *Journal) writeLoop() {
	defer close(j.stopped)
	var buf []byte
	flush := func() {
		j.gather()
		j.mu.Lock()
		batch := j.queue
		j.queue = nil
		j.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		batch, failed := j.syncDirs(batch)
		err := j.commit(batch, &buf)
		for _, p := range batch {
			p.done <- err
		}
		for _, f := range failed {
			f.p.done <- f.err
		}
	}
	for range j.wake {
		flush()
	}
	flush()
}

// gather lets the goroutines that are ready to run go first, as long as
// they keep handing in records: items just finishing or about to start join
// this commit instead of waiting for the next fsync.
func (j *Journal) gather() {
	durable.Gather(func() int {
		j.mu.Lock()
		defer j.mu.Unlock()
		return len(j.queue)
	})
}

// dirFailure is a record not written because a directory it waits for
// could not be fsynced.
type dirFailure struct {
	p   *pending
	err error
}

// syncDirs fsyncs, once each, the directories the batch's records wait
// for, and returns the records that may be written. A record one of whose
// directories failed is not written: its waiter gets the error.
func (j *Journal) syncDirs(batch []*pending) (ok []*pending, failed []dirFailure) {
	var dirs []string
	for _, p := range batch {
		dirs = append(dirs, p.dirs...)
	}
	if len(dirs) == 0 {
		return batch, nil
	}
	bad, err := j.fsyncDirs(dirs)
	if err == nil {
		return batch, nil
	}
	ok = batch[:0:0]
	for _, p := range batch {
		if slices.ContainsFunc(p.dirs, func(d string) bool { return slices.Contains(bad, d) }) {
			failed = append(failed, dirFailure{p, err})
		} else {
			ok = append(ok, p)
		}
	}
	return ok, failed
}

func (j *Journal) commit(batch []*pending, buf *[]byte) error {
	if len(batch) == 0 {
		return nil
	}
	if j.err != nil { // only this goroutine sets it
		return j.err
	}
	b := (*buf)[:0]
	sync := false
	for _, p := range batch {
		b = append(b, p.frame...)
		sync = sync || p.sync
	}
	*buf = b
	j.wmu.Lock()
	err := j.write(b)
	j.wmu.Unlock()
	if err != nil {
		return err
	}
	if sync {
		if err := j.sync(j.f); err != nil {
			return j.fail(fmt.Errorf("sync journal %s: %w", j.path, err))
		}
		j.syncs.Add(1)
	}
	return nil
}

func (j *Journal) fail(err error) error {
	j.mu.Lock()
	j.err = err
	j.mu.Unlock()
	return err
}
