package peer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

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

// telegrafBuffer generates, deterministically, about size bytes of lines
// shaped like Telegraf's influx output for the cpu, mem, disk, diskio,
// net and system inputs: 3-6 sorted tags, 3-10 fields mixing floats and
// integers, nanosecond timestamps.
func telegrafBuffer(size int) (buf []byte, lines, points int) {
	type input struct {
		name   string
		tags   []string // tag keys; the values are generated
		fields []string // field keys; a trailing 'i' marks integer fields
	}
	inputs := []input{
		{"cpu", []string{"cpu", "host", "region"}, []string{"usage_guest", "usage_idle", "usage_iowait", "usage_irq", "usage_nice", "usage_softirq", "usage_steal", "usage_system", "usage_user"}},
		{"mem", []string{"dc", "host", "rack", "region"}, []string{"active i", "available i", "available_percent", "buffered i", "cached i", "free i", "used i", "used_percent"}},
		{"disk", []string{"device", "fstype", "host", "mode", "path"}, []string{"free i", "inodes_free i", "inodes_total i", "inodes_used i", "total i", "used i", "used_percent"}},
		{"diskio", []string{"dc", "host", "name", "rack", "region", "serial"}, []string{"io_time i", "iops_in_progress i", "read_bytes i", "read_time i", "reads i", "weighted_io_time i", "write_bytes i", "write_time i", "writes i", "merged_reads i"}},
		{"net", []string{"host", "interface", "region"}, []string{"bytes_recv i", "bytes_sent i", "drop_in i", "drop_out i", "err_in i", "err_out i", "packets_recv i", "packets_sent i"}},
		{"system", []string{"dc", "host", "region"}, []string{"load1", "load15", "load5", "n_cpus i", "n_users i", "uptime i"}},
	}
	r := rand.New(rand.NewPCG(42, 42))
	ts := int64(1700000000000000000)
	for len(buf) < size {
		in := inputs[r.IntN(len(inputs))]
		buf = append(buf, in.name...)
		for _, k := range in.tags { // already sorted, as Telegraf writes them
			buf = append(buf, ',')
			buf = append(buf, k...)
			buf = append(buf, '=')
			buf = fmt.Appendf(buf, "%s-%02d", k, r.IntN(40))
		}
		nf := 3 + r.IntN(len(in.fields)-2)
		if nf > 10 {
			nf = 10
		}
		for i, f := range in.fields[:nf] {
			if i == 0 {
				buf = append(buf, ' ')
			} else {
				buf = append(buf, ',')
			}
			if k, ok := strings.CutSuffix(f, " i"); ok {
				buf = append(buf, k...)
				buf = append(buf, '=')
				buf = strconv.AppendInt(buf, r.Int64N(1<<40), 10)
				buf = append(buf, 'i')
			} else {
				buf = append(buf, f...)
				buf = append(buf, '=')
				// Telegraf writes 'f', -1: shortest form, no exponent.
				v := math.Round(r.Float64()*100*1e4) / 1e4
				buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
			}
			points++
		}
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, ts, 10)
		buf = append(buf, '\n')
		ts += int64(r.IntN(1e9))
		lines++
	}
	return buf, lines, points
}
