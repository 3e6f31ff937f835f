package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

// calibration is the cost model of `rollup plan`: what the pipeline
// costs on one machine for one workload shape. CPU is in CPU-seconds,
// memory resident bytes; per-point and per-series figures are slopes
// of the line through several runs, so fixed costs land in the bases.
type calibration struct {
	Shape   string    `json:"shape"`
	Source  string    `json:"source"`
	Machine string    `json:"machine"`
	Date    time.Time `json:"date"`

	CPUBase                  float64 `json:"cpu_base_cores"`
	CPUPerPoint              float64 `json:"cpu_per_point"`     // at RollupsPerPoint
	RollupsPerPoint          float64 `json:"rollups_per_point"` // of the calibrated shape
	CPUPerRollup             float64 `json:"cpu_per_rollup"`    // corrects other shapes
	MemoryBase               float64 `json:"memory_base_bytes"` //
	MemoryPerSeries          float64 `json:"memory_per_series"` // at OpenWindows
	OpenWindows              float64 `json:"open_windows"`      // per series, of the calibrated shape
	MemoryPerWindow          float64 `json:"memory_per_window"` // corrects other shapes
	OutputFormat             string  `json:"output_format"`     //
	InputBytesPerPoint       float64 `json:"input_bytes_per_point"`
	OutputBytesPerRollup     float64 `json:"output_bytes_per_rollup"`
	CheckpointBytesPerSeries float64 `json:"checkpoint_bytes_per_series"`
	CheckpointPausePerSeries float64 `json:"checkpoint_pause_per_series"` // seconds

	Runs []calibrationRun `json:"runs"`
}

// calibrationRun is one bench --e2e measurement.
type calibrationRun struct {
	Series       float64 `json:"series"`
	PointsPerSec float64 `json:"points_per_second"`
	Cores        float64 `json:"cpu_cores"` // CPU-seconds per second, after warmup
	PeakRSS      float64 `json:"peak_resident_bytes"`
}

// builtinCalibration is what `rollup plan --calibrate --series 1000000`
// measured with its defaults on a 2-vCPU Intel Xeon on 2026-11-29
// (benchmarks/RESULTS.md): the plan of a machine that was never
// calibrated.
var builtinCalibration = calibration{
	Shape:   "archives 1m:sum,count,min,max; interval 10s; lateness 30s; output opentsdb; checkpoint 1m0s exactly-once",
	Source:  "benchmarks/RESULTS.md (plan --calibrate on a 2-vCPU Intel Xeon, 2026-11-29); run plan --calibrate for this machine's",
	Machine: "2 cores, Intel(R) Xeon(R) Processor",
	Date:    time.Date(2026, 11, 29, 22, 35, 18, 0, time.UTC),

	CPUBase: 0.0297, CPUPerPoint: 3.51e-6, RollupsPerPoint: 4.0 / 6, CPUPerRollup: cpuPerRollup,
	MemoryBase: 60.6e6, MemoryPerSeries: 1303, OpenWindows: 2, MemoryPerWindow: memoryPerWindow,
	OutputFormat: "opentsdb", InputBytesPerPoint: 30.8, OutputBytesPerRollup: 195.9,
	CheckpointBytesPerSeries: 198.6, CheckpointPausePerSeries: 388e-9,
	Runs: []calibrationRun{
		{Series: 25020, PointsPerSec: 2498, Cores: 0.0337, PeakRSS: 78.9e6},
		{Series: 75060, PointsPerSec: 7491, Cores: 0.0639, PeakRSS: 182.4e6},
		{Series: 150030, PointsPerSec: 14981, Cores: 0.0791, PeakRSS: 246.6e6},
	},
}

// Defaults of the parts a calibration cannot separate (a window's record
// with Go's heap overhead; a rollup's encoding and produce, from the
// issue 3 runs in RESULTS.md).
const (
	memoryPerWindow = 128
	cpuPerRollup    = 330e-9
)

// calibrate measures this workload's shape at each of --calibrate-series
// with `bench --e2e` (pipeline in a child process, live at the workload's
// interval) and fits the costs.
func (p *planCmd) calibrate(log *slog.Logger, std stdio, w workload) (calibration, error) {
	cs := p.CalibrateSeries
	if len(cs) < 2 || slices.Min(cs) <= 0 || slices.Max(cs) < 2*slices.Min(cs) {
		return calibration{}, usageError{errors.New("--calibrate-series wants two or more counts, the largest at least twice the smallest")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cal := calibration{Shape: p.shape(), Date: time.Now().UTC(), Machine: machineName(),
		RollupsPerPoint: w.rollupsPerPoint(), OpenWindows: w.openWindows(p.Lateness),
		CPUPerRollup: cpuPerRollup, MemoryPerWindow: memoryPerWindow, OutputFormat: p.OutputFormat}
	cal.Source = fmt.Sprintf("plan --calibrate on %s, %s", cal.Machine, cal.Date.Format(time.DateOnly))
	var last benchOutcome
	for _, series := range p.CalibrateSeries {
		ckptDir := ""
		if p.CheckpointInterval > 0 {
			dir, err := os.MkdirTemp("", "rollup-calibrate-")
			if err != nil {
				return cal, err
			}
			ckptDir = dir
		}
		b, err := p.calibrationBench(series, ckptDir)
		if err == nil {
			err = b.config().Validate()
		}
		if err != nil {
			return cal, err
		}
		log.Info("calibration run", "series", series, "duration", p.CalibrateDuration)
		fmt.Fprintf(std.err, "-- calibration run: %d series --\n", series)
		out, err := b.measure(ctx, log, stdio{in: std.in, out: std.err, err: std.err})
		if ckptDir != "" {
			os.RemoveAll(ckptDir) // the child has exited
		}
		if err != nil {
			return cal, fmt.Errorf("calibration run with %d series: %w", series, err)
		}
		e := out.e2e
		if e.wall <= 0 || e.points <= 0 {
			return cal, fmt.Errorf("calibration run with %d series read no points", series)
		}
		if e.steadyCores <= 0 {
			return cal, fmt.Errorf("calibration run with %d series too short to measure CPU after warmup (raise --calibrate-duration)", series)
		}
		cal.Runs = append(cal.Runs, calibrationRun{Series: e.series, PointsPerSec: e.points / e.wall, Cores: e.steadyCores, PeakRSS: e.peakRSS})
		last = out
	}
	var pts, cores, series, rss []float64
	for _, r := range cal.Runs {
		pts, cores = append(pts, r.PointsPerSec), append(cores, r.Cores)
		series, rss = append(series, r.Series), append(rss, r.PeakRSS)
	}
	cal.CPUPerPoint, cal.CPUBase = fitLine(pts, cores)
	cal.MemoryPerSeries, cal.MemoryBase = fitLine(series, rss)
	e := last.e2e
	cal.InputBytesPerPoint = float64(last.st.Bytes) / float64(max(last.st.Points, 1))
	cal.OutputBytesPerRollup = builtinCalibration.OutputBytesPerRollup
	if e.rollups > 0 && e.outBytes > 0 {
		cal.OutputBytesPerRollup = e.outBytes / e.rollups
	}
	if e.checkpointSeries > 0 {
		cal.CheckpointBytesPerSeries = e.checkpointBytes / e.checkpointSeries
		cal.CheckpointPausePerSeries = e.checkpointPause / e.checkpointSeries
	}
	return cal, nil
}

// fitLine returns the slope and intercept of the least-squares line
// through the points (x[i], y[i]), the intercept at least 0. A slope the
// noise made negative or zero falls back to the line through the origin
// and the largest point: costs do not fall with load.
func fitLine(x, y []float64) (slope, base float64) {
	n := float64(len(x))
	var sx, sy float64
	for i := range x {
		sx, sy = sx+x[i], sy+y[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	slope = sxy / sxx
	if !(slope > 0) {
		i := slices.Index(x, slices.Max(x))
		return y[i] / x[i], 0
	}
	return slope, max(0, my-slope*mx)
}

// calibrationBench is the bench run of one calibration point, parsed as
// the command line would be so every other flag keeps its default.
func (p *planCmd) calibrationBench(series int, ckptDir string) (*benchCmd, error) {
	rate := float64(series) / p.Interval.Seconds()
	args := []string{"bench", "--series", strconv.Itoa(series), "--rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"--interval", p.Interval.String(), "--duration", p.CalibrateDuration.String(), "--progress", "none",
		"--e2e", "--e2e-archive", strings.Join(p.Archive, ";"), "--e2e-lateness", p.Lateness.String(),
		"--e2e-output-format", p.OutputFormat}
	if ckptDir != "" {
		args = append(args, "--e2e-checkpoint", ckptDir, "--e2e-checkpoint-interval", p.CheckpointInterval.String(), "--e2e-delivery", p.Delivery)
	}
	var cl cli
	parser, err := kong.New(&cl, kong.Name("rollup"), cliOptions())
	if err != nil {
		return nil, err
	}
	if _, err := parser.Parse(args); err != nil {
		return nil, fmt.Errorf("calibration bench %s: %w", strings.Join(args, " "), err)
	}
	return &cl.Bench, nil
}

// machineName is the CPU model and the cores Go may use.
func machineName() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores, %s", runtime.GOMAXPROCS(0), model)
}

// loadCalibration returns the calibration of shape in the file at path,
// else its newest one, else the built-in figures (no file yet).
func loadCalibration(path, shape string) (calibration, error) {
	cals, err := readCalibrations(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(cals) == 0) {
		return builtinCalibration, nil
	}
	if err != nil {
		return calibration{}, err
	}
	newest := cals[0]
	for _, c := range cals {
		if c.Shape == shape {
			return c, nil
		}
		if c.Date.After(newest.Date) {
			newest = c
		}
	}
	return newest, nil
}

func readCalibrations(path string) ([]calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cals []calibration
	if err := json.Unmarshal(b, &cals); err != nil {
		return nil, fmt.Errorf("calibration file %s: %w (remove it, or run plan --calibrate again)", path, err)
	}
	return cals, nil
}

// saveCalibration keeps cal in the file at path, replacing one of the
// same shape; the file is replaced whole, never left half written.
func saveCalibration(path string, cal calibration) error {
	cals, err := readCalibrations(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	kept := []calibration{cal}
	for _, c := range cals {
		if c.Shape != cal.Shape {
			kept = append(kept, c)
		}
	}
	b, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("calibration: %w", err)
	}
	return nil
}
