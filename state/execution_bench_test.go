package state

import (
	"fmt"
	"testing"
)

// BenchmarkCreateExecution measures making a record durable: what stands
// between asking for an execution and showing its ID.
func BenchmarkCreateExecution(b *testing.B) {
	dir := newExecDir(b)
	e := sampleExecution()
	for b.Loop() {
		r, err := CreateExecution(dir, e)
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkAppendEvent measures one event line of the json view appended
// to events.jsonl.
func BenchmarkAppendEvent(b *testing.B) {
	r, err := CreateExecution(newExecDir(b), sampleExecution())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var line []byte
	seq := 0
	for b.Loop() {
		seq++
		line = fmt.Appendf(line[:0], `{"seq":%d,"time":"2026-01-02T03:04:05.123456789Z","type":"item_progress","execution":"20260102-030405-3f9a2c","item":"download","done":%d,"total":1048576}`, seq, seq*64)
		if err := r.AppendEvent(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendControl measures an interrupt by execution ID, from the
// sender's open of the control FIFO to the listener's receiving the stage.
func BenchmarkSendControl(b *testing.B) {
	dir := newExecDir(b)
	r, err := CreateExecution(dir, sampleExecution())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	stages, stop, err := ListenControl(dir, r.ID())
	if err != nil {
		b.Skip(err)
	}
	defer stop()
	for b.Loop() {
		if err := SendControl(dir, r.ID(), ControlStop); err != nil {
			b.Fatal(err)
		}
		<-stages
	}
}
