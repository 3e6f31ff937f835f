package main

import (
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/pipeline"
)

// handler serves the service's /metrics, /healthz, /readyz and, where
// pprofOn, /debug/pprof/ (behind ?authKey=pprofKey when that is not empty).
func (s *service) handler(pprofOn bool, pprofKey string) http.Handler {
	var p atomic.Pointer[service]
	p.Store(s)
	return metricsHandler(&p, s.start, pprofOn, pprofKey)
}

// metricsHandler serves the HTTP endpoints from the start of the process:
// until *svc is set (the service waits for its brokers and topics),
// /metrics has the build and rollup_kafka_up 0, /healthz says it is
// starting and /readyz that it is not ready.
func metricsHandler(svc *atomic.Pointer[service], started time.Time, pprofOn bool, pprofKey string) http.Handler {
	mux := http.NewServeMux()
	var mu sync.Mutex
	var w pipeline.PromWriter
	var buf []byte
	mux.HandleFunc("/metrics", func(rw http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Reset(buf)
		writeBuildInfo(&w)
		s := svc.Load()
		w.Family("rollup_kafka_up", "1 while the service consumes and the brokers answer its fetches and metadata requests.", "gauge")
		w.Sample("rollup_kafka_up", boolGauge(s != nil && s.kafkaUp()))
		if s != nil {
			s.writeMetrics(&w)
		}
		buf = w.Bytes()
		rw.Header().Set("Content-Type", pipeline.PromContentType)
		rw.Write(buf)
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch s := svc.Load(); {
		case s == nil:
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "not ready: waiting for the brokers and the topics")
		case !s.kafkaUp():
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, "not ready: the brokers do not answer")
		default:
			fmt.Fprintln(rw, "ready")
		}
	})
	// Profiles, for "where does the CPU go" on a live service: only on a
	// loopback listener or behind a key, since a CPU profile on demand
	// is also a way to load the service.
	if pprofOn {
		for path, h := range map[string]http.HandlerFunc{"/debug/pprof/": pprof.Index, "/debug/pprof/profile": pprof.Profile,
			"/debug/pprof/symbol": pprof.Symbol, "/debug/pprof/trace": pprof.Trace} {
			mux.HandleFunc(path, withAuthKey(pprofKey, h))
		}
	}
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		state := "consuming"
		if svc.Load() == nil {
			state = "starting"
		}
		fmt.Fprintf(rw, "ok\n%s\nuptime %s\n", state, time.Since(started).Round(time.Second))
	})
	return mux
}

// withAuthKey serves h only to requests with ?authKey=key (any request
// when key is empty).
func withAuthKey(key string, h http.HandlerFunc) http.HandlerFunc {
	if key == "" {
		return h
	}
	return func(rw http.ResponseWriter, req *http.Request) {
		if subtle.ConstantTimeCompare([]byte(req.URL.Query().Get("authKey")), []byte(key)) != 1 {
			http.Error(rw, "profiling needs ?authKey= (--pprof-auth-key)", http.StatusUnauthorized)
			return
		}
		h(rw, req)
	}
}

// kafkaUp reports whether the brokers answer (no outage noticed).
func (s *service) kafkaUp() bool {
	return s.engine.IdleSuspended()&(pipeline.SuspendMetadata|pipeline.SuspendFetch) == 0
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func writeBuildInfo(w *pipeline.PromWriter) {
	version, revision, goVersion := buildInfo()
	w.Family("rollup_build_info", "The running binary: module version, VCS revision and Go version (always 1).", "gauge")
	w.Sample("rollup_build_info", 1, "version", version, "revision", revision, "goversion", goVersion)
}

func (s *service) writeMetrics(w *pipeline.PromWriter) {

	var c pipeline.Counters
	s.engine.CountersInto(&c)

	w.Family("rollup_lines_total", "Input lines decoded (valid or malformed).", "counter")
	w.SampleUint("rollup_lines_total", c.Lines)
	w.Family("rollup_lines_malformed_total", "Malformed input lines skipped, by reason.", "counter")
	for _, r := range fastparse.AllReasons {
		w.SampleUint("rollup_lines_malformed_total", c.Malformed[r], "reason", r.String())
	}
	w.SampleUint("rollup_lines_malformed_total", c.LineTooLong, "reason", "line_too_long")
	w.Family("rollup_points_total", "Numeric field values read from valid lines (points in).", "counter")
	w.SampleUint("rollup_points_total", c.Points)
	w.Family("rollup_points_aggregated_total", "Points folded into a window.", "counter")
	w.SampleUint("rollup_points_aggregated_total", c.Aggregated)
	w.Family("rollup_points_dropped_total", "Points not aggregated, by reason (late: behind their partition's watermark; closed_early: window closed by idle advancement; series_limit: a new series beyond --max-series).", "counter")
	for _, d := range []struct {
		reason string
		n      uint64
	}{
		{"string_field", c.StringField}, {"non_finite", c.NonFinite}, {"future", c.Future},
		{"late", c.Late}, {"closed_early", c.ClosedEarly}, {"key_too_long", c.KeyTooLong}, {"series_limit", c.SeriesLimit},
	} {
		w.SampleUint("rollup_points_dropped_total", d.n, "reason", d.reason)
	}
	w.Family("rollup_late_points_total", "Points behind their partition's watermark (also in rollup_points_dropped_total).", "counter")
	w.SampleUint("rollup_late_points_total", c.Late)
	w.Family("rollup_series", "Live series.", "gauge")
	w.SampleUint("rollup_series", c.Series)
	w.Family("rollup_shard_series", "Live series per shard: how evenly --route-by spreads them (a shard refuses new series beyond its share of --max-series).", "gauge")
	for i, n := range s.engine.ShardSeries(nil) {
		w.SampleUint("rollup_shard_series", n, "shard", strconv.Itoa(i))
	}
	w.Family("rollup_open_windows", "Open windows of the finest archive, summed over shards.", "gauge")
	w.SampleUint("rollup_open_windows", c.OpenWindows)
	w.Family("rollup_rollups_total", "Rollups encoded for output.", "counter")
	w.SampleUint("rollup_rollups_total", c.Rollups)
	w.Family("rollup_rollups_dropped_total", "Rollups not sent because the output format (OpenTSDB's rules) cannot carry them, by reason.", "counter")
	for _, r := range emit.AllDropReasons {
		w.SampleUint("rollup_rollups_dropped_total", c.Dropped[r], "reason", r.String())
	}
	wm := s.engine.Watermark()
	w.Family("rollup_watermark_seconds", "Global event-time watermark (Unix seconds; windows ending at or before it are closed).", "gauge")
	w.Sample("rollup_watermark_seconds", nsToSeconds(wm))

	parts := s.source.Partitions()
	w.Family("rollup_partition_offset", "Next input offset to process, per partition.", "gauge")
	for _, p := range parts {
		w.Sample("rollup_partition_offset", float64(p.Offset), "topic", p.Topic, "partition", strconv.Itoa(int(p.Partition)))
	}
	w.Family("rollup_partition_lag", "Records between the processed offset and the high watermark at the last fetch (-1: unknown).", "gauge")
	for _, p := range parts {
		w.Sample("rollup_partition_lag", float64(p.Lag), "topic", p.Topic, "partition", strconv.Itoa(int(p.Partition)))
	}
	w.Family("rollup_partition_watermark_seconds", "Event-time watermark of the partition (newest point minus lateness; NaN before the first point).", "gauge")
	for _, p := range parts {
		w.Sample("rollup_partition_watermark_seconds", nsToSeconds(p.Watermark), "topic", p.Topic, "partition", strconv.Itoa(int(p.Partition)))
	}
	w.Family("rollup_partition_paused", "1 while fetching the partition is paused because it runs more than --max-skew ahead of the slowest partition catching up.", "gauge")
	var ids, refused, paused int64
	for _, p := range parts {
		ids += p.IDs
		refused += p.IDsRefused
		v := 0.0
		if p.Paused {
			v, paused = 1, paused+1
		}
		w.Sample("rollup_partition_paused", v, "topic", p.Topic, "partition", strconv.Itoa(int(p.Partition)))
	}
	w.Family("rollup_partitions_paused", "Partitions paused because they run ahead (--max-skew).", "gauge")
	w.Sample("rollup_partitions_paused", float64(paused))
	w.Family("rollup_metrictank_ids", "Metrictank ids known from MetricData, summed over the input partitions (each partition keeps its own index).", "gauge")
	w.Sample("rollup_metrictank_ids", float64(ids))
	w.Family("rollup_metrictank_ids_refused_total", "New metrictank ids not remembered because a partition's index was full (--max-series); their MetricPoints count as unknown_id.", "counter")
	w.Sample("rollup_metrictank_ids_refused_total", float64(refused))

	st := s.output.Stats()
	w.Family("rollup_output_records_total", "Output records acknowledged by the brokers.", "counter")
	w.Sample("rollup_output_records_total", float64(st.Records))
	w.Family("rollup_output_bytes_total", "Output record value bytes acknowledged.", "counter")
	w.Sample("rollup_output_bytes_total", float64(st.Bytes))
	w.Family("rollup_produce_errors_total", "Output records the Kafka client failed to deliver after retrying (their rollups are lost).", "counter")
	w.Sample("rollup_produce_errors_total", float64(st.Errors))
	w.Family("rollup_output_records_in_flight", "Output records handed to the Kafka client and not yet acknowledged.", "gauge")
	w.Sample("rollup_output_records_in_flight", float64(st.InFlight))
	writeHistogram(w, "rollup_emit_latency_seconds", "Time from a window's close (encoding) to the broker's acknowledgement of its record.", s.output.Latency())

	if s.ckpt != nil {
		s.writeCheckpointMetrics(w)
	}
	writeProcessMetrics(w, s.start)
}

func (s *service) writeCheckpointMetrics(w *pipeline.PromWriter) {
	st := s.ckpt.Stats()
	writeHistogram(w, "rollup_checkpoint_pause_seconds", "Time ingestion was paused for a checkpoint's consistent cut (parsers drained, shard state copied).", &s.ckpt.Pauses)
	writeHistogram(w, "rollup_checkpoint_write_seconds", "Time to write a checkpoint file (in the background).", &s.ckpt.Writes)
	w.Family("rollup_checkpoint_bytes", "Size of the last checkpoint file written.", "gauge")
	w.Sample("rollup_checkpoint_bytes", float64(st.Bytes))
	w.Family("rollup_checkpoint_state_bytes", "In-memory state (tables, windows, keys) when the last checkpoint was written, to compare with rollup_checkpoint_bytes.", "gauge")
	w.Sample("rollup_checkpoint_state_bytes", float64(st.StateBytes))
	w.Family("rollup_checkpoint_series", "Series in the last checkpoint written.", "gauge")
	w.Sample("rollup_checkpoint_series", float64(st.Series))
	w.Family("rollup_checkpoint_epoch", "Epoch of the last checkpoint written or restored.", "gauge")
	w.Sample("rollup_checkpoint_epoch", float64(st.Epoch))
	w.Family("rollup_checkpoint_last_success_timestamp_seconds", "When the last checkpoint was written (Unix seconds; 0: none since start). Alert on its age.", "gauge")
	last := 0.0
	if !st.LastSuccess.IsZero() {
		last = float64(st.LastSuccess.UnixNano()) / 1e9
	}
	w.Sample("rollup_checkpoint_last_success_timestamp_seconds", last)
	w.Family("rollup_checkpoint_restore_seconds", "Time the restore at start took (0: nothing restored).", "gauge")
	w.Sample("rollup_checkpoint_restore_seconds", st.Restore.Seconds())
	w.Family("rollup_checkpoint_failures_total", "Failed checkpoint attempts, by backend and reason (retried with backoff; the last good checkpoint stays).", "counter")
	backend := backendName(s.ckptLocation)
	for _, reason := range []string{"snapshot", "output", "write", "no_space", "permission", "timeout", "commit"} {
		w.SampleUint("rollup_checkpoint_failures_total", st.Failures[reason], "backend", backend, "reason", reason)
	}
	w.Family("rollup_transactions_total", "Output transactions of exactly-once delivery, by result (aborted: the commit failed and the service stopped to resume from the last committed checkpoint).", "counter")
	w.Sample("rollup_transactions_total", float64(st.Commits), "result", "committed")
	w.SampleUint("rollup_transactions_total", st.Failures["commit"], "result", "aborted")
	w.Family("rollup_output_held_bytes", "Output held back while a checkpoint's transaction commits (exactly-once).", "gauge")
	w.Sample("rollup_output_held_bytes", float64(s.output.HeldBytes()))
}

// writeHistogram writes an emit.Histogram as a Prometheus histogram.
func writeHistogram(w *pipeline.PromWriter, name, help string, h *emit.Histogram) {
	counts, sum, _ := h.Snapshot()
	w.Family(name, help, "histogram")
	var cum uint64
	for i, n := range counts {
		cum += n
		le := "+Inf"
		if i < len(emit.LatencyBuckets) {
			le = strconv.FormatFloat(emit.LatencyBuckets[i].Seconds(), 'g', -1, 64)
		}
		w.SampleUint(name+"_bucket", cum, "le", le)
	}
	w.Sample(name+"_sum", sum.Seconds())
	w.SampleUint(name+"_count", cum)
}

func nsToSeconds(ns int64) float64 {
	if ns == math.MinInt64 {
		return math.NaN()
	}
	return float64(ns) / 1e9
}

var goMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/total:bytes"},
	{Name: "/sched/goroutines:goroutines"},
}

// writeProcessMetrics writes the standard process_* and a few go_* series.
func writeProcessMetrics(w *pipeline.PromWriter, start time.Time) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		w.Family("process_cpu_seconds_total", "User and system CPU time spent.", "counter")
		w.Sample("process_cpu_seconds_total", cpu.Seconds())
		w.Family("process_max_resident_memory_bytes", "Peak resident set size.", "gauge")
		w.Sample("process_max_resident_memory_bytes", float64(ru.Maxrss)*1024)
	}
	if vsize, rss, ok := memoryBytes(); ok {
		w.Family("process_resident_memory_bytes", "Resident set size.", "gauge")
		w.Sample("process_resident_memory_bytes", float64(rss))
		w.Family("process_virtual_memory_bytes", "Virtual memory size.", "gauge")
		w.Sample("process_virtual_memory_bytes", float64(vsize))
	}
	// Open files against their limit: every broker connection, checkpoint
	// and client of the metrics listener holds one.
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		w.Family("process_open_fds", "Open file descriptors.", "gauge")
		w.Sample("process_open_fds", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		w.Family("process_max_fds", "Limit of open file descriptors (RLIMIT_NOFILE).", "gauge")
		w.Sample("process_max_fds", float64(lim.Cur))
	}
	w.Family("process_start_time_seconds", "Start time of the process (Unix seconds).", "gauge")
	w.Sample("process_start_time_seconds", float64(start.UnixNano())/1e9)
	samples := make([]metrics.Sample, len(goMetrics))
	copy(samples, goMetrics)
	metrics.Read(samples)
	w.Family("go_memstats_heap_alloc_bytes", "Bytes of live and not yet swept heap objects.", "gauge")
	w.Sample("go_memstats_heap_alloc_bytes", float64(samples[0].Value.Uint64()))
	w.Family("go_memory_total_bytes", "All memory mapped by the Go runtime.", "gauge")
	w.Sample("go_memory_total_bytes", float64(samples[1].Value.Uint64()))
	w.Family("go_goroutines", "Goroutines that currently exist.", "gauge")
	w.Sample("go_goroutines", float64(samples[2].Value.Uint64()))
	w.Family("go_gomaxprocs", "GOMAXPROCS.", "gauge")
	w.Sample("go_gomaxprocs", float64(runtime.GOMAXPROCS(0)))
}

// memoryBytes reads the virtual and resident sizes from /proc/self/statm.
func memoryBytes() (vsize, rss int64, ok bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, false
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, 0, false
	}
	page := int64(os.Getpagesize())
	return size * page, resident * page, true
}
