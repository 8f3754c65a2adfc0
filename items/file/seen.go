package file

import "time"

// Seen is a file's metadata at the moment its content was read: enough to
// tell, with one stat, that it has not been written since. It follows the
// rule git uses for its index, with the racy case closed (see unchanged).
// The zero Seen vouches for nothing: the file is read again.
type Seen struct {
	Size  int64  `json:"size" yaml:"size"`
	Mtime int64  `json:"mtime_ns" yaml:"mtime_ns"` // modification time, ns since the epoch
	Ctime int64  `json:"ctime_ns" yaml:"ctime_ns"` // status change time, ns since the epoch
	Ino   uint64 `json:"ino" yaml:"ino"`
	Dev   uint64 `json:"dev" yaml:"dev"`
	Mode  uint32 `json:"mode" yaml:"mode"` // the raw st_mode: type and permissions
	// At is when peace looked, ns since the epoch, taken before the stat.
	At int64 `json:"at_ns" yaml:"at_ns"`
}

// now is the clock At is read from; tests set it.
var now = func() int64 { return time.Now().UnixNano() }

// The racy windows. A write to a file stamps its ctime (and mtime) from
// the kernel's coarse clock, which lags the clock At is read from by up to
// one tick (10 ms at the lowest HZ), truncated to the filesystem's
// granularity. A file whose times are older than At by more than that was
// last written in an earlier tick than the stat: any later write stamps a
// later ctime, which the next stat sees. A time with no digits below the
// millisecond may come from a filesystem with coarse granularity (1 s, or
// FAT's 2 s), so it gets the long window.
const (
	racyWindow       = 50 * time.Millisecond
	coarseRacyWindow = 3 * time.Second
)

// settled reports whether the file's times were old enough when it was
// looked at that a later write cannot leave them as they were (see the
// racy windows). A file written in the same tick as the look, or too close
// to it to tell, is not settled, and is read again the next time.
func (s Seen) settled() bool {
	if s.At == 0 {
		return false
	}
	window := int64(racyWindow)
	if s.Ctime%int64(time.Millisecond) == 0 || s.Mtime%int64(time.Millisecond) == 0 {
		window = int64(coarseRacyWindow)
	}
	return s.Ctime < s.At-window && s.Mtime < s.At-window
}

// sameFile reports whether two looks at a file found the same metadata.
func (s Seen) sameFile(o Seen) bool {
	return s.At != 0 && o.At != 0 && s.Size == o.Size && s.Mtime == o.Mtime && s.Ctime == o.Ctime &&
		s.Ino == o.Ino && s.Dev == o.Dev && s.Mode == o.Mode
}

// unchanged reports whether the file, whose metadata are now cur, holds
// what was read when s was recorded: the same metadata, and s settled.
func (s Seen) unchanged(cur Seen) bool {
	return s.settled() && s.sameFile(cur)
}
