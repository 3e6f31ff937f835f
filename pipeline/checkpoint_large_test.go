package pipeline

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/rollupd/rollup/benchmarks/gen"
)

// lineHash is an io.Writer that keeps an order-independent digest of the
// lines written to it: their count and the sum of their hashes.
type lineHash struct {
	mu    sync.Mutex
	n     int
	sum   uint64
	carry []byte
}

func (h *lineHash) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := append(h.carry, p...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		h.n++
		h.sum += xxhash.Sum64(b[:i])
		b = b[i+1:]
	}
	h.carry = append(h.carry[:0], b...)
	return len(p), nil
}

// A million series with open windows in three archives survive a
// checkpoint onto another shard count: closing every window of the
// restored engine emits exactly what closing the original's does.
func TestCheckpointRoundTripMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million series: not in -short")
	}
	g := gen.NewTelegraf(gen.Config{Hosts: 11112, Start: time.Unix(1700000000, 0), Seed: 2})
	cfg := testConfig(t, 2, 10*time.Second, "1m:sum,count,min,max,first,last", "1h:sum,count,min,max,first,last", "1d:sum,count")
	var orig lineHash
	e, err := New(cfg, &orig)
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewStream()
	var buf []byte
	for range 9 { // 90 s: a closed 1m window merged into 1h and 1d, an open one
		buf = g.AppendInterval(buf[:0])
		s.Feed(buf, true)
		s.Flush()
		g.Advance()
	}
	var file bytes.Buffer
	snap := e.Snapshot([]*Partition{s.cur}, nil)
	if snap.Series() < 1_000_000 {
		t.Fatalf("%d series", snap.Series())
	}
	if _, err := e.WriteCheckpoint(&file, snap, CheckpointMeta{Epoch: 1, Delivery: AtLeastOnce}); err != nil {
		t.Fatal(err)
	}
	c, err := ParseCheckpoint(file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// Every rollup before the cut is written by now (shards flush their
	// output at the snapshot); what Close adds is the state's.
	orig.mu.Lock()
	nCut, sumCut := orig.n, orig.sum
	orig.mu.Unlock()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Shards = 3
	var restored lineHash
	r, err := New(cfg, &restored)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(c); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if restored.n != orig.n-nCut || restored.sum != orig.sum-sumCut {
		t.Fatalf("restored engine emitted %d rollups (digest %x), the original %d (%x) after the checkpoint",
			restored.n, restored.sum, orig.n-nCut, orig.sum-sumCut)
	}
	if restored.n < 2_000_000 {
		t.Fatalf("only %d rollups from the restored state", restored.n)
	}
}
