package pipeline

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rollupd/rollup/ckpt"
)

// FuzzRestore fuzzes the checkpoint decoding behind the checksums: one
// section's payload and count of a real checkpoint are replaced by the
// fuzzer's, the file is framed again with valid checksums, and parsing
// and restoring it (onto 1 to 3 shards), then closing every restored
// window, must never panic: a damaged file that passes its checksums is
// refused with an error or restores state the engine can emit.
func FuzzRestore(f *testing.F) {
	cfg := testConfig(f, 2, 10*time.Second, "10s:sum,count,min,max,first,last", "1m:sum,count", "5m:sum")
	cfg.Window.SeriesTTL = time.Minute
	e, err := New(cfg, io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	s := e.NewStream()
	s.ReadFrom(strings.NewReader("cpu,host=a usage=1,idle=2 1700000000000000000\ncpu,host=b usage=3 1700000031000000000\n" +
		"mem,host=a free=7 1700000075000000000\ncpu,host=a usage=4 1700000081000000000\n"))
	var seed bytes.Buffer
	snap := e.Snapshot([]*Partition{s.cur}, nil)
	if _, err := e.WriteCheckpoint(&seed, snap, CheckpointMeta{Epoch: 9, Delivery: ExactlyOnce, TransactionalID: "t"}); err != nil {
		f.Fatal(err)
	}
	e.Stop()
	file, err := ckpt.Parse(seed.Bytes())
	if err != nil {
		f.Fatal(err)
	}
	for i, sec := range file.Sections {
		f.Add(uint8(i), bytes.Clone(sec.Data), sec.Count)
	}
	f.Add(uint8(0), []byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, which uint8, payload []byte, count uint64) {
		var out bytes.Buffer
		w, _ := ckpt.NewWriter(&out, file.Epoch)
		k := int(which) % len(file.Sections)
		for i, sec := range file.Sections {
			data, n := sec.Data, sec.Count
			if i == k {
				data, n = payload, count
			}
			w.Section(sec.Kind, sec.Scope, n, data)
		}
		w.Close()
		c, err := ParseCheckpoint(out.Bytes())
		if err != nil {
			return
		}
		rcfg := cfg
		rcfg.Shards = 1 + int(which)%3
		r, err := New(rcfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		r.Restore(c)
		r.Close()
	})
}
