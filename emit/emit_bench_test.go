package emit

import (
	"fmt"
	"testing"
)

// BenchmarkAppend encodes a batch of typical rollups (ASCII names, a few
// tags, integral and fractional values) into a reused buffer, the way the
// flush loop does.
func BenchmarkAppend(b *testing.B) {
	rs := []Rollup{
		base(),
		with(func(r *Rollup) { r.Aggregator, r.Value = "count", 60 }),
		with(func(r *Rollup) { r.Aggregator, r.Value = "min", 0.0123 }),
		with(func(r *Rollup) {
			r.Metric = []byte("net.bytes_recv")
			r.Tags = tags("dc", "lga", "host", "web-0123.example.com", "interface", "eth0", "region", "us-east-1")
			r.Aggregator, r.Value = "max", 18446744073709551615
		}),
	}
	for _, format := range []string{"jsonl", "opentsdb", "influx", "carbon"} {
		b.Run("format="+format, func(b *testing.B) {
			enc := mustEncoder(b, format, Options{})
			// Check the result before timing.
			var dst []byte
			for i := range rs {
				var reason DropReason
				if dst, reason = enc.Append(dst[:0], &rs[i]); reason != DropNone {
					b.Fatalf("%s dropped %+v: %v", format, rs[i], reason)
				}
			}
			var size int
			for i := range rs {
				dst, _ = enc.Append(dst[:0], &rs[i])
				size += len(dst)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				dst = dst[:0]
				for i := range rs {
					dst, _ = enc.Append(dst, &rs[i])
				}
			}
			b.ReportMetric(float64(len(rs))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkMetrictankPoint: a known series' rollup in the metrictank
// format (a point appended to its partition's MetricPointArray record),
// records handed to a Deliver that drops them: the encoding alone.
func BenchmarkMetrictankPoint(b *testing.B) {
	var recordBytes int
	o, err := NewKafkaOutput(KafkaConfig{Format: "metrictank", Topics: []string{"out"}, Partitions: 8,
		Deliver: func(_ string, _ int32, v []byte) { recordBytes += len(v) }})
	if err != nil {
		b.Fatal(err)
	}
	s := o.ShardSink()
	var drops [256]uint64
	const series = 1000
	keys := make([][]byte, series)
	wins := make([]Window, series)
	for i := range series {
		keys[i] = fmt.Appendf(nil, "host\x00h%d\x00\x01cpu_usage_idle", i)
		wins[i] = Window{Metric: []byte("cpu_usage_idle"), Tags: []Tag{{[]byte("host"), fmt.Appendf(nil, "h%d", i)}}, Step: "1m",
			StepSeconds: 60, Start: 1700000040, Values: []AggValue{{"sum", 1.5}, {"count", 6}, {"max", 3}}, Series: uint32(i)}
		s.Window(0, keys[i], &wins[i], drops[:]) // announce
	}
	s.Flush()
	recordBytes = 0
	b.ReportAllocs()
	rollups := 0
	for b.Loop() {
		for i := range series {
			rollups += s.Window(0, keys[i], &wins[i], drops[:])
		}
	}
	s.Flush()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rollups), "ns/rollup")
	b.ReportMetric(float64(recordBytes)/float64(rollups), "B/rollup")
}

// BenchmarkAppendWindow encodes windows the way a shard worker hands them
// over: one reused Window, its series given as a canonical key, in table
// order, where the fields of one line (eight here) share their tags, with
// six aggregators each. It reports ns per rollup for every text encoder.
func BenchmarkAppendWindow(b *testing.B) {
	const hosts, fields = 125, 8
	var keys [][]byte
	for h := range hosts {
		for f := range fields {
			keys = append(keys, fmt.Appendf(nil, "cpu\x00cpu%d\x00dc\x00dc0\x00host\x00host-%05d\x00rack\x00r0\x00\x01cpu_usage_field%d", h%4, h, f))
		}
	}
	values := make([][]AggValue, len(keys))
	for i := range values {
		x := float64(i%97) + 0.123456789012345
		values[i] = []AggValue{{"sum", 6 * x}, {"count", 6}, {"min", x - 1}, {"max", x + 1}, {"first", x - 1}, {"last", x}}
	}
	for _, format := range []string{"jsonl", "opentsdb", "influx", "carbon"} {
		b.Run("format="+format, func(b *testing.B) {
			enc := mustEncoder(b, format, Options{})
			var w Window
			var drops [numDropReasons]uint64
			var dst []byte
			rollups := 0
			b.ReportAllocs()
			for b.Loop() {
				for i, key := range keys {
					w.SetKey(key)
					w.Step, w.StepSeconds, w.Start, w.Values = "1m", 60, 1700000040, values[i]
					var n int
					dst, n = enc.AppendWindow(dst[:0], &w, nil, drops[:])
					rollups += n
				}
			}
			if rollups != b.N*len(keys)*6 {
				b.Fatalf("%d rollups, want %d", rollups, b.N*len(keys)*6)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rollups), "ns/rollup")
		})
	}
}
