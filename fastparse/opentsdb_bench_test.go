package fastparse

import (
	"fmt"
	"strings"
	"testing"
)

// Equivalent data in every format: one value per line, the same three tags
// in the same (sorted) order, as Telegraf writes them.
func oneValueLines(format string) []byte {
	var b []byte
	for i := range 10000 {
		ts := 1700000000 + i/100
		v := fmt.Sprintf("%d.%03d", i%97, i%1000)
		switch format {
		case "opentsdb":
			b = fmt.Appendf(b, "put sys.cpu.user %d %s cpu=cpu%d dc=lga host=web%03d\n", ts, v, i%8, i%500)
		case "carbon":
			b = fmt.Appendf(b, "sys.cpu.user;cpu=cpu%d;dc=lga;host=web%03d %s %d\n", i%8, i%500, v, ts)
		case "carbon-plain": // the tags in the path, as most Graphite senders do
			b = fmt.Appendf(b, "lga.web%03d.cpu%d.sys.cpu.user %s %d\n", i%500, i%8, v, ts)
		default:
			b = fmt.Appendf(b, "sys.cpu,cpu=cpu%d,dc=lga,host=web%03d user=%s %d000000000\n", i%8, i%500, v, ts)
		}
	}
	return b
}

func BenchmarkDecodeOneValuePerLine(b *testing.B) {
	for _, format := range []string{"opentsdb", "carbon", "carbon-plain", "influx"} {
		b.Run("format="+format, func(b *testing.B) {
			buf := oneValueLines(format)
			d, _ := NewDecoder(strings.TrimSuffix(format, "-plain"), DecoderOptions{})
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
