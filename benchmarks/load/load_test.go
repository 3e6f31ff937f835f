package load

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/fastparse"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDjb2(t *testing.T) {
	// FORMATS.md section 6 (gcc on x86-64, signed char). raw is 0 where
	// the table gives none.
	for _, v := range []struct {
		in                   string
		raw                  int32
		mod10, mod7, mod1000 int32
	}{
		{"", 5381, 1, 5, 381},
		{"a", 177670, 0, 3, 670},
		{"cpu.idle", -1693813319, 9, 2, 319},
		{"host01.example.com", 1135519435, 5, 1, 435},
		{"a.very.long.metric.name.that.overflows.the.32bit.signed.integer.many.times", -372886427, 7, 4, 427},
		{"caf\xc3\xa9", 0, 5, 6, 275},
		{"a\x00bc", 177670, 0, 3, 670}, // C stops at the first NUL
	} {
		if v.raw != 0 {
			if got := djb2(v.in); got != v.raw {
				t.Errorf("djb2(%q) = %d, want %d", v.in, got, v.raw)
			}
		}
		for _, m := range []struct{ n, want int32 }{{10, v.mod10}, {7, v.mod7}, {1000, v.mod1000}} {
			if got := djb2Stream(v.in, m.n); got != m.want {
				t.Errorf("djb2Stream(%q, %d) = %d, want %d", v.in, m.n, got, m.want)
			}
		}
	}
}

func TestTopicNames(t *testing.T) {
	f := func(cfg Config, want []string, wantRe string) {
		t.Helper()
		got := Topics(cfg)
		if !slices.Equal(got, want) {
			t.Errorf("Topics = %q, want %q", got, want)
		}
		re := TopicRegex(cfg)
		if re != wantRe {
			t.Errorf("TopicRegex = %q, want %q", re, wantRe)
		}
		for _, tp := range got {
			// The whole name, as `rollup run --topic-regex` requires.
			if loc := regexp.MustCompile(re).FindStringIndex(tp); loc == nil || loc[0] != 0 || loc[1] != len(tp) {
				t.Errorf("%q does not match %q as a whole", tp, re)
			}
		}
	}
	f(Config{Series: 1000}, []string{"telegraf"}, `^telegraf$`)
	f(Config{Series: 1000, Topics: 3, TopicPrefix: "tg.x"}, []string{"tg.x-0", "tg.x-1", "tg.x-2"}, `^tg\.x-[0-9]+$`)
	// djb2("cpu") = 193488621 = 16*12093038 + 13.
	mapr := Topics(Config{Series: 91, Topology: MapR})
	if len(mapr) != 12 || mapr[0] != "metrics-13.host-00000_cpu" || !strings.HasSuffix(mapr[11], ".host-00001_system") {
		t.Errorf("mapr topics = %q", mapr)
	}
	f(Config{Series: 91, Topology: MapR}, mapr, `^metrics-[0-9]+\..+$`)
	for _, tp := range mapr {
		meas := tp[strings.LastIndexByte(tp, '_')+1:]
		if want := "metrics-" + strconv.Itoa(int(djb2Stream(meas, 16))) + "."; !strings.HasPrefix(tp, want) {
			t.Errorf("%q does not start with %q", tp, want)
		}
	}
	if regexp.MustCompile(TopicRegex(Config{Topology: MapR})).MatchString("telegraf") {
		t.Error("the mapr pattern matches a flat topic")
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Series: 1}
	for _, v := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no series", func(c *Config) { c.Series = 0 }, "series 0 is below the minimum of 1"},
		{"negative rate", func(c *Config) { c.Rate = -5 }, "rate -5 is negative"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate is not a number"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration -1s is negative"},
		{"disorder above 1", func(c *Config) { c.Disorder = 1.5 }, "disorder 1.5 exceeds the maximum of 1"},
		{"negative bound", func(c *Config) { c.DisorderBound = -1 }, "disorder bound -1 is negative"},
		{"late plus bad", func(c *Config) { c.Late, c.Bad = 0.6, 0.5 }, "late 0.6 plus bad 0.5 exceeds 1 (a line is at most one of them)"},
		{"topology", func(c *Config) { c.Topology = "star" }, `topology "star" is neither "flat" nor "mapr"`},
		{"prefix", func(c *Config) { c.StreamPrefix = "/var/mapr:x" }, `stream prefix "/var/mapr:x" is not a valid Kafka topic name start (allowed: a-z A-Z 0-9 . _ -)`},
		{"huge partitions", func(c *Config) { c.Partitions = 1 << 20 }, "partitions 1048576 exceeds the maximum of 100000"},
	} {
		c := ok
		v.edit(&c)
		err := c.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != v.want {
				t.Errorf("%s: got %q, want %q", v.name, got, v.want)
			}
		} else if v.want != "" {
			t.Errorf("%s: no error, want %q", v.name, v.want)
		}
	}
}

// newCluster starts an in-process broker and a producing client for cfg,
// with cfg's topics created.
func newCluster(t *testing.T, cfg Config) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(append(ProducerOpts(), kgo.SeedBrokers(c.ListenAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, cl, cfg, Topics(cfg)); err != nil {
		t.Fatal(err)
	}
	// A second call finds them existing, which is not an error.
	if err := EnsureTopics(ctx, cl, cfg, Topics(cfg)); err != nil {
		t.Fatal(err)
	}
	return c, cl
}

// consume reads records from the start of the topics matching re until
// they hold wantLines lines.
func consume(t *testing.T, c *kfake.Cluster, re string, wantLines int64) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeRegex(), kgo.ConsumeTopics(re),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var recs []*kgo.Record
	var lines int64
	for lines < wantLines {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d lines before the timeout", lines, wantLines)
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			lines += int64(bytes.Count(r.Value, []byte{'\n'}))
		})
	}
	if lines != wantLines {
		t.Fatalf("consumed %d lines, produced %d", lines, wantLines)
	}
	return recs
}

func lineTime(t *testing.T, line []byte) int64 {
	t.Helper()
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, err := strconv.ParseInt(string(line[bytes.LastIndexByte(line, ' ')+1:]), 10, 64)
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return ts
}

func hostOf(line []byte) string {
	i := bytes.Index(line, []byte("host=")) + len("host=")
	return string(line[i : i+bytes.IndexByte(line[i:], ',')])
}

// TestExactContent: without faults the broker holds exactly gen's lines,
// each host in one partition (sarama's choice for its key), in order.
func TestExactContent(t *testing.T) {
	cfg := Config{Series: 900, Duration: 1500 * time.Millisecond, Interval: time.Second, Topics: 2, Partitions: 3,
		LinesPerRecord: 3, Seed: 7}
	c, cl := newCluster(t, cfg)
	begin := time.Now()
	st, err := Run(t.Context(), cl, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines == 0 || st.AckedRecords != st.Records || st.FailedRecords != 0 || st.Points != st.Lines*90/11 {
		t.Fatalf("stats %+v", st)
	}
	recs := consume(t, c, `^telegraf-[0-9]+$`, st.Lines)

	// The first report is the oldest line.
	start := int64(math.MaxInt64)
	var got []string
	byHost := map[string][]string{} // lines in offset order
	hostAt := map[string]string{}   // host -> topic/partition
	for _, r := range recs {
		lines := strings.SplitAfter(string(r.Value), "\n")
		lines = lines[:len(lines)-1]
		if len(lines) > 3 {
			t.Fatalf("record of %d lines", len(lines))
		}
		for _, l := range lines {
			h := hostOf([]byte(l))
			if h != string(r.Key) {
				t.Fatalf("line of %s in a record keyed %q", h, r.Key)
			}
			start = min(start, lineTime(t, []byte(l)))
			got = append(got, l)
			byHost[h] = append(byHost[h], l)
			// Kafka record timestamps are milliseconds.
			if ts := lineTime(t, []byte(l)); ts > time.Now().UnixNano() || ts/1e6 != r.Timestamp.UnixMilli() {
				t.Fatalf("line time %d, record time %v", ts, r.Timestamp)
			}
		}
		at := r.Topic + "/" + strconv.Itoa(int(r.Partition))
		if prev, ok := hostAt[string(r.Key)]; ok && prev != at {
			t.Fatalf("host %s in %s and %s", r.Key, prev, at)
		}
		hostAt[string(r.Key)] = at
	}
	if start > begin.UnixNano() || start < begin.Add(-cfg.Duration-cfg.Interval).UnixNano() {
		t.Errorf("event time starts at %v, %v before the run", time.Unix(0, start), begin.Sub(time.Unix(0, start)))
	}
	for h := range cfg.Hosts() {
		key := hostName(h)
		want := flatTopic(cfg.withDefaults(), h%2) + "/" + strconv.Itoa(partitionOf([]byte(key), 3))
		if hostAt[key] != want {
			t.Errorf("host %s in %s, want %s", key, hostAt[key], want)
		}
	}

	// The same intervals from gen directly.
	g := gen.NewTelegraf(gen.Config{Hosts: cfg.Hosts(), Start: time.Unix(0, start), Interval: cfg.Interval, Seed: cfg.Seed})
	var all []byte
	for int64(bytes.Count(all, []byte{'\n'})) < st.Lines {
		all = g.AppendInterval(all)
	}
	want := strings.SplitAfter(string(all), "\n")[:st.Lines]
	wantByHost := map[string][]string{}
	for _, l := range want {
		wantByHost[hostOf([]byte(l))] = append(wantByHost[hostOf([]byte(l))], l)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consumed lines differ from gen's (%d vs %d)", len(got), len(want))
	}
	for h, w := range wantByHost {
		if !slices.Equal(byHost[h], w) {
			t.Errorf("host %s: lines out of order", h)
		}
	}
}

// captured is one record as the generator handed it over.
type captured struct {
	topic  string
	key    string
	stream int32
	ts     int64
	value  string
	at     time.Time // clock at hand-over
}

// capture returns a generator for cfg whose records are collected.
func capture(cfg Config, start time.Time) (*generator, *[]captured) {
	var out []captured
	g := newGenerator(cfg.withDefaults(), start)
	g.emit = func(s *slot) {
		out = append(out, captured{s.rec.Topic, string(s.rec.Key), s.stream, s.rec.Timestamp.UnixNano(), string(s.rec.Value), time.Now()})
		g.recycle(s)
	}
	return g, &out
}

// rounds makes n reports of every host, then the held lines.
func rounds(g *generator, n int) {
	for range n {
		ts := g.tg.Time().UnixNano()
		for h := range g.hosts {
			g.hostReport(h, ts)
		}
		g.tg.Advance()
	}
	g.drainHeld()
}

// TestFaults: injected faults come in the configured fractions, bad lines
// (and only they) are rejected, late lines are LateBy older.
func TestFaults(t *testing.T) {
	var d fastparse.InfluxDecoder
	for _, n := range badNumbers {
		d.Reset([]byte("m f="+n+",g=1 1\n"), 0, fastparse.Nanosecond)
		if !d.Next() || d.Err() == nil {
			t.Errorf("bad number %q is accepted", n)
		}
	}

	cfg := Config{Series: 1800, LinesPerRecord: 3, Bad: 0.1, Late: 0.05, Disorder: 0.1, LateBy: 3 * time.Minute, Seed: 42}
	g, out := capture(cfg, gen.DefaultStart)
	rounds(g, 100) // 20 hosts * 11 lines * 100 = 22000 lines
	tot := g.tot
	if tot.lines != 22000 || tot.records != int64(len(*out)) {
		t.Fatalf("totals %+v, %d records", tot, len(*out))
	}
	frac := func(name string, n int64, want float64) {
		if f := float64(n) / float64(tot.lines); math.Abs(f-want) > 0.01 {
			t.Errorf("%s fraction %.4f, want %.2f +- 0.01", name, f, want)
		} else {
			t.Logf("%s fraction %.4f", name, f)
		}
	}
	frac("bad", tot.bad, cfg.Bad)
	frac("late", tot.late, cfg.Late)
	frac("disordered", tot.disordered, cfg.Disorder)

	var rejected, late, points int64
	reasons := map[string]int{}
	for _, r := range *out {
		d.Reset([]byte(r.value), 0, fastparse.Nanosecond)
		for d.Next() {
			if err := d.Err(); err != nil {
				rejected++
				reasons[err.Reason.String()+": "+err.Msg]++
				continue
			}
			points += int64(len(d.Fields()))
			switch d.Time() {
			case r.ts:
			case r.ts - int64(cfg.LateBy):
				late++
			default:
				t.Fatalf("line time %d in a record of time %d", d.Time(), r.ts)
			}
		}
	}
	if rejected != tot.bad || late != tot.late || points != tot.points-tot.badPts {
		t.Errorf("decoded: %d rejected (want %d), %d late (want %d), %d points (want %d)",
			rejected, tot.bad, late, tot.late, points, tot.points-tot.badPts)
	}
	t.Logf("rejections: %v", reasons)

	// The same seed gives the same bytes.
	g2, out2 := capture(cfg, gen.DefaultStart)
	rounds(g2, 100)
	if !slices.EqualFunc(*out, *out2, func(a, b captured) bool { return a.value == b.value && a.topic == b.topic && a.key == b.key }) {
		t.Error("two runs with the same seed differ")
	}
}

// TestDisorderBound: a disordered line is overtaken by 1..DisorderBound
// lines of its partition stream, other lines by none.
func TestDisorderBound(t *testing.T) {
	for _, topo := range []string{Flat, MapR} {
		cfg := Config{Series: 900, Disorder: 0.2, DisorderBound: 10, Partitions: 2, Topology: topo, Seed: 3}
		g, out := capture(cfg, gen.DefaultStart)
		rounds(g, 20)
		// Reference order: gen's lines, routed like the generator.
		ref := gen.NewTelegraf(gen.Config{Hosts: g.hosts, Start: gen.DefaultStart, Interval: g.cfg.Interval, Seed: cfg.Seed})
		orig := map[string]int{} // line -> position in its stream
		next := map[int32]int{}
		for range 20 {
			for h := range g.hosts {
				lines := strings.SplitAfter(string(ref.AppendHost(nil, h)), "\n")
				for i, l := range lines[:len(lines)-1] {
					_, st := g.route(h, i)
					orig[l] = next[st]
					next[st]++
				}
			}
			ref.Advance()
		}
		seen := map[int32][]int{} // stream -> original positions in emitted order
		var overtaken int64
		for _, r := range *out {
			for _, l := range strings.SplitAfter(r.value, "\n") {
				if l == "" {
					continue
				}
				p, ok := orig[l]
				if !ok {
					t.Fatalf("%s: unknown line %q", topo, l)
				}
				n := 0
				for _, q := range seen[r.stream] {
					if q > p {
						n++
					}
				}
				if n > cfg.DisorderBound {
					t.Fatalf("%s: line overtaken by %d lines", topo, n)
				}
				if n > 0 {
					overtaken++
				}
				seen[r.stream] = append(seen[r.stream], p)
			}
		}
		if overtaken != g.tot.disordered || overtaken == 0 {
			t.Errorf("%s: %d lines overtaken, %d disordered", topo, overtaken, g.tot.disordered)
		}
	}
}

// TestEventTimeFollowsClock runs the generator on synctest's fake clock:
// no report is produced before its time, the unlimited mode starts
// Duration back, and the rate is met.
func TestEventTimeFollowsClock(t *testing.T) {
	for _, v := range []struct {
		name       string
		cfg        Config
		wantPoints float64
	}{
		// 10 hosts, 900 points per round. Unlimited: rounds at -20s,
		// -10s and 0 at once, +10s on time, +20s is the deadline.
		{"unlimited", Config{Series: 900, Duration: 20 * time.Second}, 900 * 4},
		{"rate", Config{Series: 900, Rate: 20000, Duration: 3 * time.Second}, 60000},
		{"rate with interval", Config{Series: 900, Rate: 20000, Interval: time.Second, Duration: 3 * time.Second}, 2700},
	} {
		synctest.Test(t, func(t *testing.T) {
			cfg := v.cfg.withDefaults()
			t0 := time.Now()
			g, out := capture(cfg, eventStart(cfg, t0))
			g.run(t.Context(), t0)
			for _, r := range *out {
				if r.ts > r.at.UnixNano() {
					t.Fatalf("%s: record of time %v produced at %v", v.name, time.Unix(0, r.ts), r.at)
				}
			}
			first := (*out)[0].ts
			if want := eventStart(cfg, t0).UnixNano(); first != want {
				t.Errorf("%s: first report at %v, want %v", v.name, time.Unix(0, first), time.Unix(0, want))
			}
			if got := float64(g.tot.points); math.Abs(got-v.wantPoints) > 0.02*v.wantPoints {
				t.Errorf("%s: %v points, want %v", v.name, got, v.wantPoints)
			}
		})
	}
}

// TestRatePacing is a behaviour bound on the real clock and broker, not a
// speed test: 20000 points/s for 1.5s.
func TestRatePacing(t *testing.T) {
	cfg := Config{Series: 10000, Rate: 20000, Duration: 1500 * time.Millisecond, LinesPerRecord: 11}
	_, cl := newCluster(t, cfg)
	var calls int
	st, err := Run(t.Context(), cl, cfg, func(Stats) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(st.Points)-30000) > 0.15*30000 {
		t.Errorf("%d points, want 30000 +- 15%%", st.Points)
	}
	if st.AckedPoints != st.Points || st.AckedBytes != st.Bytes {
		t.Errorf("acked %d of %d points, %d of %d bytes", st.AckedPoints, st.Points, st.AckedBytes, st.Bytes)
	}
	if calls == 0 {
		t.Error("progress was never called")
	}
	t.Logf("%d points in %v: %.0f points/s", st.Points, st.Elapsed, st.PointsPerSec())
}

// TestMapR: records land in the host's measurement topic.
func TestMapR(t *testing.T) {
	cfg := Config{Series: 180, Topology: MapR, Streams: 5, Partitions: 1, Duration: 500 * time.Millisecond, Interval: time.Second, LinesPerRecord: 2}
	c, cl := newCluster(t, cfg)
	st, err := Run(t.Context(), cl, cfg, nil)
	if err != nil || st.Lines == 0 {
		t.Fatal(st, err)
	}
	for _, r := range consume(t, c, TopicRegex(cfg), st.Lines) {
		for _, l := range strings.SplitAfter(string(r.Value), "\n") {
			if l == "" {
				continue
			}
			meas := l[:strings.IndexByte(l, ',')]
			want := maprTopic(cfg.withDefaults(), string(r.Key), meas)
			if r.Topic != want || hostOf([]byte(l)) != string(r.Key) {
				t.Fatalf("line %q in topic %s (key %s), want %s", l, r.Topic, r.Key, want)
			}
		}
	}
}

// TestRunNeedsPartitioner: a client without ProducerOpts would scatter a
// host over partitions; Run refuses it.
func TestRunNeedsPartitioner(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := Run(t.Context(), cl, Config{Series: 1}, nil); err == nil || !strings.Contains(err.Error(), "ProducerOpts") {
		t.Fatalf("err = %v", err)
	}
}

// TestCancel: canceling stops the run early without an error.
func TestCancel(t *testing.T) {
	cfg := Config{Series: 900, Rate: 10000, Duration: time.Hour}
	_, cl := newCluster(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	st, err := Run(ctx, cl, cfg, nil)
	if err != nil || st.Points == 0 || st.Elapsed > 10*time.Second {
		t.Fatalf("stats %+v, err %v", st, err)
	}
}
