package cmd

import (
	"io"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/result"
)

// printer is the result renderer on stdout, in the format asked for.
func (g *GlobalOptions) printer() *result.Printer {
	return result.New(g.IO.Out, result.Options{Format: g.Format, Color: g.color(g.IO.OutTTY)})
}

func writeJSON(w io.Writer, v any) { result.WriteJSON(w, v) }

// writeJSONEvents writes a fatal error as the json view would: a version
// record, then an error event.
func writeJSONEvents(w io.Writer, msg string, code int) {
	v := progress.NewJSON(w)
	progress.NewEmitter(v).Emit(progress.Event{Type: progress.Fatal, Message: msg, Code: code})
	_ = v.Close()
}
