package server

import (
	"embed"
	"io/fs"
	"net/http"
	"path/filepath"
)

// The web page: plain HTML, CSS and JavaScript, served from the binary.
//
//go:embed page/index.html page/app.js page/style.css
var pageFiles embed.FS

// csp lets the page load only its own files and talk only to this server.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func pageHandler() http.Handler {
	sub, err := fs.Sub(pageFiles, "page")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: the page is only read", r.Method, r.URL.Path))
			return
		}
		switch r.URL.Path {
		case "/", "/index.html", "/app.js", "/style.css":
		default:
			writeError(w, errorf(http.StatusNotFound, "not_found", "no page %s", r.URL.Path))
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func absPath(p string) (string, error) { return filepath.Abs(p) }
