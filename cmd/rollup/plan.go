package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollupd/rollup/window"
)

// planCmd is `rollup plan`: what a workload needs, from costs measured on
// this machine (--calibrate) or recorded in benchmarks/RESULTS.md.
type planCmd struct {
	Series             int           `help:"Series of the workload (or --hosts times --series-per-host)." env:"ROLLUP_PLAN_SERIES"`
	Hosts              int           `help:"Hosts, each with --series-per-host series (instead of --series)." env:"ROLLUP_PLAN_HOSTS"`
	SeriesPerHost      int           `help:"Series per host, with --hosts (a Telegraf host with the default inputs has about 90)." default:"90" env:"ROLLUP_PLAN_SERIES_PER_HOST"`
	Interval           time.Duration `help:"Time between two points of a series (Telegraf's interval)." default:"10s" env:"ROLLUP_PLAN_INTERVAL"`
	Archive            []string      `help:"Archives, as run takes them (repeatable, or several separated by ;) (default ${default})." default:"1m:sum,count,min,max" sep:";" env:"ROLLUP_PLAN_ARCHIVE" placeholder:"STEP:AGGS"`
	Lateness           time.Duration `help:"run's --lateness." default:"30s" env:"ROLLUP_PLAN_LATENESS"`
	OutputFormat       string        `help:"run's --output-format (the formats bench --e2e can measure)." default:"opentsdb" enum:"opentsdb,jsonl" env:"ROLLUP_PLAN_OUTPUT_FORMAT"`
	CheckpointInterval time.Duration `help:"run's --checkpoint-interval; 0: no checkpoints." default:"1m" env:"ROLLUP_PLAN_CHECKPOINT_INTERVAL"`
	Delivery           string        `help:"run's --delivery with checkpoints." default:"exactly-once" enum:"exactly-once,at-least-once" env:"ROLLUP_PLAN_DELIVERY"`
	Headroom           float64       `help:"Spare capacity on top of the steady-state need, as a fraction (0.5: plan for 1.5 times the measured cost), for bursts, catch-up after an outage and GC." default:"0.5" env:"ROLLUP_PLAN_HEADROOM"`
	Calibration        string        `help:"File of the costs measured by --calibrate (default: rollup/calibration.json in the user's cache directory). Without one, the figures recorded in benchmarks/RESULTS.md are used." env:"ROLLUP_PLAN_CALIBRATION" placeholder:"FILE"`
	Calibrate          bool          `help:"Measure the costs on this machine first: 'bench --e2e' runs of this workload's shape (archives, interval, lateness, format, checkpoints) at --calibrate-series, each with its pipeline in a child process; then save them to --calibration and plan." env:"ROLLUP_PLAN_CALIBRATE"`
	CalibrateSeries    []int         `help:"Series of the calibration runs, one run each; the costs per point and per series are the slope of the least-squares line through them, so they should span several times." default:"25000,75000,150000" env:"ROLLUP_PLAN_CALIBRATE_SERIES"`
	CalibrateDuration  time.Duration `help:"Length of each calibration run; it must let the finest windows close a few times." default:"2m" env:"ROLLUP_PLAN_CALIBRATE_DURATION"`
	Format             string        `help:"Output: table (for a terminal) or json (for scripts)." default:"table" enum:"table,json" env:"ROLLUP_PLAN_FORMAT"`
}

// workload is what the plan is for, validated.
type workload struct {
	series   int
	interval time.Duration
	archives []window.Archive
}

func (p *planCmd) workload() (workload, error) {
	w := workload{series: p.Series, interval: p.Interval}
	switch {
	case p.Series > 0 && p.Hosts > 0:
		return w, usageError{errors.New("give --series or --hosts, not both")}
	case p.Hosts > 0:
		w.series = p.Hosts * p.SeriesPerHost
	}
	if w.series <= 0 {
		return w, usageError{errors.New("the workload needs --series N (or --hosts N)")}
	}
	if p.Interval <= 0 {
		return w, usageError{errors.New("--interval must be positive")}
	}
	if p.Headroom < 0 {
		return w, usageError{errors.New("--headroom must not be negative")}
	}
	for _, spec := range p.Archive {
		a, err := window.ParseArchive(spec)
		if err != nil {
			return w, usageError{fmt.Errorf("--archive: %w", err)}
		}
		w.archives = append(w.archives, a)
	}
	wc := window.Config{Archives: w.archives, Lateness: p.Lateness}
	if err := wc.Validate(); err != nil { // sorts them finest first
		return w, usageError{fmt.Errorf("--archive: %w", err)}
	}
	return w, nil
}

// shape is what makes costs per point and per series differ between
// workloads of the same size; a calibration is valid for its shape.
func (p *planCmd) shape() string {
	ck := "no checkpoints"
	if p.CheckpointInterval > 0 {
		ck = fmt.Sprintf("checkpoint %s %s", p.CheckpointInterval, p.Delivery)
	}
	return fmt.Sprintf("archives %s; interval %s; lateness %s; output %s; %s",
		strings.Join(p.Archive, ";"), p.Interval, p.Lateness, p.OutputFormat, ck)
}

// rollupsPerPoint is the rollups a point of w turns into on average: each
// archive emits one per aggregator per window.
func (w workload) rollupsPerPoint() float64 {
	r := 0.0
	for _, a := range w.archives {
		r += float64(len(a.Aggregators)) * w.interval.Seconds() / float64(a.Step)
	}
	return r
}

// openWindows is the windows a series keeps open: the finest archive's
// current one and those still within the lateness, one per coarser archive.
func (w workload) openWindows(lateness time.Duration) float64 {
	fine := float64(w.archives[0].Step)
	return 1 + math.Ceil(lateness.Seconds()/fine) + float64(len(w.archives)-1)
}

func (p *planCmd) Run(log *slog.Logger, std stdio) error {
	w, err := p.workload()
	if err != nil {
		return err
	}
	path := p.Calibration
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no --calibration and no cache directory: %w", err)
		}
		path = filepath.Join(dir, "rollup", "calibration.json")
	}
	var cal calibration
	if p.Calibrate {
		if cal, err = p.calibrate(log, std, w); err != nil {
			return err
		}
		if err := saveCalibration(path, cal); err != nil {
			return err
		}
		log.Info("calibration saved", "file", path)
	} else if cal, err = loadCalibration(path, p.shape()); err != nil {
		return err
	}
	pl := p.plan(w, cal)
	if p.Format == "json" {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(pl)
	}
	pl.writeTable(std.out)
	return nil
}

// plan is the answer, in the units a capacity sheet uses.
type plan struct {
	Series          int           `json:"series"`
	PointsPerSec    float64       `json:"points_per_second"`
	RollupsPerSec   float64       `json:"rollups_per_second"`
	InputBytesPerS  float64       `json:"input_bytes_per_second"`
	Archives        []planArchive `json:"archives"`
	CPUCores        float64       `json:"cpu_cores"`           // steady state
	Cores           int           `json:"cores"`               // with headroom, whole
	MemoryBytes     float64       `json:"memory_bytes"`        // steady state, resident
	MemoryPlanBytes float64       `json:"memory_plan_bytes"`   // with headroom
	StatePerSeries  float64       `json:"memory_per_series"`   // resident bytes per series
	HeldOutputBytes float64       `json:"held_output_bytes"`   // exactly-once: one interval of output
	InputParts      int           `json:"input_partitions"`    // at least
	OutputParts     int           `json:"output_partitions"`   // at least
	CheckpointBytes float64       `json:"checkpoint_bytes"`    // 0: no checkpoints
	CheckpointPause time.Duration `json:"checkpoint_pause_ns"` // ingestion pause per checkpoint
	Headroom        float64       `json:"headroom"`
	Assumptions     []string      `json:"assumptions"`
}

type planArchive struct {
	Name           string  `json:"archive"`
	RollupsPerSec  float64 `json:"rollups_per_second"`
	OutputBytesPer float64 `json:"output_bytes_per_second"`
}

// partitionBytesPerSec is what the plan lets one partition carry: well
// below what a broker disk takes, so one partition is never the limit.
const partitionBytesPerSec = 10e6

func (p *planCmd) plan(w workload, cal calibration) plan {
	pl := plan{Series: w.series, Headroom: p.Headroom}
	pl.PointsPerSec = float64(w.series) / w.interval.Seconds()
	pl.InputBytesPerS = pl.PointsPerSec * cal.InputBytesPerPoint
	var outBytes float64
	for _, a := range w.archives {
		r := float64(w.series) * float64(len(a.Aggregators)) / float64(a.Step)
		pl.RollupsPerSec += r
		pl.Archives = append(pl.Archives, planArchive{Name: a.Name, RollupsPerSec: r, OutputBytesPer: r * cal.OutputBytesPerRollup})
		outBytes += r * cal.OutputBytesPerRollup
	}
	// CPU: the calibrated cost per point, corrected by the cost of the
	// rollups this shape emits more or fewer per point.
	perPoint := cal.CPUPerPoint + cal.CPUPerRollup*(w.rollupsPerPoint()-cal.RollupsPerPoint)
	pl.CPUCores = cal.CPUBase + pl.PointsPerSec*perPoint
	pl.Cores = max(1, int(math.Ceil(pl.CPUCores*(1+p.Headroom))))
	// Memory: the calibrated resident bytes per series, corrected by the
	// windows this shape keeps open more or fewer.
	pl.StatePerSeries = cal.MemoryPerSeries + cal.MemoryPerWindow*(w.openWindows(p.Lateness)-cal.OpenWindows)
	pl.MemoryBytes = cal.MemoryBase + float64(w.series)*pl.StatePerSeries
	pl.MemoryPlanBytes = pl.MemoryBytes * (1 + p.Headroom)
	pl.InputParts = max(pl.Cores, int(math.Ceil(pl.InputBytesPerS*(1+p.Headroom)/partitionBytesPerSec)))
	pl.OutputParts = max(1, int(math.Ceil(outBytes*(1+p.Headroom)/partitionBytesPerSec)))
	if p.CheckpointInterval > 0 {
		pl.CheckpointBytes = float64(w.series) * cal.CheckpointBytesPerSeries
		pl.CheckpointPause = time.Duration(float64(w.series) * cal.CheckpointPausePerSeries * 1e9)
	}
	pl.Assumptions = []string{
		"costs: " + cal.Source,
		fmt.Sprintf("CPU: %.0f ns per point at %.3f rollups per point, %.0f ns per rollup more or fewer, %.3f cores at rest",
			cal.CPUPerPoint*1e9, cal.RollupsPerPoint, cal.CPUPerRollup*1e9, cal.CPUBase),
		fmt.Sprintf("memory: %.0f MiB base, %.0f B per series with %.1f open windows, %.0f B per open window more or fewer (Go heap at GOGC=100 included)",
			cal.MemoryBase/(1<<20), cal.MemoryPerSeries, cal.OpenWindows, cal.MemoryPerWindow),
		fmt.Sprintf("Kafka: %.1f B per input point (Telegraf line protocol), %.1f B per rollup (%s, before compression); at most %.0f MB/s per partition",
			cal.InputBytesPerPoint, cal.OutputBytesPerRollup, cal.OutputFormat, partitionBytesPerSec/1e6),
		fmt.Sprintf("headroom %.0f%% on cores, memory and partitions", 100*p.Headroom),
	}
	if cal.Shape != p.shape() {
		pl.Assumptions = append(pl.Assumptions, "calibrated for another shape ("+cal.Shape+"); run plan --calibrate with these flags for figures of this one")
	}
	return pl
}

func (pl plan) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("series", "%d", pl.Series)
	row("points in", "%s/s, %s/s of Kafka input", si(pl.PointsPerSec), bytesSI(pl.InputBytesPerS))
	for _, a := range pl.Archives {
		row("archive "+a.Name, "%s rollups/s, %s/s of Kafka output", si(a.RollupsPerSec), bytesSI(a.OutputBytesPer))
	}
	row("rollups out", "%s/s", si(pl.RollupsPerSec))
	cores := "cores"
	if pl.Cores == 1 {
		cores = "core"
	}
	row("CPU", "%d %s (%.2f in steady state)", pl.Cores, cores, pl.CPUCores)
	row("memory", "%s (%s in steady state: %.0f B per series)", bytesSI(pl.MemoryPlanBytes), bytesSI(pl.MemoryBytes), pl.StatePerSeries)
	row("input partitions", "at least %d (one parser goroutine reads a partition)", pl.InputParts)
	row("output partitions", "at least %d", pl.OutputParts)
	if pl.CheckpointBytes > 0 {
		row("checkpoint", "%s per file, ingestion paused about %s each", bytesSI(pl.CheckpointBytes), pl.CheckpointPause.Round(time.Microsecond))
	} else {
		row("checkpoint", "none (a restart loses the open windows)")
	}
	tw.Flush()
	fmt.Fprintln(w, "\nassumed:")
	for _, a := range pl.Assumptions {
		fmt.Fprintln(w, "  "+a)
	}
}

// bytesSI formats a byte count in binary units: 1536 -> "1.5 KiB".
func bytesSI(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
