package peers

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
)

// step is the aggregation interval of every peer: one 1m archive.
const step = time.Minute

// blockSize is how much input each peer parses at a time. vmagent's stream
// parser reads 64 KiB blocks cut at a line end; Telegraf's listeners parse
// a request body at a time. Every peer but rollup (which reads the bytes
// through its own Stream.ReadFrom) gets the same blocks.
const blockSize = 64 << 10

// input is the generated line protocol, built once per process.
type input struct {
	buf       []byte
	hosts     int
	intervals int
	series    int // distinct series (measurement_field + tags)
	points    int // field values: series * intervals
	windows   int // distinct 1m windows the timestamps fall in
}

// outputs is the number of rollups every peer must produce: one per
// series, window and aggregator (sum, count, min, max, last).
func (in *input) outputs() int { return in.series * in.windows * len(aggNames) }

// aggNames names the five aggregates in rollup's words; the peers'
// names for them are in their files.
var aggNames = []string{"sum", "count", "min", "max", "last"}

func newInput(hosts, intervals int) *input {
	g := gen.NewTelegraf(gen.Config{Hosts: hosts, Seed: 1})
	in := &input{hosts: hosts, intervals: intervals, series: g.Series()}
	seen := map[int64]bool{}
	for range intervals {
		seen[windowStart(g.Time().UnixNano())] = true
		in.buf = g.AppendInterval(in.buf)
	}
	in.points = in.series * intervals
	in.windows = len(seen)
	return in
}

// windowStart is the start (Unix ns) of the 1m window of ts, aligned to
// the epoch as all three peers align it. Timestamps here are positive.
func windowStart(ts int64) int64 { return ts - ts%int64(step) }

var (
	benchOnce  sync.Once
	benchInput *input
)

// benchmarkInput is the default 1112 hosts (100,080 series) by 60
// intervals of 10s, or PEERS_HOSTS by PEERS_INTERVALS.
func benchmarkInput(tb testing.TB) *input {
	benchOnce.Do(func() {
		benchInput = newInput(envInt(tb, "PEERS_HOSTS", 1112), envInt(tb, "PEERS_INTERVALS", 60))
	})
	return benchInput
}

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// forEachBlock calls f with consecutive blocks of buf of about size bytes,
// each ending at a line end (a line longer than size is a block of its
// own).
func forEachBlock(buf []byte, size int, f func(block []byte)) {
	for len(buf) > 0 {
		n := len(buf)
		if n > size {
			if i := bytes.LastIndexByte(buf[:size], '\n'); i >= 0 {
				n = i + 1
			} else if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				n = i + 1
			}
		}
		f(buf[:n])
		buf = buf[n:]
	}
}

// recorder receives every rollup a peer produces in the agreement test;
// the benchmarks pass nil and only count. series is the metric name
// followed by the tags sorted by key, ",k=v" each; window is the window
// start in Unix seconds.
type recorder func(window int64, agg, series string, v float64)
