package fastparse

import (
	"fmt"
	"testing"
)

// Equivalent data in both formats: one value per line, three tags.
func oneValueLines(otsdb bool) []byte {
	var b []byte
	for i := range 10000 {
		ts := 1700000000 + i/100
		v := fmt.Sprintf("%d.%03d", i%97, i%1000)
		if otsdb {
			b = fmt.Appendf(b, "put sys.cpu.user %d %s host=web%03d dc=lga cpu=cpu%d\n", ts, v, i%500, i%8)
		} else {
			b = fmt.Appendf(b, "sys.cpu,cpu=cpu%d,dc=lga,host=web%03d user=%s %d000000000\n", i%8, i%500, v, ts)
		}
	}
	return b
}

func BenchmarkDecodeOneValuePerLine(b *testing.B) {
	for _, format := range []string{"opentsdb", "influx"} {
		b.Run("format="+format, func(b *testing.B) {
			buf := oneValueLines(format == "opentsdb")
			d, _ := NewDecoder(format, DecoderOptions{})
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			points := 0
			for b.Loop() {
				d.Reset(buf, 0)
				for d.Next() {
					if d.Err() != nil {
						b.Fatal(d.Err())
					}
					points += len(d.Fields())
				}
			}
			b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(points), "ns/point")
		})
	}
}
