package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
)

// Our carbon output read by our carbon input gives back every path, tag,
// value (bit for bit) and window start.
func TestCarbonOutputReadsBack(t *testing.T) {
	enc, err := emit.NewEncoder("carbon", emit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("abcXYZ019_.-/:,=#\\!")
	name := func() []byte {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	var d fastparse.CarbonDecoder
	for i := range 2000 {
		w := emit.Window{Metric: name(), Step: "1m", Start: rng.Int64N(1 << 32)}
		if w.Metric[0] == '.' {
			w.Metric[0] = 'x' // dropped by the encoder: see its test
		}
		for k := range rng.IntN(3) {
			w.Tags = append(w.Tags, emit.Tag{Key: fmt.Appendf(nil, "k%d", k), Value: name()})
		}
		v := math.Float64frombits(rng.Uint64())
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = rng.NormFloat64()
		}
		w.Values = []emit.AggValue{{Aggregator: "sum", Value: v}}
		var drops [256]uint64
		out, n := enc.AppendWindow(nil, &w, nil, drops[:])
		if n != 1 {
			t.Fatalf("case %d: not encoded (%v)", i, drops[:12])
		}
		d.Reset(out, 0)
		if !d.Next() || d.Err() != nil {
			t.Fatalf("case %d: %q does not decode: %v", i, out, d.Err())
		}
		wantPath := string(w.Metric) + ".sum.1m"
		if string(d.Measurement()) != wantPath || d.Time() != w.Start*1e9 ||
			math.Float64bits(d.Fields()[0].Float) != math.Float64bits(v) || len(d.Tags()) != len(w.Tags) {
			t.Fatalf("case %d: %q read back as %s t=%d v=%v, %d tags", i, out, d.Measurement(), d.Time(), d.Fields()[0].Float, len(d.Tags()))
		}
		for j, tg := range d.Tags() {
			if string(tg.Key) != string(w.Tags[j].Key) || string(tg.Value) != string(w.Tags[j].Value) {
				t.Fatalf("case %d: tag %s=%s, want %s=%s", i, tg.Key, tg.Value, w.Tags[j].Key, w.Tags[j].Value)
			}
		}
	}
}
