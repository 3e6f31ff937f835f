package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// testCalibration has round figures, so the plan's arithmetic can be
// checked exactly.
var testCalibration = calibration{
	Shape:  "archives 1m:sum,count,min,max; interval 10s; lateness 30s; output opentsdb; checkpoint 1m0s exactly-once",
	Source: "test", CPUBase: 0.05, CPUPerPoint: 1e-6, RollupsPerPoint: 4.0 / 6, CPUPerRollup: 300e-9,
	MemoryBase: 50e6, MemoryPerSeries: 1000, OpenWindows: 2, MemoryPerWindow: 100,
	OutputFormat: "opentsdb", InputBytesPerPoint: 30, OutputBytesPerRollup: 100,
	CheckpointBytesPerSeries: 200, CheckpointPausePerSeries: 1e-7,
}

func parsePlan(t *testing.T, args ...string) *planCmd {
	t.Helper()
	var cl cli
	parser, err := kong.New(&cl, kong.Name("rollup"), cliOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(append([]string{"plan"}, args...)); err != nil {
		t.Fatal(err)
	}
	return &cl.Plan
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

func TestPlanArithmetic(t *testing.T) {
	// The calibrated shape: no correction.
	p := parsePlan(t, "--series", "600000")
	if p.shape() != testCalibration.Shape {
		t.Fatalf("shape %q, want %q", p.shape(), testCalibration.Shape)
	}
	w, err := p.workload()
	if err != nil {
		t.Fatal(err)
	}
	pl := p.plan(w, testCalibration)
	// 600k series every 10s: 60k points/s; 1m x 4 aggregators: 40k rollups/s.
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"points/s", pl.PointsPerSec, 60000},
		{"rollups/s", pl.RollupsPerSec, 40000},
		{"input bytes/s", pl.InputBytesPerS, 60000 * 30},
		{"output bytes/s", pl.Archives[0].OutputBytesPer, 40000 * 100},
		{"cpu", pl.CPUCores, 0.05 + 60000*1e-6},
		{"memory", pl.MemoryBytes, 50e6 + 600000*1000},
		{"memory with headroom", pl.MemoryPlanBytes, 1.5 * (50e6 + 600000*1000)},
		{"checkpoint bytes", pl.CheckpointBytes, 600000 * 200},
		{"checkpoint pause", float64(pl.CheckpointPause), 600000 * 1e-7 * 1e9},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if pl.Cores != 1 || pl.InputParts != 1 || pl.OutputParts != 1 { // 0.11 x 1.5 cores; 1.8 and 4 MB/s
		t.Errorf("cores %d, partitions %d in %d out; want 1, 1, 1", pl.Cores, pl.InputParts, pl.OutputParts)
	}
	for _, a := range pl.Assumptions {
		if strings.Contains(a, "another shape") {
			t.Errorf("calibrated shape reported as another: %s", a)
		}
	}

	// Another shape: 10s and 1h archives, every second, lateness 1m,
	// 1M series. Rollups per point 4*1/10 + 2*1/3600; open windows
	// 1 + 6 + 1 = 8 against 2 calibrated.
	p = parsePlan(t, "--hosts", "10000", "--series-per-host", "100", "--interval", "1s", "--lateness", "1m",
		"--archive", "1h:sum,count;10s:sum,count,min,max", "--headroom", "1", "--checkpoint-interval", "0")
	if w, err = p.workload(); err != nil {
		t.Fatal(err)
	}
	pl = p.plan(w, testCalibration)
	rpp := 0.4 + 2.0/3600
	wantCPU := 0.05 + 1e6*(1e-6+300e-9*(rpp-4.0/6))
	if !near(pl.CPUCores, wantCPU) || pl.Cores != int(math.Ceil(2*wantCPU)) {
		t.Errorf("cpu %v (%d cores), want %v (%d)", pl.CPUCores, pl.Cores, wantCPU, int(math.Ceil(2*wantCPU)))
	}
	if want := 50e6 + 1e6*(1000+100*(8-2)); !near(pl.MemoryBytes, want) {
		t.Errorf("memory %v, want %v", pl.MemoryBytes, want)
	}
	if pl.Archives[0].Name != "10s" || !near(pl.Archives[0].RollupsPerSec, 4e5) || !near(pl.Archives[1].RollupsPerSec, 2e6/3600) {
		t.Errorf("archives %+v", pl.Archives)
	}
	// 30 MB/s in with headroom 1: 6 partitions of 10 MB/s; 40 MB/s out: 9.
	if pl.InputParts != 6 || pl.OutputParts != 9 {
		t.Errorf("partitions %d in, %d out; want 6, 9", pl.InputParts, pl.OutputParts)
	}
	if pl.CheckpointBytes != 0 {
		t.Errorf("checkpoint %v bytes with no checkpoints", pl.CheckpointBytes)
	}
	if last := pl.Assumptions[len(pl.Assumptions)-1]; !strings.Contains(last, "calibrated for another shape") {
		t.Errorf("no note of the other shape: %q", last)
	}
}

func TestPlanCommand(t *testing.T) {
	dir := t.TempDir()
	calFile := filepath.Join(dir, "sub", "cal.json")
	// No file: the built-in figures, said so.
	code, out, errOut := runCLI(t, "", "plan", "--series", "100000", "--calibration", calFile)
	if code != 0 || !strings.Contains(out, "benchmarks/RESULTS.md") || !strings.Contains(out, "series             100000") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	// Saved calibrations: the one of the shape wins, another is replaced.
	other := testCalibration
	other.Shape, other.Source, other.Date = "archives 1h:sum; interval 1s; lateness 0s; output jsonl; no checkpoints", "other", time.Now()
	if err := saveCalibration(calFile, other); err != nil {
		t.Fatal(err)
	}
	if err := saveCalibration(calFile, testCalibration); err != nil {
		t.Fatal(err)
	}
	if err := saveCalibration(calFile, testCalibration); err != nil {
		t.Fatal(err)
	}
	cals, err := readCalibrations(calFile)
	if err != nil || len(cals) != 2 {
		t.Fatalf("%d calibrations saved (%v), want 2", len(cals), err)
	}
	code, out, errOut = runCLI(t, "", "plan", "--series", "600000", "--calibration", calFile, "--format", "json")
	var pl plan
	if err := json.Unmarshal([]byte(out), &pl); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s%s", code, err, out, errOut)
	}
	if pl.Assumptions[0] != "costs: test" || !near(pl.CPUCores, 0.11) || pl.Series != 600000 {
		t.Errorf("plan from the file: %+v", pl)
	}
	// A shape of no calibration: the newest, with a note.
	_, out, _ = runCLI(t, "", "plan", "--series", "1000", "--calibration", calFile, "--interval", "5s")
	if !strings.Contains(out, "costs: other") || !strings.Contains(out, "calibrated for another shape") {
		t.Errorf("other shape:\n%s", out)
	}
	os.WriteFile(calFile, []byte("{"), 0o644)
	if code, _, errOut = runCLI(t, "", "plan", "--series", "1", "--calibration", calFile); code != 1 || !strings.Contains(errOut, "calibration file") {
		t.Errorf("damaged file: exit %d, %s", code, errOut)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "needs --series"},
		{[]string{"plan", "--series", "1", "--hosts", "2"}, "not both"},
		{[]string{"plan", "--series", "1", "--archive", "1m:sum;90s:sum"}, "whole multiple"},
		{[]string{"plan", "--series", "1", "--calibrate", "--calibrate-series", "10,15"}, "at least twice"},
		{[]string{"plan", "--series", "1", "--calibrate", "--calibrate-series", "10"}, "two or more"},
	} {
		if code, _, errOut := runCLI(t, "", c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %s; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestFitLine(t *testing.T) {
	if s, b := fitLine([]float64{1, 3}, []float64{3, 7}); s != 2 || b != 1 {
		t.Errorf("fitLine: %v %v", s, b)
	}
	// y = 2x + 1 with noise +1, -2, +1: the noise cancels out.
	if s, b := fitLine([]float64{1, 2, 3}, []float64{4, 3, 8}); !near(s, 2) || !near(b, 1) {
		t.Errorf("noisy fitLine: %v %v", s, b)
	}
	if s, b := fitLine([]float64{4, 1}, []float64{4, 5}); s != 1 || b != 0 { // falling: through the origin and (4, 4)
		t.Errorf("falling fitLine: %v %v", s, b)
	}
}

// BenchmarkPlanAccuracy is the bar of `rollup plan`: calibrate at two
// sizes, plan a third, measure that with bench --e2e (the same workload,
// built by the same code) and report plan/measured for CPU and memory.
// Minutes long; run it alone:
//
//	go test -run '^$' -bench PlanAccuracy -benchtime 1x -timeout 30m ./cmd/rollup/
//
// ROLLUP_PLAN_BENCH_SERIES (default 200000) sets the planned size.
func BenchmarkPlanAccuracy(b *testing.B) {
	series := 200000
	if s := os.Getenv("ROLLUP_PLAN_BENCH_SERIES"); s != "" {
		series, _ = strconv.Atoi(s)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	args := []string{"--interval", "1s", "--archive", "10s:sum,count,min,max;1m:sum,count,min,max",
		"--checkpoint-interval", "10s", "--calibration", filepath.Join(dir, "cal.json"), "--calibrate-duration", "2m"}
	for i := 0; i < b.N; i++ {
		var cl cli
		parser, _ := kong.New(&cl, kong.Name("rollup"), cliOptions())
		if _, err := parser.Parse(append([]string{"plan", "--series", strconv.Itoa(series), "--calibrate", "--calibrate-series", "25000,75000,150000"}, args...)); err != nil {
			b.Fatal(err)
		}
		p := &cl.Plan
		w, err := p.workload()
		if err != nil {
			b.Fatal(err)
		}
		cal, err := p.calibrate(log, stdio{out: io.Discard, err: io.Discard}, w)
		if err != nil {
			b.Fatal(err)
		}
		pl := p.plan(w, cal)
		ckpt := b.TempDir()
		bench, err := p.calibrationBench(series, ckpt)
		if err != nil {
			b.Fatal(err)
		}
		out, err := bench.measure(context.Background(), log, stdio{out: io.Discard, err: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		e := out.e2e
		cores := e.steadyCores
		for _, r := range cal.Runs {
			b.Logf("calibration: %.0f series, %.0f points/s: %.4f cores, %.1f MiB peak", r.Series, r.PointsPerSec, r.Cores, r.PeakRSS/(1<<20))
		}
		b.Logf("measured: %.0f series, %.0f points/s: %.4f cores (%.4f over the whole run), %.1f MiB peak", e.series, e.points/e.wall, cores, e.cpuSeconds/e.wall, e.peakRSS/(1<<20))
		b.ReportMetric(pl.CPUCores, "plan-cores")
		b.ReportMetric(cores, "measured-cores")
		b.ReportMetric(pl.CPUCores/cores, "cpu-plan/measured")
		b.ReportMetric(pl.MemoryBytes/(1<<20), "plan-MiB")
		b.ReportMetric(e.peakRSS/(1<<20), "measured-MiB")
		b.ReportMetric(pl.MemoryBytes/e.peakRSS, "mem-plan/measured")
	}
}
