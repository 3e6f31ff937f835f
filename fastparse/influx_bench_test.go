package fastparse

import (
	"strconv"
	"strings"
	"testing"
)

// benchLines builds n lines like Telegraf's influx output: 5 sorted tags,
// 10 fields (floats and integers), nanosecond timestamps. variant changes
// the shape to exercise the slow paths.
func benchLines(n int, variant string) (buf []byte, points int) {
	var b strings.Builder
	for i := range n {
		switch variant {
		case "escaped":
			b.WriteString(`cpu\ stats,cpu=cpu\ ` + strconv.Itoa(i%8) + `,dc=eu\,west,host=server-` + strconv.Itoa(i%50) + `,rack=r\=1,region=eu`)
		case "unsorted":
			b.WriteString("cpu,region=eu,host=server-" + strconv.Itoa(i%50) + ",dc=eu-west,cpu=cpu" + strconv.Itoa(i%8) + ",rack=r1")
		default:
			b.WriteString("cpu,cpu=cpu" + strconv.Itoa(i%8) + ",dc=eu-west,host=server-" + strconv.Itoa(i%50) + ",rack=r1,region=eu")
		}
		b.WriteString(" usage_guest=0,usage_idle=98.2345")
		b.WriteString(",usage_iowait=0.1020408163265306,usage_irq=0,usage_nice=0")
		b.WriteString(",usage_softirq=0.05,usage_steal=0,usage_system=0.7142857142857143")
		b.WriteString(",usage_user=1.0204081632653061,ctx=" + strconv.Itoa(123456+i) + "i ")
		b.WriteString(strconv.FormatInt(1700000000000000000+int64(i)*10_000_000_000, 10))
		b.WriteByte('\n')
		points += 10
	}
	return []byte(b.String()), points
}

func BenchmarkInfluxDecoder(b *testing.B) {
	for _, variant := range []string{"telegraf", "escaped", "unsorted"} {
		b.Run("lines="+variant, func(b *testing.B) {
			buf, points := benchLines(1000, variant)
			var d InfluxDecoder

			// Check the result before timing.
			d.Reset(buf, 0, Nanosecond)
			got := 0
			for d.Next() {
				if d.Err() != nil {
					b.Fatal(d.Err())
				}
				if len(d.Tags()) != 5 || string(d.Tags()[0].Key) != "cpu" {
					b.Fatalf("tags %q", d.Tags())
				}
				got += len(d.Fields())
			}
			if got != points {
				b.Fatalf("%d points, want %d", got, points)
			}

			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			var sum float64
			for b.Loop() {
				d.Reset(buf, 0, Nanosecond)
				for d.Next() {
					fields := d.Fields()
					for i := range fields {
						v, _ := fields[i].Number()
						sum += v
					}
					sum += float64(d.Time() & 1)
				}
			}
			b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

func BenchmarkParseFloat(b *testing.B) {
	for _, s := range []string{"98.2345", "0", "0.7142857142857143", "1.5e-3", "12345678901234567890123"} {
		in := []byte(s)
		b.Run("in="+s, func(b *testing.B) {
			for b.Loop() {
				parseFloat(in)
			}
		})
	}
}
