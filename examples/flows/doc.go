// Package flows holds example flow files, one directory each, and the test
// that runs them through the peace command line against local servers.
package flows
