// Package cmdexecution owns the CmdExecution: an ordered list of CmdBlocks
// run one after another over shared data, and the CmdOutcome that combines
// what became of them. It neither locks nor records state (cmdctx does).
package cmdexecution
