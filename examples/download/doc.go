// Command download keeps a directory equal to the content of a remote
// .tar.gz, with a SHA256SUMS of what it holds. It is a program of its own
// built on the peace library: its flow is made in Go from three items (the
// built-in file_download and tar_x, and checksum_file written next to it),
// and its commands are blocks of peace run through a CmdCtx.
//
//	download init URL DEST   remember what to fetch and where to put it
//	download status          what is there now
//	download goal            what ensure would bring it to
//	download diff            what ensure would change
//	download ensure          fetch, extract and list, as needed
//	download clean           remove what ensure made
package main
