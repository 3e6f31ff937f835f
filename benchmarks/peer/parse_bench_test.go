package peer

import (
	"bytes"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	telegen "github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/fastparse"
)

// BenchmarkParse decodes the same Telegraf-like buffer with fastparse and
// with line-protocol v2, visiting every field value and the timestamp of
// every line. A point is one field value.
//
//	cd benchmarks/peer && go test -run '^$' -bench BenchmarkParse -count 10 | tee new.txt
//	benchstat new.txt
func BenchmarkParse(b *testing.B) {
	buf, lines, points := telegrafBuffer(1 << 20)

	// fastparse's decoder is meant to be reused (Reset); v2 has no way to
	// reuse a decoder over a new byte slice, so it gets a new one per
	// pass, as its users do.
	var dec fastparse.InfluxDecoder
	parseFast := func(buf []byte) (int, int, float64) { return parseFastWith(&dec, buf) }

	// Check the result before timing: both see the same points and sums.
	fl, fp, fsum := parseFast(buf)
	vl, vp, vsum := parseV2(buf)
	if fl != lines || vl != lines || fp != points || vp != points || fsum != vsum {
		b.Fatalf("fastparse: %d lines %d points sum %v; v2: %d lines %d points sum %v; want %d lines %d points",
			fl, fp, fsum, vl, vp, vsum, lines, points)
	}

	for _, impl := range []struct {
		name  string
		parse func([]byte) (int, int, float64)
	}{
		{"fastparse", parseFast},
		{"lpv2", parseV2},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				impl.parse(buf)
			}
			b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(points)*float64(b.N)), "ns/point")
		})
	}
}

// parseFastWith returns the number of lines and points and a checksum
// over every value and timestamp.
func parseFastWith(d *fastparse.InfluxDecoder, buf []byte) (lines, points int, sum float64) {
	d.Reset(buf, 0, fastparse.Nanosecond)
	for d.Next() {
		if d.Err() != nil {
			panic(d.Err())
		}
		lines++
		for i := range d.Fields() {
			v, _ := d.Fields()[i].Number()
			sum += v
			points++
		}
		sum += float64(d.Time() % 1000)
	}
	return lines, points, sum
}

func parseV2(buf []byte) (lines, points int, sum float64) {
	d := lineprotocol.NewDecoderWithBytes(buf)
	for d.Next() {
		if _, err := d.Measurement(); err != nil {
			panic(err)
		}
		for {
			k, _, err := d.NextTag()
			if err != nil {
				panic(err)
			}
			if k == nil {
				break
			}
		}
		for {
			k, v, err := d.NextField()
			if err != nil {
				panic(err)
			}
			if k == nil {
				break
			}
			switch v.Kind() {
			case lineprotocol.Float:
				sum += v.FloatV()
			case lineprotocol.Int:
				sum += float64(v.IntV())
			case lineprotocol.Uint:
				sum += float64(v.UintV())
			}
			points++
		}
		t, err := d.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil {
			panic(err)
		}
		sum += float64(t.UnixNano() % 1000)
		lines++
	}
	return lines, points, sum
}

// telegrafBuffer returns one 10s interval of the project's Telegraf-shaped
// data (package gen, the data of the pipeline benchmarks) for enough hosts
// to fill about size bytes.
func telegrafBuffer(size int) (buf []byte, lines, points int) {
	hosts := size / 1900 // about 1.9 kB of lines per host and interval
	g := telegen.NewTelegraf(telegen.Config{Hosts: hosts, Seed: 1})
	buf = g.AppendInterval(nil)
	return buf, bytes.Count(buf, []byte("\n")), g.PointsPerInterval()
}
