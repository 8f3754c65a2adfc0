// Command download is peace with one item type more: checksum_file, written
// in Go next to it (package checksum). It has the whole peace command line —
// status, goal, diff, ensure, clean, executions, logs, every flag, exit code,
// view and interrupt stage — and its flow files may use checksum_file
// alongside the built-in types. The flow.yaml beside it keeps a directory
// equal to the content of a remote .tar.gz, with a SHA256SUMS of what it
// holds:
//
//	download -f flow.yaml ensure   fetch, extract and list, as needed
//	download -f flow.yaml status   what is there now
//	download -f flow.yaml diff     what ensure would change
//	download -f flow.yaml clean    remove what ensure made
package main
