package tarx

import (
	"bytes"
	"os"
)

// holeBlock is the unit in which runs of zeros are left as holes: a file
// system block on most systems.
const holeBlock = 4096

var zeroBlock [holeBlock]byte

// sparseWriter writes a new, empty file front to back, skipping every
// block-aligned run of zeros instead of writing it, so that it stays a hole.
// archive/tar reads a sparse entry's holes back as zeros and does not say
// where they are; finding the zeros again keeps a 10 GiB sparse entry from
// taking 10 GiB of disk (as cp --sparse=auto and GNU tar do). Close sets the
// size, which a trailing hole does not.
type sparseWriter struct {
	f   *os.File
	off int64 // bytes written or skipped so far
}

func (s *sparseWriter) Write(p []byte) (int, error) {
	n := len(p)
	run := 0 // p[run:] is not written yet
	flush := func(end int) error {
		if end > run {
			if _, err := s.f.WriteAt(p[run:end], s.off+int64(run)); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < n; {
		// The rest of the block holding offset s.off+i, within p.
		j := min(n, i+holeBlock-int((s.off+int64(i))%holeBlock))
		if bytes.Equal(p[i:j], zeroBlock[:j-i]) {
			if err := flush(i); err != nil {
				return 0, err
			}
			run = j
		}
		i = j
	}
	if err := flush(n); err != nil {
		return 0, err
	}
	s.off += int64(n)
	return n, nil
}

// finish gives the file its whole size, a trailing hole included.
func (s *sparseWriter) finish() error {
	return s.f.Truncate(s.off)
}
