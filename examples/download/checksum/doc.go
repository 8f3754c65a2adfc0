// Package checksum owns checksum_file, an item type written in Go outside
// peace: a SHA256SUMS file listing the digest of every file under a
// directory, kept up to date as the directory changes. It shows what an item
// author writes: params, a State type, and the functions of
// items.TypedItem.
package checksum
