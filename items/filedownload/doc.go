// Package filedownload owns the file_download item type: a local file kept
// equal to a remote HTTP resource. Discovery asks the server for its
// validators (ETag, Last-Modified) with a HEAD; apply fetches with a
// conditional GET, so an unchanged remote transfers no body, and a download
// never leaves a partial file at dest. A request fails as stalled when too
// few bytes arrive within a window (a server that drips a byte now and then
// never goes idle, yet never finishes), and the timeout param bounds a
// download as a whole.
package filedownload
