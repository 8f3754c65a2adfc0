package filedownload_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/filedownload"
	"github.com/peace-go/peace/progress"
)

// A file_download item built in Go: the first ensure downloads, the second
// finds the remote unchanged from a HEAD alone.
func ExampleNew() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("hello\n"))
	}))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	it, err := filedownload.New("greeting", filedownload.Params{URL: srv.URL + "/greeting.txt", Dest: "greeting.txt"}, items.Env{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	ensure := func(stored items.State) items.State {
		fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker, Stored: stored}
		current, _ := it.Current(ctx, fc)
		goal, _ := it.Goal(ctx, fc)
		diff, _ := it.Diff(current, goal)
		check, _ := it.ApplyCheck(ctx, fc, current, goal)
		fmt.Printf("diff: %q, apply needed: %v\n", diff.Text, check.Required)
		if !check.Required {
			return stored
		}
		applied, _ := it.Apply(ctx, fc, current, goal)
		s := applied.(filedownload.State)
		fmt.Printf("applied: %d bytes, sha256 %.12s…, etag %s\n", s.Size, s.SHA256, s.ETag)
		return applied
	}
	// The applied state is what peace records; the next run reads it back.
	recorded := ensure(nil)
	ensure(recorded)
	// Output:
	// diff: "absent → 6 B (etag \"v1\")", apply needed: true
	// applied: 6 bytes, sha256 5891b5b522d5…, etag "v1"
	// diff: "", apply needed: false
}
