package window

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

type rec struct {
	series  uint32
	archive int
	start   int64
	agg     Agg
}

type recorder struct{ got []rec }

func (r *recorder) Emit(series uint32, archive int, start int64, a *Agg) {
	r.got = append(r.got, rec{series, archive, start, *a})
}

func mustConfig(t *testing.T, lateness time.Duration, specs ...string) *Config {
	t.Helper()
	c := &Config{Lateness: lateness}
	for _, s := range specs {
		a, err := ParseArchive(s)
		if err != nil {
			t.Fatal(err)
		}
		c.Archives = append(c.Archives, a)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAggTiesAndMerge(t *testing.T) {
	var a Agg
	a.Add(20, 1)
	a.Add(10, 2) // earlier: new first
	a.Add(10, 3) // tie on first time: earlier arrival (2) stays first
	a.Add(30, 4)
	a.Add(30, 5) // tie on last time: later arrival (5) becomes last
	want := Agg{Sum: 15, Count: 5, Min: 1, Max: 5, First: 2, FirstTime: 10, Last: 5, LastTime: 30}
	if a != want {
		t.Fatalf("got %+v\nwant %+v", a, want)
	}
	if a.Value(Avg) != 3 || a.Value(Count) != 5 {
		t.Fatalf("avg %v count %v", a.Value(Avg), a.Value(Count))
	}
	var b Agg
	b.Add(40, -1)
	a.Merge(&b)
	want = Agg{Sum: 14, Count: 6, Min: -1, Max: 5, First: 2, FirstTime: 10, Last: -1, LastTime: 40}
	if a != want {
		t.Fatalf("merged %+v\nwant %+v", a, want)
	}
	var z Agg
	z.Add(1, math.Copysign(0, -1))
	if math.Signbit(z.Sum) {
		t.Fatal("sum of -0 should be +0 (a running total starts at 0)")
	}
}

// TestStoreCloseAndCoarse walks one series through fine windows of 10s and
// a coarse archive of 30s, checking every emitted record.
func TestStoreCloseAndCoarse(t *testing.T) {
	c := mustConfig(t, 0, "30s:sum", "10s:sum,count")
	s := NewStore(c)
	r := &recorder{}
	base := int64(1700000000) * sec // aligned to 10s, not to 30s (1700000000 % 30 == 20)
	add := func(idx uint32, ts int64, v float64) {
		t.Helper()
		if !s.Add(idx, base+ts*sec, v) {
			t.Fatalf("point at +%ds refused", ts)
		}
	}
	add(0, 0, 1)  // fine [0,10) ; coarse window [1699999980, +30) -> contains +0..+9
	add(0, 5, 2)  // same fine window
	add(1, 12, 7) // other series, fine [10,20) (coarse [1700000010, ...))
	add(0, 15, 4)
	s.Advance(base+10*sec, r, nil)
	// Fine [0,10) closes, and so does the coarse window
	// [1699999980,1700000010) that ends with it.
	fine := Agg{Sum: 3, Count: 2, Min: 1, Max: 2, First: 1, FirstTime: base, Last: 2, LastTime: base + 5*sec}
	if len(r.got) != 2 || r.got[0] != (rec{0, 0, 1700000000, fine}) || r.got[1] != (rec{0, 1, 1699999980, fine}) {
		t.Fatalf("after first close: %+v", r.got)
	}
	if s.Add(0, base+9*sec, 1) {
		t.Fatal("point into a closed window was accepted")
	}
	r.got = nil
	s.Advance(base+20*sec, r, nil)
	var got []string
	for _, g := range r.got {
		got = append(got, fmt.Sprintf("s%d a%d %d sum=%g n=%d", g.series, g.archive, g.start, g.agg.Sum, g.agg.Count))
	}
	want := []string{
		"s0 a0 1700000010 sum=4 n=1",
		"s1 a0 1700000010 sum=7 n=1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r.got = nil
	add(0, 25, 10)
	s.Flush(r)
	got = nil
	for _, g := range r.got {
		got = append(got, fmt.Sprintf("s%d a%d %d sum=%g n=%d", g.series, g.archive, g.start, g.agg.Sum, g.agg.Count))
	}
	want = []string{
		"s0 a0 1700000020 sum=10 n=1",
		"s0 a1 1700000010 sum=14 n=2",
		"s1 a1 1700000010 sum=7 n=1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("flush got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.OpenWindows() != 0 {
		t.Fatalf("%d windows open after Flush", s.OpenWindows())
	}
}

func TestStreamLateness(t *testing.T) {
	c := mustConfig(t, 15*time.Second, "10s:sum")
	st := NewStream(c)
	if st.Watermark() != math.MinInt64 {
		t.Fatal("fresh stream has a watermark")
	}
	check := func(ts int64, want bool) {
		t.Helper()
		if got := st.Accept(ts * sec); got != want {
			t.Fatalf("Accept(%d) = %v, want %v (watermark %d)", ts, got, want, st.Watermark()/sec)
		}
	}
	check(100, true) // W = 85
	check(80, true)  // window [80,90) ends 90 > 85
	check(79, false) // window [70,80) ends 80 <= 85
	check(130, true) // W = 115
	check(110, true) // [110,120) ends 120 > 115
	check(109, false)
	check(-5, false)
	if st.Watermark() != 115*sec {
		t.Fatalf("watermark %d", st.Watermark())
	}
	if WindowStart(-5*sec, 10*sec) != -10*sec || WindowStart(-10*sec, 10*sec) != -10*sec {
		t.Fatal("WindowStart must floor negative times")
	}
}

func TestExpiry(t *testing.T) {
	c := mustConfig(t, 0, "10s:sum", "20s:sum")
	c.SeriesTTL = 30 * time.Second
	s := NewStore(c)
	r := &recorder{}
	var deleted []uint32
	del := func(i uint32) { deleted = append(deleted, i) }
	s.SeriesAdded(0)
	s.SeriesAdded(1)
	s.Add(0, 0, 1)
	s.Add(1, 0, 1)
	// Series 0 last has data in [0,10), which closes at 10: it must live
	// through at least the TTL (until 40) and be gone by 1.25 TTL (47.5)
	// plus one sweep period's granularity.
	for ts := int64(10); ts <= 100; ts += 10 {
		s.Add(1, ts*sec, 1) // series 1 stays busy
		s.Advance(ts*sec, r, del)
		if ts <= 40 && len(deleted) > 0 {
			t.Fatalf("series deleted at %ds, before the TTL", ts)
		}
		if ts >= 60 && !slices.Equal(deleted, []uint32{0}) {
			t.Fatalf("at %ds deleted %v, want [0]", ts, deleted)
		}
	}
}

// A TTL below the coarsest step must not delete a series whose data sits
// in an open coarse window: it is deleted only after that window closed
// (and the TTL passed).
func TestExpiryKeepsOpenCoarseWindows(t *testing.T) {
	c := mustConfig(t, 0, "10s:sum", "1h:sum")
	c.SeriesTTL = 30 * time.Second
	s := NewStore(c)
	r := &recorder{}
	var deleted []uint32
	del := func(i uint32) { deleted = append(deleted, i) }
	s.SeriesAdded(0)
	s.SeriesAdded(1)
	s.Add(0, 0, 7) // series 0: one point, then silence
	for ts := int64(10); ts <= 3700; ts += 10 {
		s.Add(1, ts*sec, 1)
		s.Advance(ts*sec, r, del)
		if ts < 3600 && len(deleted) > 0 {
			t.Fatalf("series deleted at %ds while its 1h window [0,3600) is open", ts)
		}
	}
	if !slices.Equal(deleted, []uint32{0}) {
		t.Fatalf("deleted %v after the 1h window closed and the TTL passed, want [0]", deleted)
	}
}

func TestParseArchiveAndValidate(t *testing.T) {
	good := map[string]int64{"10s": 10, "1m": 60, "1h30m": 5400, "1d": 86400, "1d12h": 129600, "90s": 90, "1w": 604800, "1w1d": 691200}
	for in, want := range good {
		got, err := ParseStep(in)
		if err != nil || got != want {
			t.Errorf("ParseStep(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0s", "-1m", "1.5s", "500ms", "d", "1x", "1dd", "w", "1ww"} {
		if _, err := ParseStep(in); err == nil {
			t.Errorf("ParseStep(%q) accepted", in)
		}
	}
	badArchives := map[string]string{
		"1m":             "want STEP:AGG",
		"1m:":            "want STEP:AGG",
		"1m:sum,median":  `unknown aggregator "median"`,
		"1m:sum,sum":     "aggregator sum listed twice",
		"1.5s:sum":       "not a whole number of seconds",
		"1m:sum,count,x": "unknown aggregator",
	}
	for in, want := range badArchives {
		if _, err := ParseArchive(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseArchive(%q) error %v, want it to mention %q", in, err, want)
		}
	}
	badConfigs := map[string][]string{
		"have the same step":    {"1m:sum", "60s:count"},
		"not a whole multiple":  {"1m:sum", "90s:sum"},
		"no archive configured": {},
	}
	for want, specs := range badConfigs {
		c := &Config{}
		for _, sp := range specs {
			a, _ := ParseArchive(sp)
			c.Archives = append(c.Archives, a)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%v) error %v, want %q", specs, err, want)
		}
	}
	c := mustConfig(t, 0, "1h:sum", "1m:count", "1d:max")
	if c.Archives[0].Name != "1m" || c.Archives[2].Name != "1d" || c.SeriesTTL != 24*time.Hour {
		t.Fatalf("Validate did not sort finest first / default TTL: %+v", c)
	}
}
