package peer

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rollupd/rollup/emit"
)

// Our Influx output, read back by line-protocol v2 (what Telegraf's
// influx_upstream parser and InfluxDB's client use), gives back every
// name, tag (the step among them), aggregator value bit for bit and the
// window start.
func TestInfluxOutputReadsBack(t *testing.T) {
	enc, err := emit.NewEncoder("influx", emit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	alphabet := []rune("abcXYZ019 ,=\\_.-é\"#")
	name := func() []byte {
		for {
			var b []byte
			for range 1 + rng.IntN(8) {
				b = utf8.AppendRune(b, alphabet[rng.IntN(len(alphabet))])
			}
			// What the encoder drops (see its tests): a trailing
			// backslash, a leading '#'.
			if b[len(b)-1] != '\\' && b[0] != '#' {
				return b
			}
		}
	}
	for i := range 2000 {
		w := emit.Window{Metric: name(), Step: []string{"10s", "1m", "1h30m", "1d"}[rng.IntN(4)], Start: rng.Int64N(1<<33) - 1<<32}
		keys := map[string]bool{"step": true}
		for range rng.IntN(4) {
			k := name()
			if keys[string(k)] {
				continue
			}
			keys[string(k)] = true
			w.Tags = append(w.Tags, emit.Tag{Key: k, Value: name()})
		}
		sort.Slice(w.Tags, func(a, b int) bool { return bytes.Compare(w.Tags[a].Key, w.Tags[b].Key) < 0 })
		for _, agg := range []string{"sum", "count", "min", "max", "first", "last", "avg"} {
			if rng.IntN(2) == 0 {
				continue
			}
			v := math.Float64frombits(rng.Uint64())
			if agg == "count" {
				v = float64(rng.IntN(1 << 20))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = rng.NormFloat64()
			}
			w.Values = append(w.Values, emit.AggValue{Aggregator: agg, Value: v})
		}
		if len(w.Values) == 0 {
			continue
		}
		var drops [256]uint64
		out, n := enc.AppendWindow(nil, &w, nil, drops[:])
		if n != len(w.Values) {
			t.Fatalf("case %d: %d of %d encoded (drops %v): %q", i, n, len(w.Values), drops[:9], out)
		}
		d := lineprotocol.NewDecoderWithBytes(out)
		if !d.Next() {
			t.Fatalf("case %d: no line in %q", i, out)
		}
		m, err := d.Measurement()
		if err != nil || !bytes.Equal(m, w.Metric) {
			t.Fatalf("case %d: measurement %q (%v), want %q in %q", i, m, err, w.Metric, out)
		}
		var got []string
		for {
			k, v, err := d.NextTag()
			if err != nil {
				t.Fatalf("case %d: tag: %v in %q", i, err, out)
			}
			if k == nil {
				break
			}
			got = append(got, fmt.Sprintf("%s=%s", k, v))
		}
		want := []string{"step=" + w.Step}
		for _, tg := range w.Tags {
			want = append(want, fmt.Sprintf("%s=%s", tg.Key, tg.Value))
		}
		sort.Strings(got)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("case %d: tags %q, want %q in %q", i, got, want, out)
		}
		for j := 0; ; j++ {
			k, v, err := d.NextField()
			if err != nil {
				t.Fatalf("case %d: field: %v in %q", i, err, out)
			}
			if k == nil {
				if j != len(w.Values) {
					t.Fatalf("case %d: %d fields, want %d", i, j, len(w.Values))
				}
				break
			}
			var f float64
			switch v.Kind() {
			case lineprotocol.Float:
				f = v.FloatV()
			case lineprotocol.Int:
				f = float64(v.IntV())
			default:
				t.Fatalf("case %d: field %s of kind %v", i, k, v.Kind())
			}
			want := w.Values[j]
			if string(k) != want.Aggregator || math.Float64bits(f) != math.Float64bits(want.Value) {
				t.Fatalf("case %d: field %s=%v, want %s=%v in %q", i, k, f, want.Aggregator, want.Value, out)
			}
		}
		ts, err := d.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil || ts.UnixNano() != w.Start*1e9 {
			t.Fatalf("case %d: time %v (%v), want %d s", i, ts, err, w.Start)
		}
	}
}
