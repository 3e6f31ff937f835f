package emit

import (
	"math"
	"testing"
)

func TestCarbonEncoder(t *testing.T) {
	w := Window{Metric: []byte("cpu_usage_idle"), Tags: []Tag{{[]byte("host"), []byte("h1")}, {[]byte("zone"), []byte("eu")}},
		Step: "1m", Start: 1700000040, Values: []AggValue{{"sum", 512.5}, {"count", 6}, {"max", math.NaN()}}}
	enc, _ := NewEncoder("carbon", Options{})
	var drops [256]uint64
	got, n := enc.AppendWindow(nil, &w, nil, drops[:])
	want := "cpu_usage_idle.sum.1m;host=h1;zone=eu 512.5 1700000040\ncpu_usage_idle.count.1m;host=h1;zone=eu 6 1700000040\n"
	if string(got) != want || n != 2 || drops[DropNonFinite] != 1 {
		t.Fatalf("got %q (%d written, drops %v)", got, n, drops[:10])
	}
	noStep, _ := NewEncoder("carbon", Options{CarbonNoStep: true})
	got, _ = noStep.Append(nil, &Rollup{Metric: []byte("m"), Step: "1h", Start: 3600, Aggregator: "last", Value: -1.5e-9})
	if string(got) != "m.last -1.5e-09 3600\n" {
		t.Fatalf("no step: %q", got)
	}
	for _, bad := range []Window{
		{Metric: []byte("a;b"), Step: "1m", Values: []AggValue{{"sum", 1}}},
		{Metric: []byte(".a"), Step: "1m", Values: []AggValue{{"sum", 1}}},
		{Metric: []byte("é"), Step: "1m", Values: []AggValue{{"sum", 1}}},
		{Metric: []byte("m"), Tags: []Tag{{[]byte("k=x"), []byte("v")}}, Step: "1m", Values: []AggValue{{"sum", 1}}},
		{Metric: []byte("m"), Tags: []Tag{{[]byte("k"), []byte("v;w")}}, Step: "1m", Values: []AggValue{{"sum", 1}}},
		{Metric: []byte("m"), Step: "1m", Start: -60, Values: []AggValue{{"sum", 1}}},
	} {
		var drops [256]uint64
		if out, n := enc.AppendWindow(nil, &bad, nil, drops[:]); n != 0 || len(out) != 0 || drops[DropCarbonBadName] != 1 {
			t.Errorf("%q: written %q", bad.Metric, out)
		}
	}
}
