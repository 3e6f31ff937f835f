package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/benchmarks/load"
	"github.com/rollupd/rollup/emit"
)

// e2eFlags configure `bench --e2e`.
type e2eFlags struct {
	E2E             bool          `name:"e2e" help:"Also run the pipeline: a child 'rollup run' process consumes the load, so its CPU and memory are measured apart from the generator and the broker. Reports end-to-end points/s, points per CPU-second, emit latency and peak memory." env:"ROLLUP_BENCH_E2E"`
	E2EArchive      []string      `name:"e2e-archive" help:"Archives of the pipeline, as for run (repeatable, or several separated by ;)." default:"1m:sum,count,min,max;1h:sum,count,min,max" sep:";" env:"ROLLUP_BENCH_E2E_ARCHIVE"`
	E2ELateness     time.Duration `name:"e2e-lateness" help:"Lateness of the pipeline." default:"30s" env:"ROLLUP_BENCH_E2E_LATENESS"`
	E2EOutputFormat string        `name:"e2e-output-format" help:"Output format of the pipeline." default:"opentsdb" enum:"opentsdb,jsonl" env:"ROLLUP_BENCH_E2E_OUTPUT_FORMAT"`
	E2EBacklog      bool          `name:"e2e-backlog" help:"Start the pipeline only after producing: it then drains a backlog as fast as it and the broker can, which measures its top speed (points/s and CPU per point) without the generator competing for cores." env:"ROLLUP_BENCH_E2E_BACKLOG"`
	E2EDrainTimeout time.Duration `name:"e2e-drain-timeout" help:"After producing, how long to wait for the pipeline to read everything." default:"5m" env:"ROLLUP_BENCH_E2E_DRAIN_TIMEOUT"`
	E2ECheckpoint   string        `name:"e2e-checkpoint" help:"Checkpoint location of the pipeline (its --checkpoint; empty: no checkpoints), to measure what checkpoints cost." env:"ROLLUP_BENCH_E2E_CHECKPOINT" placeholder:"DIR|URL"`
	E2ECkptInterval time.Duration `name:"e2e-checkpoint-interval" help:"The pipeline's --checkpoint-interval, with --e2e-checkpoint." default:"10s" env:"ROLLUP_BENCH_E2E_CHECKPOINT_INTERVAL"`
	E2EDelivery     string        `name:"e2e-delivery" help:"The pipeline's --delivery, with --e2e-checkpoint (default: exactly-once)." enum:",exactly-once,at-least-once" default:"" env:"ROLLUP_BENCH_E2E_DELIVERY"`
}

// childEnv makes a test binary behave as the rollup command (TestMain).
const childEnv = "ROLLUP_RUN_AS_MAIN"

// e2eRun is a child `rollup run` and what was sampled from its /metrics.
type e2eRun struct {
	cmd     *exec.Cmd
	metrics string
	stderr  *syncWriter
	exited  chan error

	started time.Time

	stopOnce sync.Once
	stopErr  error

	stopSampling chan struct{}
	sampled      chan struct{}
	samples      []e2eSample // one per second (sampler goroutine)
}

// e2eSample is what one scrape of the child's /metrics gave.
type e2eSample struct {
	at      time.Time
	points  float64            // rollup_points_total
	lag     float64            // sum of rollup_partition_lag
	rss     float64            // process_resident_memory_bytes
	cpu     float64            // process_cpu_seconds_total
	latency map[string]float64 // rollup_emit_latency_seconds_bucket, by metric line name
}

// startPipeline starts `rollup run` on the bench topics and waits for its
// /healthz.
func (b *benchCmd) startPipeline(ctx context.Context, log *slog.Logger, cl *kgo.Client, brokers []string) (*e2eRun, error) {
	cfg := b.config()
	const outTopic = "rollups-bench"
	if err := load.EnsureTopics(ctx, cl, cfg, []string{outTopic}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"--log-format", "text", "--log-level", "warn", "run", "--brokers", strings.Join(brokers, ","),
		"--output-topic", outTopic, "--output-format", b.E2EOutputFormat, "--lateness", b.E2ELateness.String(),
		"--idle-timeout", "5s", "--metadata-interval", "1s", "--metrics-listen", addr}
	if cfg.Topology == load.MapR || len(load.Topics(cfg)) > 1 {
		args = append(args, "--topic-regex", load.TopicRegex(cfg))
	} else {
		args = append(args, "--topic", load.Topics(cfg)[0])
	}
	for _, a := range b.E2EArchive {
		args = append(args, "--archive", a)
	}
	if b.E2ECheckpoint != "" {
		args = append(args, "--checkpoint", b.E2ECheckpoint, "--checkpoint-interval", b.E2ECkptInterval.String())
		if b.E2EDelivery != "" {
			args = append(args, "--delivery", b.E2EDelivery)
		}
	}
	var secEnv []string
	if len(b.Brokers) > 0 {
		var secArgs []string
		secArgs, secEnv = b.kafkaSecurity.args()
		args = append(args, secArgs...)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r := &e2eRun{metrics: "http://" + addr + "/metrics", stderr: &syncWriter{}, exited: make(chan error, 1)}
	r.cmd = exec.Command(exe, args...)
	r.cmd.Env = append(append(os.Environ(), childEnv+"=1"), secEnv...)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the pipeline: %w", err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	log.Info("pipeline started", "pid", r.cmd.Process.Pid, "metrics", r.metrics, "args", strings.Join(args, " "))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.scrape(); err == nil {
			break
		}
		select {
		case err := <-r.exited:
			return nil, fmt.Errorf("pipeline exited at startup: %v\n%s", err, r.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("pipeline not serving /metrics after 30s:\n%s", r.stderr)
		}
	}
	r.started = time.Now()
	r.stopSampling, r.sampled = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-r.stopSampling:
				return
			case <-t.C:
				if m, err := r.scrape(); err == nil {
					r.samples = append(r.samples, newE2ESample(m))
				}
			}
		}
	}()
	return r, nil
}

func newE2ESample(m map[string]float64) e2eSample {
	sm := e2eSample{at: time.Now(), points: m["rollup_points_total"], rss: m["process_resident_memory_bytes"],
		cpu: m["process_cpu_seconds_total"], latency: map[string]float64{}}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "rollup_partition_lag{") && v > 0: // -1: not known yet
			sm.lag += v
		case strings.HasPrefix(k, "rollup_emit_latency_seconds_bucket{"):
			sm.latency[k] = v
		}
	}
	return sm
}

// scrape reads the child's /metrics into name{labels} -> value.
func (r *e2eRun) scrape() (map[string]float64, error) {
	body, err := get(r.metrics)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m, nil
}

// stop sends SIGTERM and waits for the child; later calls return the
// first one's result.
func (r *e2eRun) stop() error {
	r.stopOnce.Do(func() {
		r.stopSamplingOnce()
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case r.stopErr = <-r.exited:
		case <-time.After(60 * time.Second):
			r.cmd.Process.Kill()
			r.stopErr = errors.New("pipeline did not exit within 60s of SIGTERM")
		}
	})
	return r.stopErr
}

func (r *e2eRun) stopSamplingOnce() {
	if r.stopSampling == nil {
		return
	}
	select {
	case <-r.stopSampling:
	default:
		close(r.stopSampling)
	}
	<-r.sampled
}

// e2eResult is what the report prints.
type e2eResult struct {
	points, aggregated, late, malformed, rollups float64
	cpuSeconds, wall                             float64
	peakRSS                                      float64
	steadyCores                                  float64   // CPU-seconds per second after the first quarter (0: too short to tell)
	rssMin, rssMax                               float64   // after the first quarter of the run
	rssByMinute                                  []float64 // peak resident bytes of each minute
	latP50, latP99                               string
	outRecords, produceErrors, outBytes          float64
	series                                       float64 // live series at the end
	checkpointBytes, checkpointSeries            float64 // the last checkpoint written (0: none)
	checkpointPause                              float64 // mean pause of the checkpoints, seconds
	samples                                      []e2eSample
}

// drain waits until the child has read every line produced, then takes
// the final measurements.
func (r *e2eRun) drain(ctx context.Context, st load.Stats, timeout time.Duration) (e2eResult, error) {
	var res e2eResult
	deadline := time.Now().Add(timeout)
	var m map[string]float64
	for {
		var err error
		m, err = r.scrape()
		if err == nil && m["rollup_lines_total"] >= float64(st.Lines) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return res, fmt.Errorf("pipeline read %.0f of %d lines before the drain timeout", m["rollup_lines_total"], st.Lines)
		}
		select {
		case err := <-r.exited:
			return res, fmt.Errorf("pipeline exited: %v\n%s", err, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.stopSamplingOnce()
	res.wall = time.Since(r.started).Seconds()
	res.points = m["rollup_points_total"]
	res.aggregated = m["rollup_points_aggregated_total"]
	res.late = m["rollup_late_points_total"]
	for k, v := range m {
		if strings.HasPrefix(k, "rollup_lines_malformed_total{") {
			res.malformed += v
		}
	}
	res.rollups = m["rollup_rollups_total"]
	res.cpuSeconds = m["process_cpu_seconds_total"]
	res.peakRSS = m["process_max_resident_memory_bytes"]
	res.outRecords = m["rollup_output_records_total"]
	res.produceErrors = m["rollup_produce_errors_total"]
	for i, sm := range r.samples {
		if i/60 >= len(res.rssByMinute) {
			res.rssByMinute = append(res.rssByMinute, 0)
		}
		res.rssByMinute[i/60] = max(res.rssByMinute[i/60], sm.rss)
	}
	if n := len(r.samples); n >= 4 {
		res.rssMin, res.rssMax = math.Inf(1), 0
		for _, sm := range r.samples[n/4:] {
			res.rssMin, res.rssMax = min(res.rssMin, sm.rss), max(res.rssMax, sm.rss)
		}
		// CPU in steady state: without the start (connections, topic
		// metadata, first allocations of the tables).
		a, b := r.samples[n/4], r.samples[n-1]
		if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
			res.steadyCores = (b.cpu - a.cpu) / dt
		}
	}
	res.samples = r.samples
	res.checkpointBytes = m["rollup_checkpoint_bytes"]
	res.checkpointSeries = m["rollup_checkpoint_series"]
	if n := m["rollup_checkpoint_pause_seconds_count"]; n > 0 {
		res.checkpointPause = m["rollup_checkpoint_pause_seconds_sum"] / n
	}
	res.outBytes = m["rollup_output_bytes_total"]
	res.series = m["rollup_series"]
	res.latP50, res.latP99 = histQuantile(m, 0.5), histQuantile(m, 0.99)
	return res, nil
}

// histQuantile estimates a quantile of rollup_emit_latency_seconds as the
// upper bound of its bucket.
func histQuantile(m map[string]float64, q float64) string {
	v := deltaQuantile(nil, newE2ESample(m).latency, q)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "> " + emit.LatencyBuckets[len(emit.LatencyBuckets)-1].String()
	}
	return "<= " + time.Duration(v*float64(time.Second)).String()
}

func (b *benchCmd) reportE2E(w io.Writer, st load.Stats, res e2eResult) {
	kv := func(k, format string, a ...any) {
		fmt.Fprintf(w, "%-21s %s\n", k+":", fmt.Sprintf(format, a...))
	}
	fmt.Fprintln(w, "-- pipeline (child process 'rollup run') --")
	kv("lines read", "%.0f (malformed %.0f)", float64(st.Lines), res.malformed)
	kv("points read", "%.0f (aggregated %.0f, late %.0f)", res.points, res.aggregated, res.late)
	kv("e2e points/s", "%.0f (points read / time from start to everything read)", res.points/res.wall)
	kv("cpu", "%.2f s", res.cpuSeconds)
	if res.cpuSeconds > 0 {
		kv("points/cpu-second", "%.0f (%.0f ns of CPU per point)", res.points/res.cpuSeconds, res.cpuSeconds*1e9/res.points)
	}
	if res.rollups == 0 {
		kv("rollups", "none: no window closed during the run (run longer than the finest --archive step plus --lateness, or use a finer --archive)")
	} else {
		kv("rollups", "%.0f in %.0f records (produce errors %.0f)", res.rollups, res.outRecords, res.produceErrors)
		kv("emit latency", "p50 %s, p99 %s (window close to broker ack)", res.latP50, res.latP99)
	}
	if res.steadyCores > 0 {
		kv("cpu after warmup", "%.3f cores (the last three quarters of the run)", res.steadyCores)
	}
	kv("peak memory", "%.1f MiB resident", res.peakRSS/(1<<20))
	if res.rssMax > 0 {
		kv("memory after warmup", "%.1f..%.1f MiB resident (sampled each second)", res.rssMin/(1<<20), res.rssMax/(1<<20))
	}
	if len(res.rssByMinute) > 1 {
		var parts []string
		for _, v := range res.rssByMinute {
			parts = append(parts, strconv.FormatFloat(v/(1<<20), 'f', 0, 64))
		}
		kv("memory by minute", "%s MiB (peak resident of each minute)", strings.Join(parts, " "))
	}
}

// syncWriter is a bytes.Buffer safe for concurrent writers (a child's
// stderr, a logger) and readers.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// get returns the body of an HTTP GET.
func get(url string) (string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
