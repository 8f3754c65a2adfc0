//go:build unix

package state

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// errNotEmpty is what rename(2) says when the target is a directory that is
// not empty.
var errNotEmpty error = syscall.ENOTEMPTY

// ListenControl listens on the control channel of execution id under the
// state directory dir, creating the FIFO if needed, and returns the stages
// as they arrive (lines other than stop, cancel and kill are ignored) and a
// function that stops listening: it closes the channel and removes the
// FIFO, after which SendControl reports *NotListeningError. Only the process
// that runs the execution listens; a second listener is refused.
func ListenControl(dir, id string) (<-chan ControlStage, func() error, error) {
	if !ValidExecutionID(id) {
		return nil, nil, &UnknownExecutionError{ID: id, Dir: dir}
	}
	rd := recordDir(dir, id)
	if _, err := os.Stat(filepath.Join(rd, executionFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &UnknownExecutionError{ID: id, Dir: dir}
		}
		return nil, nil, err
	}
	path := filepath.Join(rd, controlFile)
	if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, nil, fmt.Errorf("control channel of execution %s: %w", id, err)
	}
	if fi, err := os.Lstat(path); err != nil {
		return nil, nil, fmt.Errorf("control channel of execution %s: %w", id, err)
	} else if fi.Mode()&fs.ModeNamedPipe == 0 {
		return nil, nil, fmt.Errorf("control channel of execution %s: %s is not a FIFO", id, path)
	}
	// A writer's open succeeds only while a reader has the FIFO open.
	if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("control channel of execution %s: another process listens on it", id)
	}
	// Read and write: the FIFO never reports end of file to us, and the
	// open does not wait for a writer. os.File polls a FIFO, so Close
	// ends a pending Read.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control channel of execution %s: %w", id, err)
	}
	stages := make(chan ControlStage, 8)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stages)
		in := bufio.NewReader(f)
		for {
			line, err := in.ReadString('\n')
			if err != nil {
				return // closed
			}
			stage := ControlStage(strings.TrimSpace(line))
			if !stage.Valid() {
				continue
			}
			select {
			case stages <- stage:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			close(done)
			// Remove first: a sender that opens after this gets ENOENT,
			// one that opened before wrote to a pipe no one will read.
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				stopErr = err
			}
			if err := f.Close(); err != nil && stopErr == nil {
				stopErr = err
			}
			wg.Wait()
		})
		return stopErr
	}
	return stages, stop, nil
}

// SendControl delivers stage to the process running execution id under the
// state directory dir, as one line on its control channel. It returns nil
// once the line is in the channel of a listening process, a
// *NotListeningError when no process listens (see there), and a
// *UnknownExecutionError when there is no such record. Whether a stage
// makes sense (a finished execution, a kill before a cancel) is the
// caller's business.
func SendControl(dir, id string, stage ControlStage) error {
	if !stage.Valid() {
		return fmt.Errorf("interrupt execution %s: unknown stage %q", id, stage)
	}
	if !ValidExecutionID(id) {
		return &UnknownExecutionError{ID: id, Dir: dir}
	}
	rd := recordDir(dir, id)
	if _, err := os.Stat(filepath.Join(rd, executionFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &UnknownExecutionError{ID: id, Dir: dir}
		}
		return err
	}
	path := filepath.Join(rd, controlFile)
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENOENT) {
		return &NotListeningError{ID: id}
	}
	if err != nil {
		return fmt.Errorf("interrupt execution %s: open %s: %w", id, path, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("interrupt execution %s: %w", id, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return fmt.Errorf("interrupt execution %s: %s is not a FIFO", id, path)
	}
	line := []byte(string(stage) + "\n")
	for {
		n, err := syscall.Write(fd, line)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EPIPE) {
			return &NotListeningError{ID: id}
		}
		if err != nil {
			return fmt.Errorf("interrupt execution %s: write %s: %w", id, path, err)
		}
		if n != len(line) {
			return fmt.Errorf("interrupt execution %s: short write to %s", id, path)
		}
		return nil
	}
}
