package benchmarks

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

// interval is one interval of traffic for a set of hosts, with the offsets
// of its timestamps so the next interval can be made by rewriting them in
// place (same width: 19 digits) instead of holding many intervals in memory.
type interval struct {
	buf    []byte
	tsOffs []int
	points int
}

func newInterval(hosts []int, g *gen.Telegraf) *interval {
	iv := &interval{}
	for _, h := range hosts {
		iv.buf = g.AppendHost(iv.buf, h)
	}
	for i := 0; i < len(iv.buf); {
		nl := bytes.IndexByte(iv.buf[i:], '\n') + i
		iv.tsOffs = append(iv.tsOffs, nl-19)
		i = nl + 1
	}
	iv.points = len(hosts) * g.SeriesPerHost()
	return iv
}

func (iv *interval) setTime(ns int64) {
	var d [19]byte
	strconv.AppendInt(d[:0], ns, 10)
	for _, off := range iv.tsOffs {
		copy(iv.buf[off:off+19], d[:])
	}
}

var sizes = []struct {
	name   string
	series int
}{{"100k", 100_000}, {"1M", 1_000_000}}

// BenchmarkParseAggregate measures the whole per-point path: decode, build
// and hash the series key, route to a shard, find the series, fold the
// point into its 1m window; 1h and 1d windows are merged from closed 1m
// windows. One op is one 10s interval of every host; the input clock moves
// 10s per op, so a 1m window closes (and is encoded) every 6 ops.
//
// output=none counts the rollups of closed windows without encoding them,
// so the number is the engine's own; output=jsonl adds encoding, whose cost
// depends on how many rollups a point produces (here one: six points per
// series per minute, six aggregators), output=opentsdb likewise in the
// default output format of run (without Kafka); output=metrictank encodes them as
// the Kafka output would (each rollup series announced once, then 28-byte
// points in MetricPointArray records) and drops the records; output=kafka-jsonl
// builds the Kafka output's jsonl records (64 KiB each, per partition) and
// drops them: run's work without the Kafka client's.
func BenchmarkParseAggregate(b *testing.B) {
	for _, out := range []string{"none", "jsonl", "opentsdb", "metrictank", "kafka-jsonl", "influx", "carbon"} {
		for _, sz := range sizes {
			for _, procs := range []int{1, 2} {
				b.Run(fmt.Sprintf("output=%s/series=%s/procs=%d", out, sz.name, procs), func(b *testing.B) {
					benchParseAggregate(b, sz.series, procs, out, false)
				})
			}
		}
	}
}

// BenchmarkParseAggregateByTags is BenchmarkParseAggregate with series
// routed to shards by tag set (pipeline.Config.RouteByTags).
func BenchmarkParseAggregateByTags(b *testing.B) {
	for _, out := range []string{"none", "jsonl"} {
		for _, procs := range []int{1, 2} {
			b.Run(fmt.Sprintf("output=%s/series=100k/procs=%d", out, procs), func(b *testing.B) {
				benchParseAggregate(b, 100_000, procs, out, true)
			})
		}
	}
}

// nullEncoder accepts every rollup and writes nothing.
type nullEncoder struct{}

func (nullEncoder) Framing() emit.Framing { return emit.Framing{} }

func (nullEncoder) Append(dst []byte, _ *emit.Rollup) ([]byte, emit.DropReason) {
	return dst, emit.DropNone
}

func (nullEncoder) AppendWindow(dst []byte, w *emit.Window, _ []byte, _ []uint64) ([]byte, int) {
	return dst, len(w.Values)
}

func benchParseAggregate(b *testing.B, series, procs int, output string, byTags bool) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	g := gen.NewTelegraf(gen.Config{Hosts: (series + 89) / 90, Seed: 1})
	hostsPer := make([][]int, procs)
	for h := 0; h < (series+89)/90; h++ {
		hostsPer[h%procs] = append(hostsPer[h%procs], h)
	}
	ivs := make([]*interval, procs)
	points := 0
	for i := range ivs {
		ivs[i] = newInterval(hostsPer[i], g)
		points += ivs[i].points
	}
	var cfg pipeline.Config
	for _, a := range []string{"1m:sum,count,min,max,first,last", "1h:sum,count,min,max,first,last", "1d:sum,count,min,max,first,last"} {
		ar, err := window.ParseArchive(a)
		if err != nil {
			b.Fatal(err)
		}
		cfg.Window.Archives = append(cfg.Window.Archives, ar)
	}
	var enc emit.Encoder = nullEncoder{}
	if output != "none" && output != "metrictank" && output != "kafka-jsonl" {
		enc, _ = emit.NewEncoder(output, emit.Options{})
	}
	cfg.Encoder, cfg.Shards, cfg.RouteByTags = enc, procs, byTags
	start := gen.DefaultStart
	cfg.Now = func() time.Time { return start.Add(24 * time.Hour) }
	var e *pipeline.Engine
	var err error
	var announced atomic.Int64 // metrictank MetricData records
	if output == "metrictank" || output == "kafka-jsonl" {
		// The metrictank format is the Kafka output's own (MetricData,
		// then MetricPointArray records per partition); its records,
		// and kafka-jsonl's, are dropped here instead of produced.
		var o *emit.KafkaOutput
		o, err = emit.NewKafkaOutput(emit.KafkaConfig{Format: strings.TrimPrefix(output, "kafka-"), Topics: []string{"r1m", "r1h", "r1d"}, Partitions: 8,
			Deliver: func(_ string, _ int32, v []byte) {
				if v[0] != emit.MetricPointArray {
					announced.Add(1)
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		e, err = pipeline.NewWithOutput(cfg, pipeline.KafkaOutput(o))
	} else {
		e, err = pipeline.New(cfg, io.Discard)
	}
	if err != nil {
		b.Fatal(err)
	}
	streams := make([]*pipeline.Stream, procs)
	for i := range streams {
		streams[i] = e.NewStream()
	}
	step := int64(10 * time.Second)
	ts := start.UnixNano()
	feed := func() {
		var wg sync.WaitGroup
		for i, s := range streams {
			ivs[i].setTime(ts)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Feed(ivs[i].buf, true)
				s.Flush()
			}()
		}
		wg.Wait()
		ts += step
	}
	// Insert every series and close its first window before timing:
	// the steady state, in which the metrictank output has announced
	// every series (a MetricData each, as it does again hourly).
	for e.Counters().Rollups == 0 {
		feed()
		e.Sync()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.SetBytes(int64(len(ivs[0].buf)) * int64(procs))
	b.ResetTimer()
	for range b.N {
		feed()
	}
	e.Sync()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	n := float64(points) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/point")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/point")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/point")
	table, windows, keys := e.MemoryBytes()
	b.ReportMetric(float64(table+windows-keys)/float64(g.Series()), "state-B/series")
	b.ReportMetric(float64(keys)/float64(g.Series()), "key-B/series")
	b.ReportMetric(float64(e.Counters().Rollups)/n, "rollups/point")
	if output == "metrictank" {
		b.ReportMetric(float64(announced.Load())/float64(e.Counters().Rollups), "announced/rollup")
	}
	e.Close()
}

// cpuTime returns the user+system CPU time of the process so far, so a
// benchmark can report CPU per point beside wall time per point: their
// ratio shows how busy the cores were.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParse measures decoding alone on the same data: every field
// value and timestamp visited.
func BenchmarkParse(b *testing.B) {
	g := gen.NewTelegraf(gen.Config{Hosts: 1000, Seed: 1})
	buf := g.AppendInterval(nil)
	var d fastparse.InfluxDecoder
	points := 0
	d.Reset(buf, 0, fastparse.Nanosecond)
	for d.Next() {
		points += len(d.Fields())
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for range b.N {
		d.Reset(buf, 0, fastparse.Nanosecond)
		for d.Next() {
			for _, f := range d.Fields() {
				v, _ := f.Number()
				sink += v
			}
			sink += float64(d.Time())
		}
	}
	n := float64(points) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/point")
	_ = sink
}
