package load

import (
	"bytes"
	"testing"

	"github.com/rollupd/rollup/benchmarks/gen"
)

// BenchmarkGenerate measures building record values (gen's formatting,
// the faults, the framing and the slot recycling) with a client that
// accepts every record at once: the generator's own ceiling, not the
// broker's. One op is one host report (90 points).
func BenchmarkGenerate(b *testing.B) {
	for _, v := range []struct {
		name string
		cfg  Config
	}{
		{"lines-per-record=1", Config{LinesPerRecord: 1}},
		{"lines-per-record=10", Config{LinesPerRecord: 10}},
		{"lines-per-record=10/faults", Config{LinesPerRecord: 10, Disorder: 0.01, Late: 0.01, Bad: 0.01}},
		{"lines-per-record=10/mapr", Config{LinesPerRecord: 10, Topology: MapR}},
	} {
		b.Run(v.name, func(b *testing.B) {
			cfg := v.cfg
			cfg.Series, cfg.Seed = 100_000, 1
			g := newGenerator(cfg.withDefaults(), gen.DefaultStart)
			var records, lines int64
			g.emit = func(s *slot) {
				records++
				lines += int64(bytes.Count(s.rec.Value, []byte{'\n'}))
				g.recycle(s)
			}
			// Check before timing: one report is 11 lines, 90 points.
			g.hostReport(0, g.tg.Time().UnixNano())
			g.drainHeld()
			if lines != 11 || g.tot.points != 90 {
				b.Fatalf("one report gave %d lines, %d points", lines, g.tot.points)
			}
			g.emit = func(s *slot) { g.recycle(s) }
			b.SetBytes(int64(reportShape().bytes))
			b.ReportAllocs()
			h := 1
			ts := g.tg.Time().UnixNano()
			for b.Loop() {
				g.hostReport(h, ts)
				if h++; h == g.hosts {
					h = 0
					g.tg.Advance()
					ts = g.tg.Time().UnixNano()
				}
			}
			b.ReportMetric(float64(reportShape().points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
