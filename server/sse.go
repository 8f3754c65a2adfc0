package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/progress"
)

// heartbeat is how often an idle event stream sends a comment, so proxies
// and browsers keep it open.
const heartbeat = 15 * time.Second

// events streams an execution's events as server-sent events: each event's
// id is its seq, a Last-Event-ID (or ?from=SEQ) resumes, every event is
// flushed as it comes, and the stream ends after the last event with an
// "end" event carrying the execution as it ended.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	from := int64(1)
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, fieldError("from", "%q: want a seq, a whole number", v))
			return
		}
		from = n
	}
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, fieldError("Last-Event-ID", "%q: want a seq, a whole number", v))
			return
		}
		from = n + 1
	}
	_, p, x, err := s.lookup(id)
	if err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	sw := &sseWriter{w: w, rc: rc}
	_ = sw.comment("execution " + id)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if sw.comment("keep-alive") != nil {
					cancel()
					return
				}
			}
		}
	})
	send := func(ev progress.Event) error { return sw.event(ev) }
	var final *cmdctx.Execution
	if x != nil && x.mem != nil {
		final, err = x.mem.follow(ctx, from, send)
	} else {
		final, err = p.cc.Follow(ctx, id, from, send)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Logf("events of %s: %v", id, err)
		}
		return
	}
	_ = sw.end(final)
}

// sseWriter writes server-sent events, one whole event per flush, from
// more than one goroutine.
type sseWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (sw *sseWriter) write(s string) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if _, err := fmt.Fprint(sw.w, s); err != nil {
		return err
	}
	return sw.rc.Flush()
}

func (sw *sseWriter) comment(s string) error { return sw.write(": " + s + "\n\n") }

func (sw *sseWriter) event(ev progress.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return sw.write(fmt.Sprintf("id: %d\ndata: %s\n\n", ev.Seq, b))
}

func (sw *sseWriter) end(e *cmdctx.Execution) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return sw.write(fmt.Sprintf("event: end\ndata: %s\n\n", b))
}
