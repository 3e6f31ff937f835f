package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollupd/rollup/benchmarks/load"
	"github.com/rollupd/rollup/emit"
)

// writeReport writes out as the HTML page of --report.
func (b *benchCmd) writeReport(out benchOutcome) error {
	f, err := os.Create(b.Report)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	if err := writeReportHTML(f, b.reportData(out)); err != nil {
		f.Close()
		return fmt.Errorf("--report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

// reportData turns a run into the page's tables and plots.
func (b *benchCmd) reportData(out benchOutcome) benchReport {
	cfg := b.config()
	st := out.st
	r := benchReport{Title: "rollup bench, " + out.start.UTC().Format(time.RFC3339), Created: time.Now()}
	param := func(k, v string) { r.Params = append(r.Params, [2]string{k, v}) }
	param("series", fmt.Sprintf("%d (%d hosts)", cfg.Hosts()*load.SeriesPerHost(), cfg.Hosts()))
	if b.Rate > 0 {
		param("rate", fmt.Sprintf("%.0f points/s", b.Rate))
	} else {
		param("rate", "unlimited")
	}
	param("duration", b.Duration.String())
	param("interval", cfg.EventInterval().String())
	param("topology", fmt.Sprintf("%s, %d topics, %d partitions each", cfg.Topology, len(load.Topics(cfg)), b.Partitions))
	param("lines per record", strconv.Itoa(b.LinesPerRecord))
	param("faults", fmt.Sprintf("disorder %g (bound %d), late %g (by %s), bad %g", b.Disorder, b.DisorderBound, b.Late, b.LateBy, b.Bad))
	param("seed", strconv.FormatUint(b.Seed, 10))
	brokers := "embedded (kfake)"
	if len(b.Brokers) > 0 {
		brokers = strings.Join(b.Brokers, ",")
	}
	param("brokers", brokers)
	if b.E2E {
		mode := "live (pipeline runs while the load is produced)"
		if b.E2EBacklog {
			mode = "backlog (pipeline starts after the load is produced)"
		}
		param("pipeline", mode)
		param("archives", strings.Join(b.E2EArchive, "; "))
		param("lateness", b.E2ELateness.String())
		param("output format", b.E2EOutputFormat)
		if b.E2ECheckpoint != "" {
			param("checkpoints", fmt.Sprintf("%s every %s, delivery %s", b.E2ECheckpoint, b.E2ECkptInterval, cmp.Or(b.E2EDelivery, "exactly-once")))
		}
	}

	sum := func(k, format string, a ...any) {
		r.Summary = append(r.Summary, [2]string{k, fmt.Sprintf(format, a...)})
	}
	sum("produced", "%d points in %d records (%.1f MB) in %s", st.Points, st.Records, float64(st.Bytes)/1e6, st.Elapsed.Round(time.Millisecond))
	sum("produced points/s", "%.0f", st.PointsPerSec())
	if b.Rate > 0 {
		sum("achieved", "%.0f%% of the requested rate", 100*st.PointsPerSec()/b.Rate)
		if st.PointsPerSec() < 0.95*b.Rate {
			sum("short because", "%s", shortfall(st))
		}
	}
	if st.FailedRecords > 0 {
		sum("produce errors", "%d records", st.FailedRecords)
	}
	if e := out.e2e; e != nil {
		sum("pipeline points/s", "%.0f (points read / time from start to everything read)", e.points/e.wall)
		if e.cpuSeconds > 0 && e.points > 0 {
			sum("pipeline CPU", "%.2f s: %.0f points per CPU-second, %.0f ns per point", e.cpuSeconds, e.points/e.cpuSeconds, e.cpuSeconds*1e9/e.points)
		}
		sum("pipeline peak memory", "%.1f MiB resident", e.peakRSS/(1<<20))
		if e.rollups > 0 {
			sum("rollups", "%.0f in %.0f records; emit latency p50 %s, p99 %s", e.rollups, e.outRecords, e.latP50, e.latP99)
		} else {
			sum("rollups", "none: no window closed during the run")
		}
		sum("late, malformed", "%.0f points late, %.0f lines malformed", e.late, e.malformed)
	}

	// Throughput: the producer's and, with --e2e, the pipeline's.
	tput := reportPlot{Title: "Throughput", Unit: "points/s"}
	var prodLine reportLine
	prodLine.Name = "produced"
	for i := 1; i < len(out.produced); i++ {
		a, c := out.produced[i-1], out.produced[i]
		if dt := (c.Elapsed - a.Elapsed).Seconds(); dt > 0 {
			prodLine.T = append(prodLine.T, c.Elapsed.Seconds())
			prodLine.V = append(prodLine.V, float64(c.Points-a.Points)/dt)
		}
	}
	tput.Lines = append(tput.Lines, prodLine)
	r.Plots = append(r.Plots, tput)
	if out.e2e == nil {
		return r
	}
	samples := out.e2e.samples
	consumed := reportLine{Name: "consumed by the pipeline"}
	lag := reportLine{Name: "records behind, all partitions"}
	rss := reportLine{Name: "resident"}
	p50, p99 := reportLine{Name: "p50"}, reportLine{Name: "p99"}
	for i, sm := range samples {
		t := sm.at.Sub(out.start).Seconds()
		lag.T, lag.V = append(lag.T, t), append(lag.V, sm.lag)
		rss.T, rss.V = append(rss.T, t), append(rss.V, sm.rss)
		if i == 0 {
			continue
		}
		prev := samples[i-1]
		if dt := sm.at.Sub(prev.at).Seconds(); dt > 0 {
			consumed.T, consumed.V = append(consumed.T, t), append(consumed.V, (sm.points-prev.points)/dt)
		}
		// Latency of the rollups acknowledged over the last ~5 seconds.
		from := samples[max(0, i-5)]
		// Beyond the last bucket is drawn at its bound.
		q50 := min(deltaQuantile(from.latency, sm.latency, 0.5), emit.LatencyBuckets[len(emit.LatencyBuckets)-1].Seconds())
		q99 := min(deltaQuantile(from.latency, sm.latency, 0.99), emit.LatencyBuckets[len(emit.LatencyBuckets)-1].Seconds())
		p50.T, p50.V = append(p50.T, t), append(p50.V, q50)
		p99.T, p99.V = append(p99.T, t), append(p99.V, q99)
	}
	r.Plots[0].Lines = append(r.Plots[0].Lines, consumed)
	r.Plots = append(r.Plots,
		reportPlot{Title: "Consumer lag", Unit: "records", Lines: []reportLine{lag}},
		reportPlot{Title: "Pipeline memory", Unit: "bytes", Lines: []reportLine{rss}},
		reportPlot{Title: "Emit latency (window close to broker ack, bucket upper bounds, last 5 s)", Unit: "seconds", Lines: []reportLine{p50, p99}})
	return r
}

// deltaQuantile estimates quantile q of the observations between two
// scrapes of a histogram's buckets (cumulative counts by metric line) as
// the upper bound of its bucket (+Inf beyond the last); NaN when nothing
// was observed.
func deltaQuantile(from, to map[string]float64, q float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	const p = `rollup_emit_latency_seconds_bucket{le="`
	for k, v := range to {
		s := strings.TrimSuffix(strings.TrimPrefix(k, p), `"}`)
		le := math.Inf(1)
		if s != "+Inf" {
			le, _ = strconv.ParseFloat(s, 64)
		}
		bs = append(bs, bucket{le, v - from[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n <= 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= q*total {
			return b.le
		}
	}
	return math.NaN()
}
