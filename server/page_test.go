package server_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var screenshot = flag.String("screenshot", "", "write a screenshot of the page mid-run to this PNG file (docs/serve-page.png)")

// browser is the headless browser the page test drives: PEACE_BROWSER,
// else Debian's chromium-headless-shell or chromium.
func browser(t *testing.T) string {
	if p := os.Getenv("PEACE_BROWSER"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "chromium-headless-shell", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no headless browser: install Debian's chromium-headless-shell (apt-get install chromium-headless-shell) or set PEACE_BROWSER")
	return ""
}

// TestPageInBrowser drives the web page in a real headless browser: it
// loads the page with the token, starts an ensure of the quickstart, sees
// nodes turn running then applied, presses stop during the slow items,
// sees the execution interrupted and the item that never started, and
// opens an item's log.
func TestPageInBrowser(t *testing.T) {
	bin := browser(t)
	ts := startServer(t, quickstart(t))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1366, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	status := func(item string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.AttributeValue("#node-"+item, "data-status"))
		if err != nil {
			t.Fatalf("status of %s: %v", item, err)
		}
		return v.Value
	}
	waitStatus := func(item string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := status(item)
			for _, w := range want {
				if got == w {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %q after 30s, want %v", item, got, want)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}

	run("load the page", chromedp.Navigate(ts.srv.URL()), chromedp.WaitVisible("#node-publish"))
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, ts.token) {
		t.Errorf("the token stays in the address bar: %s", loc)
	}
	if got := status("site_dir"); got != "none" {
		t.Errorf("before any run site_dir is %q, want none", got)
	}

	run("start an ensure", chromedp.SetValue("#command", "ensure"), chromedp.Click("#start-btn"))
	waitStatus("site_dir", "running", "applied")
	waitStatus("site_dir", "applied")
	waitStatus("build", "running")
	waitStatus("assets", "running")
	mark, footer, stopLabel, conn := text("#node-build .mark"), text("#footer"), text("#stop-btn"), text("#conn")
	if !strings.Contains(mark, "running") {
		t.Errorf("build's mark %q does not say running", mark)
	}
	if !strings.Contains(footer, "Stop") || !strings.Contains(stopLabel, "finish") {
		t.Errorf("footer %q, stop button %q: they do not say what stop does", footer, stopLabel)
	}
	if conn != "connected" {
		t.Errorf("connection line %q", conn)
	}
	if *screenshot != "" {
		// A moment later, for a picture with the items' messages.
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !strings.Contains(text("#node-build .msg"), "step"); {
			time.Sleep(25 * time.Millisecond)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	run("press stop", chromedp.Click("#stop-btn"))
	// The items in flight finish; publish never starts.
	waitStatus("publish", "not_started")
	waitStatus("build", "applied")
	waitStatus("assets", "applied")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(footer, "interrupted") {
		footer = text("#footer")
		if time.Now().After(deadline) {
			t.Fatalf("footer %q does not say interrupted", footer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	run("see the list", chromedp.WaitVisible(`#executions tbody tr .state.interrupted`))
	pubMark, row := text("#node-publish .mark"), text("#executions tbody tr")
	if !strings.Contains(pubMark, "not started") {
		t.Errorf("publish's mark %q does not say not started", pubMark)
	}
	if !strings.Contains(row, "interrupted") {
		t.Errorf("the list's row %q does not say interrupted", row)
	}

	// An item's log, on click.
	log := ""
	run("open build's log", chromedp.Click("#node-build"), chromedp.WaitVisible("#log-panel"))
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(log, "step 3/3") {
		log = text("#log")
		if time.Now().After(deadline) {
			t.Fatalf("log panel %q does not show build's output", log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A reload picks the execution up again, from the stream.
	run("reload", chromedp.Reload(), chromedp.WaitVisible("#node-publish"))
	waitStatus("publish", "not_started")
	waitStatus("build", "applied")
}
