package emit

import (
	"math"
	"strings"
	"testing"
)

func TestInfluxEncoder(t *testing.T) {
	enc, err := NewEncoder("influx", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		w     Window
		want  string
		drops map[DropReason]uint64
	}{
		{"basic, step tag in key order", Window{Metric: []byte("cpu_usage_idle"), Tags: []Tag{{[]byte("host"), []byte("h1")}, {[]byte("zone"), []byte("eu")}},
			Step: "1m", Start: 1700000040, Values: []AggValue{{"sum", 512.5}, {"count", 6}, {"max", 1e21}, {"min", -1e-7}}},
			"cpu_usage_idle,host=h1,step=1m,zone=eu sum=512.5,count=6i,max=1e+21,min=-1e-07 1700000040000000000\n", nil},
		{"no tags", Window{Metric: []byte("m"), Step: "1h", Start: 0, Values: []AggValue{{"last", 2}}},
			"m,step=1h last=2 0\n", nil},
		{"escapes and a backslash", Window{Metric: []byte(`cpu load,x`), Tags: []Tag{{[]byte("a,b"), []byte(`c=d\,e f`)}},
			Step: "1d", Start: -60, Values: []AggValue{{"first", 1}}},
			`cpu\ load\,x,a\,b=c\=d\\,e\ f,step=1d first=1 -60000000000` + "\n", nil},
		{"non-finite values dropped, the rest kept", Window{Metric: []byte("m"), Step: "1m", Start: 60, Values: []AggValue{{"sum", math.Inf(1)}, {"count", 2}}},
			"m,step=1m count=2i 60000000000\n", map[DropReason]uint64{DropNonFinite: 1}},
		{"all non-finite: no line", Window{Metric: []byte("m"), Step: "1m", Start: 60, Values: []AggValue{{"sum", math.NaN()}}},
			"", map[DropReason]uint64{DropNonFinite: 1}},
		{"comment-like measurement", Window{Metric: []byte("#m"), Step: "1m", Values: []AggValue{{"sum", 1}, {"count", 1}}},
			"", map[DropReason]uint64{DropInfluxBadName: 2}},
		{"trailing backslash", Window{Metric: []byte("m"), Tags: []Tag{{[]byte("k"), []byte(`v\`)}}, Step: "1m", Values: []AggValue{{"sum", 1}}},
			"", map[DropReason]uint64{DropInfluxBadName: 1}},
		{"a tag named step", Window{Metric: []byte("m"), Tags: []Tag{{[]byte("step"), []byte("x")}}, Step: "1m", Values: []AggValue{{"sum", 1}}},
			"", map[DropReason]uint64{DropInfluxBadName: 1}},
		{"control byte", Window{Metric: []byte("m\x01"), Step: "1m", Values: []AggValue{{"sum", 1}}},
			"", map[DropReason]uint64{DropInfluxBadName: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var drops [256]uint64
			got, _ := enc.AppendWindow([]byte("prefix|"), &c.w, nil, drops[:])
			if string(got) != "prefix|"+c.want {
				t.Errorf("got  %q\nwant %q", got, "prefix|"+c.want)
			}
			for r := range numDropReasons {
				if drops[r] != c.drops[DropReason(r)] {
					t.Errorf("drops[%s] = %d, want %d", DropReason(r), drops[r], c.drops[DropReason(r)])
				}
			}
		})
	}
	// Append encodes one rollup the same way.
	got, reason := enc.Append(nil, &Rollup{Metric: []byte("m"), Step: "1m", Start: 60, Aggregator: "count", Value: 3})
	if string(got) != "m,step=1m count=3i 60000000000\n" || reason != DropNone {
		t.Errorf("Append: %q %v", got, reason)
	}
	if _, reason := enc.Append(nil, &Rollup{Metric: []byte("#m"), Step: "1m", Aggregator: "sum", Value: 3}); reason != DropInfluxBadName {
		t.Errorf("Append of a bad name: %v", reason)
	}
	custom, _ := NewEncoder("influx", Options{InfluxStepTag: "resolution"})
	got, _ = custom.Append(nil, &Rollup{Metric: []byte("m"), Tags: []Tag{{[]byte("host"), []byte("a")}}, Step: "1m", Start: 60, Aggregator: "sum", Value: 3})
	if !strings.HasPrefix(string(got), "m,host=a,resolution=1m sum=3 ") {
		t.Errorf("custom step tag: %q", got)
	}
}
