package emit

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

// TestAppendWindowMatchesAppend: AppendWindow must write, for every value,
// exactly what Append writes, followed by sep, and count exactly the drops
// Append reports - for every golden series and a mix of values and
// aggregators that triggers each per-value drop.
func TestAppendWindowMatchesAppend(t *testing.T) {
	values := []AggValue{
		{"sum", 12.5}, {"count", 60}, {"avg", 2.5}, {"min", math.NaN()},
		{"max", math.Inf(1)}, {"first", -0.1}, {"last", 1e21},
	}
	for _, format := range []string{"jsonl", "opentsdb"} {
		enc := mustEncoder(t, format, Options{})
		for _, gc := range goldenCases {
			for _, sep := range [][]byte{nil, []byte("\n")} {
				r := gc.r
				w := Window{Metric: r.Metric, Tags: r.Tags, Step: r.Step, Start: r.Start, Values: values}
				var want []byte
				wantDrops := make([]uint64, 256)
				wantN := 0
				for _, v := range values {
					r.Aggregator, r.Value = v.Aggregator, v.Value
					var reason DropReason
					want, reason = enc.Append(want, &r)
					if reason != DropNone {
						wantDrops[reason]++
						continue
					}
					want = append(want, sep...)
					wantN++
				}
				drops := make([]uint64, 256)
				got, n := enc.AppendWindow([]byte("prefix"), &w, sep, drops)
				if !bytes.Equal(got, append([]byte("prefix"), want...)) || n != wantN {
					t.Fatalf("%s/%s: AppendWindow wrote %d:\n%s\nwant %d:\n%s", format, gc.name, n, got, wantN, want)
				}
				if !slices.Equal(drops, wantDrops) {
					t.Fatalf("%s/%s: drops %v, want %v", format, gc.name, nonZero(drops), nonZero(wantDrops))
				}
			}
		}
	}
}

func TestAppendWindowZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	r := base()
	w := Window{Metric: r.Metric, Tags: r.Tags, Step: r.Step, Start: r.Start,
		Values: []AggValue{{"sum", 12.5}, {"count", 3}, {"min", 1}, {"max", 1e300}, {"avg", 4}}}
	drops := make([]uint64, 256)
	sep := []byte("\n")
	for _, format := range []string{"jsonl", "opentsdb"} {
		enc := mustEncoder(t, format, Options{})
		dst := make([]byte, 0, 4096)
		allocs := testing.AllocsPerRun(200, func() {
			dst, _ = enc.AppendWindow(dst[:0], &w, sep, drops)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per run, want 0", format, allocs)
		}
	}
}

func nonZero(a []uint64) map[DropReason]uint64 {
	m := map[DropReason]uint64{}
	for i, v := range a {
		if v != 0 {
			m[DropReason(i)] = v
		}
	}
	return m
}
