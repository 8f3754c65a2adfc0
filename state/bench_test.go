package state

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

var benchState = json.RawMessage(`{"path":"out/file_00001.txt","sha256":"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03","size":6,"mode":420}`)

// BenchmarkJournalEnd measures durable per-item recording: each End returns
// once its record is fsynced. Sequential, every record pays an fsync; with
// concurrent writers, records finishing together share one (group commit).
func BenchmarkJournalEnd(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		name := "sequential"
		if writers > 1 {
			name = fmt.Sprintf("concurrent%d", writers)
		}
		b.Run(name, func(b *testing.B) {
			s := newStore(b)
			j, err := s.OpenJournal("bench", "peace ensure")
			if err != nil {
				b.Fatal(err)
			}
			items := make([]string, 1024)
			for i := range items {
				items[i] = fmt.Sprintf("item_%04d", i)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if err := j.End(items[i%1024], "applied", benchState); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
			b.ReportMetric(float64(j.syncs.Load())/float64(b.N), "fsyncs/record")
			if err := j.Close("complete"); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func benchStates(n int) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, n)
	for i := range n {
		m[fmt.Sprintf("item_%05d", i)] = json.RawMessage(fmt.Sprintf(
			`{"path":"out/file_%05d.txt","sha256":"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03","size":%d}`, i, i))
	}
	return m
}

// BenchmarkFold folds 10,000 new current states into a store that already
// holds 10,000: read both snapshots, merge, write both atomically.
func BenchmarkFold(b *testing.B) {
	s := newStore(b)
	current := benchStates(10000)
	if err := s.Fold(current, current); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.Fold(current, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSnapshot is the encoding part of a fold: 10,000 states.
func BenchmarkEncodeSnapshot(b *testing.B) {
	current := benchStates(10000)
	var size int
	for b.Loop() {
		size = len(encodeSnapshot(current, nil, nil, foldMark{}))
	}
	b.SetBytes(int64(size))
}

// BenchmarkDecodeSnapshot is the reading part of Load: 10,000 states.
func BenchmarkDecodeSnapshot(b *testing.B) {
	data := encodeSnapshot(benchStates(10000), nil, nil, foldMark{})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decodeSnapshot(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay reads and replays a journal of 10,000 applied items.
func BenchmarkReplay(b *testing.B) {
	var data []byte
	for i := range 10000 {
		item := fmt.Sprintf("item_%05d", i)
		for _, r := range []record{
			{V: FormatVersion, Kind: kindBegin, Exec: "e", Item: item},
			{V: FormatVersion, Kind: kindEnd, Exec: "e", Item: item, Outcome: "applied", State: benchState},
		} {
			frame, err := frameRecord(r)
			if err != nil {
				b.Fatal(err)
			}
			data = append(data, frame...)
		}
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseJournal(data); err != nil {
			b.Fatal(err)
		}
	}
}
