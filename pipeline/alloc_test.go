package pipeline

import (
	"bytes"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
)

// TestZeroAllocsPerPoint proves the per-point path (decode, key, route,
// table lookup, window update) and the steady-state window closing and
// encoding allocate nothing: each run feeds one 10s interval of 50 hosts
// (4500 points) with escapes, unsorted tags and a malformed line mixed in,
// and a 1m window closes every 6 runs.
func TestZeroAllocsPerPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counting needs a quiet process")
	}
	cfg := testConfig(t, 2, 0, "1m:sum,count,min,max,first,last,avg", "1h:sum,count")
	g := gen.NewTelegraf(gen.Config{Hosts: 50})
	base := g.AppendInterval(nil)
	base = append(base, "weird\\ meas,z=1,a=x\\,y f=1,g=2i 1700000000000000000\nbroken line\n"...)
	// Timestamps all have 19 digits; rewrite them in place per run.
	var tsOffs []int
	for i := 0; i < len(base); {
		nl := bytes.IndexByte(base[i:], '\n') + i
		if nl-20 >= 0 && base[nl-20] == ' ' {
			tsOffs = append(tsOffs, nl-19)
		}
		i = nl + 1
	}
	e, err := New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.NewStream()
	ts := gen.DefaultStart.UnixNano()
	feed := func() {
		var digits [19]byte
		d := strconv.AppendInt(digits[:0], ts, 10)
		for _, off := range tsOffs {
			copy(base[off:off+19], d)
		}
		ts += int64(10 * time.Second)
		s.Feed(base, true)
		s.Flush()
		e.Sync()
	}
	for range 30 { // warm up: series, pages, buffers, a few window closes
		feed()
	}
	runtime.GC()
	allocs := testing.AllocsPerRun(60, feed)
	if allocs != 0 {
		t.Fatalf("%.1f allocations per run of %d points; want 0", allocs, g.PointsPerInterval())
	}
}
