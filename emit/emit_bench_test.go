package emit

import (
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
