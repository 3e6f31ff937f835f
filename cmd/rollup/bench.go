package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/benchmarks/load"
)

type benchCmd struct {
	Brokers        []string      `help:"Kafka bootstrap brokers, host:port (repeatable or comma-separated). Empty: start an embedded broker (kfake) on 127.0.0.1 with its data in a temporary directory, removed at exit." env:"ROLLUP_BENCH_BROKERS" placeholder:"HOST:PORT"`
	Series         int           `help:"Series to produce, rounded up to whole hosts of 90 series (11 lines per report)." default:"10000" env:"ROLLUP_BENCH_SERIES"`
	Rate           float64       `help:"Points per second; 0 = unlimited: event time starts --duration back and the backlog goes as fast as the brokers take it, never ahead of the wall clock." default:"0" env:"ROLLUP_BENCH_RATE"`
	Duration       time.Duration `help:"How long to produce; 0 = until SIGINT/SIGTERM." default:"10s" env:"ROLLUP_BENCH_DURATION"`
	Interval       time.Duration `help:"Event time between two reports of a host; 0 = series/rate with --rate (event time keeps pace with the clock), else 10s." default:"0s" env:"ROLLUP_BENCH_INTERVAL"`
	Topology       string        `help:"flat: Telegraf's layout (topic per host modulo --topics, key = host, sarama partitioning); mapr: MapR collectd's, one topic <stream-prefix>-<djb2(measurement,streams)>.<host>_<measurement> per host and measurement." default:"flat" enum:"flat,mapr" env:"ROLLUP_BENCH_TOPOLOGY"`
	Topics         int           `help:"Topics of the flat topology." default:"1" env:"ROLLUP_BENCH_TOPICS"`
	TopicPrefix    string        `help:"Flat topic names: the prefix itself with one topic, else <prefix>-<i>." default:"telegraf" env:"ROLLUP_BENCH_TOPIC_PREFIX"`
	Partitions     int           `help:"Partitions per topic, for the topics this creates (existing topics keep theirs). A mapr topic has one key, so 1 suffices there." default:"4" env:"ROLLUP_BENCH_PARTITIONS"`
	LinesPerRecord int           `help:"Lines of one host per record value; 1 is Telegraf's framing." default:"1" env:"ROLLUP_BENCH_LINES_PER_RECORD"`
	Disorder       float64       `help:"Fraction (0..1) of lines held back until up to --disorder-bound later lines of their partition have gone." default:"0" env:"ROLLUP_BENCH_DISORDER"`
	DisorderBound  int           `help:"Most lines of its partition that overtake a disordered line." default:"100" env:"ROLLUP_BENCH_DISORDER_BOUND"`
	Late           float64       `help:"Fraction (0..1) of lines whose timestamp is --late-by older than their report's." default:"0" env:"ROLLUP_BENCH_LATE"`
	LateBy         time.Duration `help:"How much older late lines are; more than the pipeline's --lateness plus its finest step makes them really late." default:"2m" env:"ROLLUP_BENCH_LATE_BY"`
	Bad            float64       `help:"Fraction (0..1) of malformed lines: truncated, missing field value, bad number or binary garbage (late + bad <= 1)." default:"0" env:"ROLLUP_BENCH_BAD"`
	Streams        int           `help:"N of djb2(measurement, N) in mapr topic names (MapR's StreamsCount)." default:"16" env:"ROLLUP_BENCH_STREAMS"`
	StreamPrefix   string        `help:"Start of mapr topic names (MapR's stream Path, without '/')." default:"metrics" env:"ROLLUP_BENCH_STREAM_PREFIX"`
	Seed           uint64        `help:"Varies the values and the injected faults, not the shape." default:"1" env:"ROLLUP_BENCH_SEED"`
	e2eFlags       `embed:""`
	kafkaSecurity  `embed:""`
	Report         string `help:"Also write the run as one self-contained HTML page (plots of throughput, lag, memory and emit latency over time, and the run's parameters), viewable offline." env:"ROLLUP_BENCH_REPORT" placeholder:"FILE.html"`
	Progress       string `help:"Progress on stderr: bar (one updating line), lines (a line every 5s), none, or auto (bar on a terminal, else lines)." default:"auto" enum:"auto,bar,lines,none" env:"ROLLUP_BENCH_PROGRESS"`
}

func (b *benchCmd) config() load.Config {
	return load.Config{
		Series: b.Series, Rate: b.Rate, Duration: b.Duration, Interval: b.Interval,
		Topology: b.Topology, Topics: b.Topics, TopicPrefix: b.TopicPrefix, Partitions: b.Partitions,
		LinesPerRecord: b.LinesPerRecord, Streams: b.Streams, StreamPrefix: b.StreamPrefix,
		Disorder: b.Disorder, DisorderBound: b.DisorderBound, Late: b.Late, LateBy: b.LateBy, Bad: b.Bad,
		Seed: b.Seed,
	}
}

func (b *benchCmd) Run(log *slog.Logger, std stdio) error {
	if err := b.config().Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	out, err := b.measure(ctx, log, std)
	if b.Report != "" && out.st.Elapsed > 0 {
		if rerr := b.writeReport(out); rerr != nil {
			return errors.Join(err, rerr)
		}
		log.Info("report written", "file", b.Report)
	}
	return err
}

// benchOutcome is what one bench run measured: the load, and with --e2e
// the pipeline's figures; produced holds the producer's totals about once
// a second (for --report).
type benchOutcome struct {
	start    time.Time
	st       load.Stats
	produced []load.Stats
	e2e      *e2eResult
}

// measure runs the load (and with --e2e the pipeline) and prints the
// reports on std.out as the parts finish.
func (b *benchCmd) measure(ctx context.Context, log *slog.Logger, std stdio) (benchOutcome, error) {
	out := benchOutcome{start: time.Now()}
	brokers := b.Brokers
	if len(brokers) == 0 {
		dir, err := os.MkdirTemp("", "rollup-bench-kafka-")
		if err != nil {
			return out, fmt.Errorf("cannot create the embedded broker's directory: %w", err)
		}
		defer os.RemoveAll(dir) // after c.Close (defers run last first)
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir))
		if err != nil {
			return out, fmt.Errorf("cannot start the embedded broker: %w", err)
		}
		defer c.Close()
		brokers = c.ListenAddrs()
		log.Info("embedded broker started", "address", strings.Join(brokers, ","), "data_dir", dir)
	}
	opts := append(load.ProducerOpts(),
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("rollup-bench"),
		kgo.WithLogger(kgoLogger(log)),
	)
	if len(b.Brokers) > 0 { // the embedded broker speaks plain Kafka
		sec, err := b.kafkaSecurity.opts()
		if err != nil {
			return out, err
		}
		opts = append(opts, sec...)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return out, fmt.Errorf("cannot create Kafka producer: %w", err)
	}
	defer cl.Close()

	var pipe *e2eRun
	if b.E2E && !b.E2EBacklog {
		if pipe, err = b.startPipeline(ctx, log, cl, brokers); err != nil {
			return out, err
		}
		defer pipe.stop()
	}
	out.st, err = b.produce(ctx, log, cl, brokers, std, func(s load.Stats) { out.produced = append(out.produced, s) })
	if out.st.Elapsed > 0 { // production ran: report even after an error or a signal
		b.report(std.out, out.st)
	}
	if err != nil || !b.E2E {
		return out, err
	}
	if b.E2EBacklog {
		if pipe, err = b.startPipeline(ctx, log, cl, brokers); err != nil {
			return out, err
		}
		defer pipe.stop()
	}
	res, err := pipe.drain(ctx, out.st, b.E2EDrainTimeout)
	if err != nil {
		return out, err
	}
	out.e2e = &res
	b.reportE2E(std.out, out.st, res)
	if err := pipe.stop(); err != nil {
		return out, fmt.Errorf("pipeline: %v\n%s", err, pipe.stderr)
	}
	return out, nil
}

// produce creates the topics and runs the load through cl, showing
// progress on std.err. It is the part an end-to-end run shares.
// Each progress update also goes to sample.
func (b *benchCmd) produce(ctx context.Context, log *slog.Logger, cl *kgo.Client, brokers []string, std stdio, sample func(load.Stats)) (load.Stats, error) {
	cfg := b.config()
	topics := load.Topics(cfg)
	if err := load.EnsureTopics(ctx, cl, cfg, topics); err != nil {
		return load.Stats{}, err
	}
	log.Info("producing", "brokers", strings.Join(brokers, ","), "topology", cfg.Topology, "topics", len(topics),
		"topic_regex", load.TopicRegex(cfg), "series", cfg.Hosts()*load.SeriesPerHost(), "interval", cfg.EventInterval(), "rate", b.Rate, "duration", b.Duration)
	p := newProgress(b.Progress, std.err, b.Duration)
	st, err := load.Run(ctx, cl, cfg, func(s load.Stats) { p.update(s); sample(s) })
	p.finish()
	if ctx.Err() != nil {
		log.Info("stopped early by a signal", "elapsed", st.Elapsed.Round(time.Millisecond))
	}
	return st, err
}

// report writes the final numbers as aligned "key: value" lines.
func (b *benchCmd) report(w io.Writer, st load.Stats) {
	cfg := b.config()
	topics := load.Topics(cfg)
	kv := func(k, format string, a ...any) {
		fmt.Fprintf(w, "%-21s %s\n", k+":", fmt.Sprintf(format, a...))
	}
	kv("topology", "%s", cfg.Topology)
	if len(topics) == 1 {
		kv("topics", "1 (%s)", topics[0])
	} else {
		kv("topics", "%d (%s)", len(topics), load.TopicRegex(cfg))
	}
	kv("partitions", "%d per topic created", b.Partitions)
	kv("series", "%d (%d hosts)", cfg.Hosts()*load.SeriesPerHost(), cfg.Hosts())
	kv("interval", "%s between reports of a host", cfg.EventInterval())
	kv("duration", "%s", st.Elapsed.Round(time.Millisecond))
	kv("points", "%d", st.Points)
	kv("lines", "%d", st.Lines)
	kv("records", "%d (%d acknowledged)", st.Records, st.AckedRecords)
	kv("bytes", "%d", st.Bytes)
	kv("points/s", "%.0f", st.PointsPerSec())
	if b.Rate > 0 {
		achieved := st.PointsPerSec() / b.Rate
		kv("requested", "%.0f points/s; achieved %.0f%%", b.Rate, 100*achieved)
		if achieved < 0.95 {
			kv("short because", "%s", shortfall(st))
		}
	}
	kv("records/s", "%.0f", st.RecordsPerSec())
	kv("MB/s", "%.2f", st.BytesPerSec()/1e6)
	kv("injected late", "%d lines (%d points)", st.LateLines, st.LatePoints)
	kv("injected bad", "%d lines (%d points)", st.BadLines, st.BadPoints)
	kv("injected disordered", "%d lines", st.DisorderedLines)
	if st.FailedRecords == 0 {
		kv("produce errors", "0")
		return
	}
	var parts []string
	for msg, n := range st.ProduceErrors {
		parts = append(parts, fmt.Sprintf("%d x %s", n, msg))
	}
	kv("produce errors", "%d records (%s)", st.FailedRecords, strings.Join(parts, "; "))
}

// shortfall says why a run fell short of its requested rate.
func shortfall(st load.Stats) string {
	waited := st.ProduceWait.Seconds() / max(st.Elapsed.Seconds(), 1e-9)
	switch {
	case st.FailedRecords > 0:
		return fmt.Sprintf("%d records failed (see produce errors)", st.FailedRecords)
	case waited > 0.1:
		return fmt.Sprintf("the brokers took records slower than the generator made them: it waited %s (%.0f%% of the run) for the producer's buffer",
			st.ProduceWait.Round(time.Millisecond), 100*waited)
	}
	return "the generator could not make points faster on this machine (it hardly waited for the brokers): lower --rate, or raise --lines-per-record"
}

// progress shows load.Run's progress: a bar redrawn in place on a
// terminal, else a plain line every 5s (a bar's \r would garble a log).
type progress struct {
	w        io.Writer
	mode     string // bar, lines or none
	duration time.Duration
	last     load.Stats
	smooth   float64 // points/s, an exponential moving average over ~5s
	nextLine time.Duration
	drawn    bool
}

const progressLineEvery = 5 * time.Second

func newProgress(mode string, w io.Writer, duration time.Duration) *progress {
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				mode = "bar"
			}
		}
	}
	return &progress{w: w, mode: mode, duration: duration, nextLine: progressLineEvery}
}

// update is called about once per second with the totals so far.
func (p *progress) update(s load.Stats) {
	if dt := (s.Elapsed - p.last.Elapsed).Seconds(); dt > 0 {
		// Smoothed over about five seconds: a one-second rate jumps with
		// every pause of the generator and the broker.
		rate := float64(s.Points-p.last.Points) / dt
		if p.last.Elapsed == 0 {
			p.smooth = rate
		} else {
			a := 1 - math.Exp(-dt/5)
			p.smooth += a * (rate - p.smooth)
		}
	}
	rate := p.smooth
	p.last = s
	switch p.mode {
	case "bar":
		const width = 30
		bar := strings.Repeat(".", width)
		of := ""
		if p.duration > 0 {
			n := min(width, int(float64(width)*s.Elapsed.Seconds()/p.duration.Seconds()))
			bar = strings.Repeat("#", n) + bar[n:]
			of = "/" + p.duration.String()
		}
		// Trailing spaces wipe what a longer previous line left.
		fmt.Fprintf(p.w, "\r[%s] %s%s  %s points/s  %s points   ", bar, s.Elapsed.Round(time.Second), of, si(rate), si(float64(s.Points)))
		p.drawn = true
	case "lines":
		if s.Elapsed >= p.nextLine {
			p.nextLine += progressLineEvery
			fmt.Fprintf(p.w, "bench: %s elapsed, %s points/s, %d points, %d records acknowledged\n",
				s.Elapsed.Round(time.Second), si(rate), s.Points, s.AckedRecords)
		}
	}
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// si formats v with an SI prefix: 1234567 -> "1.23M".
func si(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div {
			return strconv.FormatFloat(v/u.div, 'f', 2, 64) + u.suffix
		}
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
