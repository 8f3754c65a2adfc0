//go:build !unix

package state

import (
	"errors"
	"fmt"
)

var errNotEmpty = errors.New("directory not empty")

// ListenControl needs FIFOs, which this system lacks.
func ListenControl(dir, id string) (<-chan ControlStage, func() error, error) {
	return nil, nil, fmt.Errorf("control channel of execution %s: %w", id, errors.ErrUnsupported)
}

// SendControl needs FIFOs, which this system lacks.
func SendControl(dir, id string, stage ControlStage) error {
	return fmt.Errorf("interrupt execution %s: %w", id, errors.ErrUnsupported)
}
