package progress

import (
	"io"
	"time"
)

// NewJSONAt is NewJSON on a clock tests pin.
func NewJSONAt(w io.Writer, now func() time.Time) View { return newJSON(w, now) }
