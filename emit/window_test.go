package emit

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rollupd/rollup/shard"
)

// TestAppendWindowMatchesAppend: AppendWindow must write, for every value,
// exactly what Append writes, followed by sep, and count exactly the drops
// Append reports - for every golden series and a mix of values and
// aggregators that triggers each per-value drop.
func TestAppendWindowMatchesAppend(t *testing.T) {
	values := []AggValue{
		{"sum", 12.5}, {"count", 60}, {"avg", 2.5}, {"min", math.NaN()},
		{"max", math.Inf(1)}, {"first", -0.1}, {"last", 1e21},
		// Repeats, which jsonl copies instead of formatting again: of a
		// value above, of a NaN (dropped, so never copied), and -0
		// after 0, which must not be taken for it.
		{"min", -0.1}, {"sum", 0}, {"max", math.NaN()}, {"min", math.Copysign(0, -1)},
		{"first", 1e21}, {"last", 60}, {"avg", 7}, {"sum", 8}, {"count", 9}, {"max", 8}, {"last", 12.5},
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

// A window that carries its series as a canonical key encodes exactly as
// the same window built from metric and tags, with the same drops, in
// every format: jsonl reads the key directly, the others split it.
func TestWindowFromKeyMatchesParts(t *testing.T) {
	pieces := []string{"a", "Z", "9", "-", "_", ".", "/", "cpu", "host-01", " ", ",", "=", "\"", "\\", ";", "~",
		"\u00e9", "\u0416", "\U0001f600", "\u2028", "\xff", "\xc3", "_aggregate"}
	rng := rand.New(rand.NewPCG(9, 10))
	name := func() []byte {
		var b []byte
		for k := rng.IntN(4); k >= 0; k-- {
			if rng.IntN(3) > 0 {
				b = append(b, pieces[rng.IntN(8)]...) // mostly valid everywhere
			} else {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
		}
		return b
	}
	values := []AggValue{{"sum", 12.5}, {"count", 60}, {"avg", 2.5}, {"min", math.NaN()}, {"last", -0.25}}
	for _, format := range OutputFormatNames(false) {
		enc := mustEncoder(t, format, Options{})
		// One keyed window for all, as a shard worker has: what it keeps
		// between windows (StartText's digits) must follow Start.
		// Consecutive windows often share their tags, as the fields of
		// one line do, so the encoders' tail cache is hit as well as
		// missed.
		var keyed Window
		var tags []Tag
		var stags []shard.Tag
		for i := range 20_000 {
			metric := name()
			if rng.IntN(2) == 0 {
				tags, stags = nil, nil
				for range rng.IntN(11) {
					tg := Tag{Key: name(), Value: name()}
					if rng.IntN(20) == 0 {
						tg.Key = []byte(aggTagKey)
					}
					tags, stags = append(tags, tg), append(stags, shard.Tag(tg))
				}
			} else if n := len(tags); n > 0 && rng.IntN(3) == 0 {
				// The same tags but the last value: a cache hit on a
				// prefix of the tags would be wrong.
				tags, stags = slices.Clone(tags), slices.Clone(stags)
				tags[n-1].Value = append(slices.Clone(tags[n-1].Value), 'x')
				stags[n-1].Value = tags[n-1].Value
			}
			start := int64(1700000000 + i/3) // runs of windows closed together
			if rng.IntN(50) == 0 {
				start = -5
			}
			parts := Window{Metric: metric, Tags: tags, Step: "1m", StepSeconds: 60, Start: start, Values: values}
			keyed.SetKey(shard.AppendKey(nil, metric, stags))
			keyed.Step, keyed.StepSeconds, keyed.Start, keyed.Values = "1m", 60, start, values
			wantDrops, gotDrops := make([]uint64, numDropReasons), make([]uint64, numDropReasons)
			want, wantN := enc.AppendWindow(nil, &parts, []byte("\n"), wantDrops)
			got, gotN := enc.AppendWindow(nil, &keyed, []byte("\n"), gotDrops)
			if !bytes.Equal(got, want) || gotN != wantN || !slices.Equal(gotDrops, wantDrops) {
				t.Fatalf("%s, series %q %q: from the key %d %v\n%s\nfrom the parts %d %v\n%s",
					format, metric, tags, gotN, gotDrops, got, wantN, wantDrops, want)
			}
		}
	}
}

// TestTailCacheAcrossEncoders: archives of one shard may have different
// formats (`--archive 1h:max:format=influx`), so one Window meets several
// encoders in turn; each must write what it writes into a fresh Window,
// never another encoder's cached tail.
func TestTailCacheAcrossEncoders(t *testing.T) {
	key := shard.AppendKey(nil, []byte("cpu_idle"), []shard.Tag{{Key: []byte("host"), Value: []byte("h1")}, {Key: []byte("dc"), Value: []byte("x")}})
	values := []AggValue{{"sum", 12.5}, {"count", 3}, {"max", 7}}
	var shared Window
	for round := range 3 {
		for _, format := range OutputFormatNames(false) {
			enc := mustEncoder(t, format, Options{})
			var fresh Window
			for _, w := range []*Window{&shared, &fresh} {
				w.SetKey(key)
				w.Step, w.StepSeconds, w.Start, w.Values = "1m", 60, 1700000040, values
			}
			var d1, d2 [numDropReasons]uint64
			got, _ := enc.AppendWindow(nil, &shared, []byte("\n"), d1[:])
			want, _ := enc.AppendWindow(nil, &fresh, []byte("\n"), d2[:])
			if !bytes.Equal(got, want) || d1 != d2 {
				t.Fatalf("round %d, %s after another encoder:\n%s\nwant\n%s", round, format, got, want)
			}
		}
	}
}
