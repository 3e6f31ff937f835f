package pipeline

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/window"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedNow is the wall clock of every test: after all test data.
var fixedNow = time.Unix(1700003600, 0)

func testConfig(t testing.TB, shards int, lateness time.Duration, archives ...string) Config {
	t.Helper()
	cfg := Config{Shards: shards, Now: func() time.Time { return fixedNow }}
	cfg.Window.Lateness = lateness
	for _, a := range archives {
		ar, err := window.ParseArchive(a)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Window.Archives = append(cfg.Window.Archives, ar)
	}
	enc, err := emit.NewEncoder("jsonl", emit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Encoder = enc
	return cfg
}

// run feeds inputs (each a separate "file" of one stream) and returns the
// sorted output lines and the counters.
func run(t testing.TB, cfg Config, inputs ...io.Reader) ([]string, Counters) {
	t.Helper()
	var out bytes.Buffer
	e, err := New(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewStream()
	for _, in := range inputs {
		if _, err := s.ReadFrom(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if out.Len() == 0 {
		lines = nil
	}
	sort.Strings(lines)
	return lines, e.Counters()
}

// TestGolden checks hand-computed rollups: testdata/basic.golden lists every
// expected rollup of testdata/basic.lp, derived by hand in the comments of
// the input (windows, lateness decisions, tie rules).
func TestGolden(t *testing.T) {
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			cfg := testConfig(t, shards, 5*time.Second, "10s:sum,count,min,max,first,last,avg", "30s:sum,count,first,last")
			f, err := os.Open("testdata/basic.lp")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, c := run(t, cfg, f)
			wantBytes, err := os.ReadFile("testdata/basic.golden")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(strings.TrimSuffix(string(wantBytes), "\n"), "\n")
			if !slices.Equal(got, want) {
				t.Errorf("rollups differ from testdata/basic.golden:\n%s", diffLines(got, want))
			}
			if c.Lines != 12 || c.MalformedTotal() != 1 || c.Points != 12 || c.Late != 2 ||
				c.StringField != 1 || c.Aggregated != 10 || c.Series != 3 || c.Rollups != 62 {
				t.Errorf("counters: %s", c.Summary())
			}
		})
	}
}

func diffLines(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	return b.String()
}

// --- randomized comparison against a naive reference aggregator ---

type refPoint struct {
	metric string
	tags   map[string]string
	t      int64 // ns
	v      float64
}

func (p *refPoint) key() string {
	keys := make([]string, 0, len(p.tags))
	for k := range p.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(p.metric)
	for _, k := range keys {
		b.WriteString("," + k + "=" + p.tags[k])
	}
	return b.String()
}

// reference aggregates like the spec reads, with maps and sorting: lateness
// against the stream's max timestamp, fine windows in arrival order, coarse
// windows as the time-ordered merge of fine ones.
func reference(points []refPoint, cfg *window.Config, maxTime int64) (lines []string, late int) {
	fine := cfg.FineStep()
	type fw struct {
		start int64
		agg   window.Agg
	}
	perSeries := map[string]map[int64]*window.Agg{}
	meta := map[string]*refPoint{}
	maxT := int64(math.MinInt64)
	for i := range points {
		p := &points[i]
		if p.t > maxTime {
			continue
		}
		maxT = max(maxT, p.t)
		start := p.t - ((p.t%fine)+fine)%fine
		if start+fine <= maxT-int64(cfg.Lateness) {
			late++
			continue
		}
		k := p.key()
		if perSeries[k] == nil {
			perSeries[k] = map[int64]*window.Agg{}
			meta[k] = p
		}
		a := perSeries[k][start]
		if a == nil {
			a = &window.Agg{}
			perSeries[k][start] = a
		}
		// Plain arithmetic rather than Agg.Add, so the reference does not
		// share the code under test.
		if a.Count == 0 {
			*a = window.Agg{Sum: 0 + p.v, Count: 1, Min: p.v, Max: p.v, First: p.v, FirstTime: p.t, Last: p.v, LastTime: p.t}
		} else {
			a.Sum += p.v
			a.Count++
			if p.v < a.Min {
				a.Min = p.v
			}
			if p.v > a.Max {
				a.Max = p.v
			}
			if p.t < a.FirstTime {
				a.First, a.FirstTime = p.v, p.t
			}
			if p.t >= a.LastTime {
				a.Last, a.LastTime = p.v, p.t
			}
		}
	}
	emitLine := func(p *refPoint, ar *window.Archive, start int64, a *window.Agg) {
		for _, g := range ar.Aggregators {
			var v float64
			switch g {
			case window.Sum:
				v = a.Sum
			case window.Count:
				v = float64(a.Count)
			case window.Min:
				v = a.Min
			case window.Max:
				v = a.Max
			case window.First:
				v = a.First
			case window.Last:
				v = a.Last
			case window.Avg:
				v = a.Sum / float64(a.Count)
			}
			tags, _ := json.Marshal(p.tags)
			val, _ := json.Marshal(v)
			lines = append(lines, fmt.Sprintf(`{"metric":%q,"tags":%s,"step":%q,"start":%d,"aggregator":%q,"value":%s}`,
				p.metric, tags, ar.Name, start/int64(time.Second), g, val))
		}
	}
	for k, wins := range perSeries {
		var fws []fw
		for s, a := range wins {
			fws = append(fws, fw{s, *a})
		}
		sort.Slice(fws, func(i, j int) bool { return fws[i].start < fws[j].start })
		for _, f := range fws {
			emitLine(meta[k], &cfg.Archives[0], f.start, &f.agg)
		}
		for ai := 1; ai < len(cfg.Archives); ai++ {
			ar := &cfg.Archives[ai]
			step := ar.Step * int64(time.Second)
			var cur window.Agg
			curStart := int64(math.MinInt64)
			for _, f := range fws {
				cs := f.start - ((f.start%step)+step)%step
				if cs != curStart && cur.Count > 0 {
					emitLine(meta[k], ar, curStart, &cur)
					cur = window.Agg{}
				}
				curStart = cs
				if cur.Count == 0 {
					cur = f.agg
					continue
				}
				cur.Sum += f.agg.Sum
				cur.Count += f.agg.Count
				if f.agg.Min < cur.Min {
					cur.Min = f.agg.Min
				}
				if f.agg.Max > cur.Max {
					cur.Max = f.agg.Max
				}
				cur.Last, cur.LastTime = f.agg.Last, f.agg.LastTime
			}
			if cur.Count > 0 {
				emitLine(meta[k], ar, curStart, &cur)
			}
		}
	}
	sort.Strings(lines)
	return lines, late
}

// randomInput writes line protocol for random points: tags in random order
// with escapes, several fields per line (some strings, some duplicates),
// timestamps that wander back within and beyond the lateness, malformed
// lines and points from the future. It returns the text and the numeric
// points in arrival order.
func randomInput(rng *rand.Rand, lines int, base int64, host string) (string, []refPoint, int) {
	var b strings.Builder
	var pts []refPoint
	malformed := 0
	cursor := base
	tagVals := []string{"a", "b c", "d,e", "f=g", `h\i`, "j"}
	esc := strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)
	for range lines {
		switch rng.IntN(40) {
		case 0:
			b.WriteString("garbage line\n")
			malformed++
			continue
		case 1:
			b.WriteString("m,host=x f=1 notatime\n")
			malformed++
			continue
		case 2:
			b.WriteString("# comment\n\n")
			continue
		}
		meas := fmt.Sprintf("m%d", rng.IntN(4))
		tags := map[string]string{"host": fmt.Sprintf("%s%d", host, rng.IntN(12))}
		if rng.IntN(3) == 0 {
			tags["dc"] = tagVals[rng.IntN(len(tagVals))]
		}
		if rng.IntN(4) == 0 {
			tags["z z"] = "1"
		}
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b.WriteString(meas)
		for _, k := range keys {
			b.WriteString("," + esc.Replace(k) + "=" + esc.Replace(tags[k]))
		}
		// Time: mostly forward, sometimes back a little (within lateness),
		// sometimes far back (late), rarely far ahead (future).
		cursor += int64(rng.IntN(3000)) * int64(time.Millisecond)
		t := cursor
		switch r := rng.IntN(20); {
		case r < 5:
			t -= int64(rng.IntN(40)) * int64(time.Second)
		case r == 5:
			t -= int64(rng.IntN(400)) * int64(time.Second)
		case r == 6 && rng.IntN(10) == 0:
			t = fixedNow.UnixNano() + int64(2*time.Hour)
		}
		b.WriteString(" ")
		nf := 1 + rng.IntN(4)
		for i := range nf {
			if i > 0 {
				b.WriteString(",")
			}
			fk := fmt.Sprintf("f%d", rng.IntN(4))
			var v float64
			switch rng.IntN(6) {
			case 0:
				n := rng.Int64N(2000) - 1000
				fmt.Fprintf(&b, "%s=%di", fk, n)
				v = float64(n)
			case 1:
				fmt.Fprintf(&b, `%s="str %d"`, fk, i)
				continue
			case 2:
				n := rng.Uint64N(1 << 20)
				fmt.Fprintf(&b, "%s=%du", fk, n)
				v = float64(n)
			case 3:
				fmt.Fprintf(&b, "%s=true", fk)
				v = 1
			default:
				v = math.Round(rng.NormFloat64()*1e6) / 1e3
				fmt.Fprintf(&b, "%s=%s", fk, strconv.FormatFloat(v, 'g', -1, 64))
			}
			pts = append(pts, refPoint{metric: meas + "_" + fk, tags: tags, t: t, v: v})
		}
		fmt.Fprintf(&b, " %d\n", t)
	}
	return b.String(), pts, malformed
}

// chunkReader returns data in random-sized reads, so lines and quoted
// strings are split across reads.
type chunkReader struct {
	rng  *rand.Rand
	data string
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), 1+c.rng.IntN(300), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestAgainstReference(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			lateness := time.Duration(rng.IntN(4)*10) * time.Second
			cfg := testConfig(t, 1+int(seed%3), lateness,
				"10s:sum,count,min,max,first,last,avg", "1m:sum,count,min,max,first,last", "5m:sum,first,last,avg")
			base := int64(1700000000) * int64(time.Second)
			text, pts, malformed := randomInput(rng, 3000, base, "h")
			// Two "files" of one stream, split at a line boundary.
			cut := strings.Index(text[len(text)/2:], "\n") + len(text)/2 + 1
			got, c := run(t, cfg, &chunkReader{rng, text[:cut]}, &chunkReader{rng, text[cut:]})
			maxTime := fixedNow.UnixNano() + int64(time.Hour)
			want, late := reference(pts, &cfg.Window, maxTime)
			if !slices.Equal(got, want) {
				t.Fatalf("engine and reference differ (%d vs %d rollups):\n%s", len(got), len(want), firstLines(diffLines(got, want), 20))
			}
			if int(c.Late) != late || int(c.MalformedTotal()) != malformed || int(c.Points) != len(pts) {
				t.Fatalf("counters %s; want late=%d malformed=%d points=%d", c.Summary(), late, malformed, len(pts))
			}
			if c.Late == 0 || c.Future == 0 || c.StringField == 0 {
				t.Fatalf("input did not exercise late/future/string points: %s", c.Summary())
			}
		})
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// TestStreamsAreIndependent feeds two streams concurrently (disjoint series,
// different disorder) and expects exactly what each stream's reference
// gives: lateness depends only on a stream's own order, and a window never
// closes before a point its own stream has not judged late (nothing is
// dropped as closed early), whatever the goroutine interleaving.
func TestStreamsAreIndependent(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		cfg := testConfig(t, 2, 20*time.Second, "10s:sum,count,min,max,first,last", "1m:sum,count,first,last")
		base := int64(1700000000) * int64(time.Second)
		textA, ptsA, _ := randomInput(rng, 2000, base, "a")
		textB, ptsB, _ := randomInput(rng, 2000, base+int64(90*time.Second), "b")
		var out bytes.Buffer
		e, err := New(cfg, &out)
		if err != nil {
			t.Fatal(err)
		}
		sa, sb := e.NewStream(), e.NewStream()
		done := make(chan error, 2)
		for _, job := range []struct {
			s    *Stream
			text string
			seed uint64
		}{{sa, textA, seed}, {sb, textB, seed + 100}} {
			go func() {
				_, err := job.s.ReadFrom(&chunkReader{rand.New(rand.NewPCG(job.seed, 1)), job.text})
				done <- err
			}()
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		sort.Strings(got)
		maxTime := fixedNow.UnixNano() + int64(time.Hour)
		wantA, lateA := reference(ptsA, &cfg.Window, maxTime)
		wantB, lateB := reference(ptsB, &cfg.Window, maxTime)
		want := append(wantA, wantB...)
		sort.Strings(want)
		c := e.Counters()
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: output differs from per-stream references:\n%s", seed, firstLines(diffLines(got, want), 20))
		}
		if int(c.Late) != lateA+lateB || c.ClosedEarly != 0 {
			t.Fatalf("seed %d: %s; want late=%d closed_early=0", seed, c.Summary(), lateA+lateB)
		}
	}
}

// TestMaxSeries: beyond the limit, points of new series are counted and
// dropped; the known series keep aggregating.
func TestMaxSeries(t *testing.T) {
	cfg := testConfig(t, 1, 0, "10s:count")
	cfg.MaxSeries = 3
	var in strings.Builder
	for round := range 2 {
		for s := range 5 {
			fmt.Fprintf(&in, "m,s=%d v=1 %d\n", s, 1700000000000000000+int64(round)*1e9)
		}
	}
	lines, c := run(t, cfg, strings.NewReader(in.String()))
	if c.SeriesLimit != 4 || c.Aggregated != 6 || c.Series != 3 || len(lines) != 3 {
		t.Fatalf("series limit %d, aggregated %d, series %d, rollups %d", c.SeriesLimit, c.Aggregated, c.Series, len(lines))
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`{"metric":"m_v","tags":{"s":"%d"},"step":"10s","start":1700000000,"aggregator":"count","value":2}`, i); l != want {
			t.Errorf("rollup %s, want %s", l, want)
		}
	}
}

// TestMaxSeriesBelowShards: a limit below the shard count still limits
// (each shard's share is rounded up to 1, not down to "no limit").
func TestMaxSeriesBelowShards(t *testing.T) {
	cfg := testConfig(t, 4, 0, "10s:count")
	cfg.MaxSeries = 1
	var in strings.Builder
	for s := range 40 {
		fmt.Fprintf(&in, "m,s=%d v=1 1700000000000000000\n", s)
	}
	_, c := run(t, cfg, strings.NewReader(in.String()))
	if c.Series < 1 || c.Series > 4 || c.SeriesLimit != 40-c.Series {
		t.Fatalf("limit 1 on 4 shards: %d series live, %d refused", c.Series, c.SeriesLimit)
	}
}

// TestDefaultBatchPoints: batches shrink as shards grow, so that batch
// memory (streams x shards x batches) stays bounded on many cores.
func TestDefaultBatchPoints(t *testing.T) {
	for _, c := range []struct{ shards, want int }{{1, 4096}, {2, 4096}, {4, 2048}, {8, 1024}, {32, 256}, {64, 256}} {
		cfg := testConfig(t, c.shards, 0, "1m:sum")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.BatchPoints != c.want {
			t.Errorf("%d shards: batch points %d, want %d", c.shards, cfg.BatchPoints, c.want)
		}
	}
}

// TestRouteByTags: routing by tag set gives the output routing by series
// gives, with the same series whichever way its lines split measurement
// and field, and keeps every series of one tag set in one shard.
func TestRouteByTags(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	text, _, _ := randomInput(rng, 3000, int64(1700000000)*int64(time.Second), "h")
	// One series written two ways (metric cpu_usage_value, tag host=s)
	// and a tag set with many series.
	text += "cpu,host=s usage_value=1 1700000001000000000\n" +
		"cpu_usage,host=s value=2 1700000002000000000\n" +
		"cpu,host=s usage_idle=3,usage_user=4,usage_system=5 1700000003000000000\n" +
		"mem,host=s used=6,free=7 1700000004000000000\n"
	run := func(shards int, byTags bool) ([]string, *Engine) {
		cfg := testConfig(t, shards, 10*time.Second, "10s:sum,count,first,last", "1m:sum,max")
		cfg.RouteByTags = byTags
		var out bytes.Buffer
		e, err := New(cfg, &out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.NewStream().ReadFrom(strings.NewReader(text)); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return sortedLines(&out), e
	}
	want, one := run(1, false)
	for _, byTags := range []bool{false, true} {
		got, e := run(4, byTags)
		if !slices.Equal(got, want) {
			t.Fatalf("4 shards, by tags %v: output differs from one shard's:\n%s", byTags, firstLines(diffLines(got, want), 20))
		}
		if s, w := e.Counters().Series, one.Counters().Series; s != w {
			t.Fatalf("4 shards, by tags %v: %d series, one shard has %d", byTags, s, w)
		}
		var sum uint64
		for _, n := range e.ShardSeries(nil) {
			sum += n
		}
		if sum != e.Counters().Series {
			t.Fatalf("ShardSeries sum to %d, Series is %d", sum, e.Counters().Series)
		}
		if !byTags {
			continue
		}
		// Closed engine: its shard goroutines have ended.
		shardOf := map[string]int{}
		for i, w := range e.shards {
			for _, key := range w.table.All() {
				tags := string(key[:bytes.IndexByte(key, 0x01)])
				if j, ok := shardOf[tags]; ok && j != i {
					t.Fatalf("tag set %q in shards %d and %d", tags, j, i)
				}
				shardOf[tags] = i
			}
		}
		if len(shardOf) < 10 {
			t.Fatalf("only %d tag sets: the test tests little", len(shardOf))
		}
	}
}
