package benchmarks

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

// ckptEngine returns an engine holding `series` series with open windows in
// every archive of three (1m, 1h, 1d x 6 aggregators): 7 minutes of 10s
// reports, so the 1m archive has closed windows merged into 1h and 1d and
// one or two open 1m windows.
func ckptEngine(b *testing.B, series, shards int) *pipeline.Engine {
	b.Helper()
	var cfg pipeline.Config
	cfg.Shards = shards
	for _, spec := range []string{"1m:sum,count,min,max,first,last", "1h:sum,count,min,max,first,last", "1d:sum,count,min,max,first,last"} {
		a, _ := window.ParseArchive(spec)
		cfg.Window.Archives = append(cfg.Window.Archives, a)
	}
	cfg.Window.Lateness = 10 * time.Second
	cfg.Encoder, _ = emit.NewEncoder("jsonl", emit.Options{})
	g := gen.NewTelegraf(gen.Config{Hosts: 1, Seed: 1})
	hosts := series / g.SeriesPerHost()
	g = gen.NewTelegraf(gen.Config{Hosts: hosts, Start: time.Unix(1700000000, 0), Seed: 1})
	e, err := pipeline.New(cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	s := e.NewStream()
	var buf []byte
	for range 42 {
		buf = g.AppendInterval(buf[:0])
		s.Feed(buf, true)
		s.Flush()
		g.Advance()
	}
	e.Sync()
	return e
}

// BenchmarkCheckpoint measures, per checkpoint of an engine of 1M series
// with 3 archives: the ingestion pause (every shard copies its state, in
// parallel), the file's size against the in-memory state, the time to
// write it (to memory) and the restore (verify every checksum, rebuild
// tables and windows) onto the same and another shard count.
func BenchmarkCheckpoint(b *testing.B) {
	const series = 1_000_000
	shards := runtime.GOMAXPROCS(0)
	e := ckptEngine(b, series, shards)
	defer e.Stop()
	tb, wb, kb := e.MemoryBytes()
	state := tb + wb + kb
	var file bytes.Buffer
	b.Run(fmt.Sprintf("op=pause/series=1M/shards=%d", shards), func(b *testing.B) {
		for b.Loop() {
			snap := e.Snapshot(nil, nil)
			e.Release(snap)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/checkpoint")
	})
	b.Run("op=write/series=1M", func(b *testing.B) {
		snap := e.Snapshot(nil, nil)
		defer e.Release(snap)
		for b.Loop() {
			file.Reset()
			if _, err := e.WriteCheckpoint(&file, snap, pipeline.CheckpointMeta{Epoch: 1, Delivery: pipeline.AtLeastOnce}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(file.Len()), "file-bytes")
		b.ReportMetric(float64(state), "state-bytes")
		b.ReportMetric(float64(file.Len())/float64(state), "file/state")
		b.ReportMetric(float64(snap.Series()), "series")
	})
	for _, to := range []int{shards, 2 * shards} {
		b.Run(fmt.Sprintf("op=restore/series=1M/shards=%d-%d", shards, to), func(b *testing.B) {
			cfg := *e.Config()
			cfg.Shards = to
			for b.Loop() {
				ck, err := pipeline.ParseCheckpoint(file.Bytes())
				if err != nil {
					b.Fatal(err)
				}
				r, err := pipeline.New(cfg, io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Restore(ck); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if c := r.Counters(); c.Series == 0 {
					b.Fatal("nothing restored")
				}
				r.Stop()
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/restore")
		})
	}
}
