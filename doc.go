// Command peace runs a flow of items — files, directories, commands,
// downloads, archives — to their goal state (ensure) or clean state (clean),
// and is always safe to stop. The program is cmd.Main; this package only
// exits with its code.
package main
