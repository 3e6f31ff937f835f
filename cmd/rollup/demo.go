package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/benchmarks/load"
)

type demoCmd struct {
	Duration time.Duration `help:"How long the generator produces; the demo then waits for the last windows to close and prints a summary." default:"30s" env:"ROLLUP_DEMO_DURATION"`
	Hosts    int           `help:"Simulated Telegraf hosts, 90 series each." default:"4" env:"ROLLUP_DEMO_HOSTS"`
	Interval time.Duration `help:"How often each host reports (Telegraf's interval)." default:"1s" env:"ROLLUP_DEMO_INTERVAL"`
	Archive  []string      `help:"Archives, as for run (repeatable, or several separated by ;)." default:"10s:sum,count,min,max,avg;1m:sum,count,min,max,avg" sep:";" env:"ROLLUP_DEMO_ARCHIVE"`
	Lateness time.Duration `help:"Allowed lateness." default:"2s" env:"ROLLUP_DEMO_LATENESS"`
	Show     string        `help:"Regular expression selecting the metrics shown in the tables (all are aggregated)." default:"^(cpu_usage_idle|mem_used_percent|system_load1)$" env:"ROLLUP_DEMO_SHOW"`
}

// Run starts an in-process broker (loopback only, data in a temporary
// directory), a real-time Telegraf-shaped generator, the full run pipeline
// with jsonl output, and prints each window's rollups as a table when it
// closes.
func (d *demoCmd) Run(log *slog.Logger, std stdio) error {
	if d.Hosts < 1 || d.Interval <= 0 || d.Duration <= 0 {
		return fmt.Errorf("--hosts, --interval and --duration must be positive")
	}
	show, err := regexp.Compile(d.Show)
	if err != nil {
		return fmt.Errorf("--show: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	dir, err := os.MkdirTemp("", "rollup-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir),
		kfake.SeedTopics(4, "telegraf"), kfake.SeedTopics(1, "rollups"))
	if err != nil {
		return fmt.Errorf("cannot start the embedded broker: %w", err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	fmt.Fprintf(std.out, "embedded Kafka broker on %s (data in %s)\n", broker, dir)

	// The service, configured through the same flags as `rollup run`.
	args := []string{"run", "--brokers", broker, "--topic", "telegraf", "--output-topic", "rollups", "--output-format", "jsonl",
		"--lateness", d.Lateness.String(), "--idle-timeout", "3s", "--metrics-listen", "", "--metadata-interval", "1s"}
	for _, a := range d.Archive {
		args = append(args, "--archive", a)
	}
	var c cli
	parser, err := kong.New(&c, kong.Name("rollup"), cliOptions(), kong.Exit(func(int) {}))
	if err != nil {
		return err
	}
	if _, err := parser.Parse(args); err != nil {
		return err
	}
	svcLog := slog.New(slog.NewTextHandler(std.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rc, err := c.Run.config(svcLog)
	if err != nil {
		return err
	}
	rc.flushOnExit = true
	svcCtx, stopSvc := context.WithCancel(context.Background())
	defer stopSvc()
	ready := make(chan *service, 1)
	svcDone := make(chan error, 1)
	go func() { svcDone <- serve(svcCtx, svcLog, &c.Run, rc, ready) }()
	var svc *service
	select {
	case svc = <-ready:
	case err := <-svcDone:
		return fmt.Errorf("service ended: %v", err)
	}

	// The generator: every host reports every interval, in real time.
	prod, err := kgo.NewClient(append(load.ProducerOpts(), kgo.SeedBrokers(broker))...)
	if err != nil {
		return err
	}
	defer prod.Close()
	lcfg := load.Config{Series: d.Hosts * load.SeriesPerHost(), Duration: d.Duration, Interval: d.Interval,
		Rate: float64(d.Hosts*load.SeriesPerHost()) / d.Interval.Seconds(), Partitions: 4}
	genDone := make(chan load.Stats, 1)
	go func() {
		st, err := load.Run(ctx, prod, lcfg, nil)
		if err != nil {
			log.Error("generator", "error", err)
		}
		genDone <- st
	}()
	fmt.Fprintf(std.out, "generating %d hosts x %d series every %s for %s; archives %s; lateness %s\n\n",
		d.Hosts, load.SeriesPerHost(), d.Interval, d.Duration, strings.Join(d.Archive, " "), d.Lateness)

	// The reader: rollups as a table, window by window.
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("rollups"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer cons.Close()
	var gen load.Stats
	windows, rollups := 0, 0
	state := "closed"
	poll := func() int {
		pollCtx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cons.PollFetches(pollCtx)
		cancel()
		var batch []demoRollup
		fs.EachRecord(func(r *kgo.Record) {
			for _, line := range strings.Split(strings.TrimSpace(string(r.Value)), "\n") {
				var ro demoRollup
				if json.Unmarshal([]byte(line), &ro) == nil {
					batch = append(batch, ro)
				}
			}
		})
		rollups += len(batch)
		windows += printWindows(std.out, batch, show, state)
		return len(batch)
	}
wait:
	for {
		poll()
		select {
		case gen = <-genDone:
			break wait
		default:
		}
	}
	// The generator stopped: the last finest window closes once the
	// partitions are idle and the wall clock passes its end plus lateness.
	// Coarser windows would take up to a step longer: the service flushes
	// them at exit instead (they are marked partial in the summary).
	fine := time.Duration(rc.engine.Window.Archives[0].Step) * time.Second
	lastEnd := time.Now().Truncate(fine).Add(fine).UnixNano()
	deadline := time.Now().Add(fine + d.Lateness + 10*time.Second)
	caughtUp := func() bool { return svc.engine.Counters().Lines >= uint64(gen.Lines) }
	for ctx.Err() == nil && (!caughtUp() || svc.engine.Watermark() < lastEnd) && time.Now().Before(deadline) {
		poll()
	}
	// Read what the last regular closes produced before the exit flush,
	// so that those windows are shown as closed, not as partial.
	drain := func() {
		for quiet := 0; quiet < 3; {
			if poll() == 0 {
				quiet++
			} else {
				quiet = 0
			}
		}
	}
	drain()
	stopSvc()
	if err := <-svcDone; err != nil {
		return err
	}
	state = "flushed at exit (partial)"
	drain()
	cnt := svc.engine.Counters()
	fmt.Fprintf(std.out, "\nsummary: generated %d points in %d records; aggregated %d points of %d series; %d windows shown, %d rollups read back from Kafka\n",
		gen.Points, gen.Records, cnt.Aggregated, cnt.Series, windows, rollups)
	fmt.Fprintln(std.out, "counters:", cnt.Summary())
	return nil
}

func coarsest(rc *runConfig) time.Duration {
	a := rc.engine.Window.Archives
	return time.Duration(a[len(a)-1].Step) * time.Second
}

type demoRollup struct {
	Metric     string            `json:"metric"`
	Tags       map[string]string `json:"tags"`
	Step       string            `json:"step"`
	Start      int64             `json:"start"`
	Aggregator string            `json:"aggregator"`
	Value      float64           `json:"value"`
}

// printWindows prints one table per (step, start) in rs, headed with
// state, and returns how many windows it printed.
func printWindows(w io.Writer, rs []demoRollup, show *regexp.Regexp, state string) int {
	type winKey struct {
		step  string
		start int64
	}
	type row struct {
		metric, host, cpu string
		vals              map[string]float64
	}
	wins := map[winKey]map[string]*row{}
	series := map[winKey]map[string]bool{}
	for _, r := range rs {
		k := winKey{r.Step, r.Start}
		if wins[k] == nil {
			wins[k], series[k] = map[string]*row{}, map[string]bool{}
		}
		id := r.Metric + fmt.Sprint(r.Tags)
		series[k][id] = true
		if !show.MatchString(r.Metric) || (r.Tags["cpu"] != "" && r.Tags["cpu"] != "cpu-total") {
			continue
		}
		rw := wins[k][id]
		if rw == nil {
			rw = &row{metric: r.Metric, host: r.Tags["host"], cpu: r.Tags["cpu"], vals: map[string]float64{}}
			wins[k][id] = rw
		}
		rw.vals[r.Aggregator] = r.Value
	}
	keys := make([]winKey, 0, len(wins))
	for k := range wins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].start != keys[j].start {
			return keys[i].start < keys[j].start
		}
		return keys[i].step < keys[j].step
	})
	for _, k := range keys {
		fmt.Fprintf(w, "%s window starting %s %s: %d series\n", k.step, time.Unix(k.start, 0).UTC().Format("15:04:05"), state, len(series[k]))
		rows := make([]*row, 0, len(wins[k]))
		for _, r := range wins[k] {
			rows = append(rows, r)
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].metric != rows[j].metric {
				return rows[i].metric < rows[j].metric
			}
			return rows[i].host < rows[j].host
		})
		fmt.Fprintf(w, "  %-18s %-12s %6s %10s %10s %10s\n", "metric", "host", "count", "min", "max", "avg")
		for _, r := range rows {
			fmt.Fprintf(w, "  %-18s %-12s %6.0f %10.3f %10.3f %10.3f\n", r.metric, r.host, r.vals["count"], r.vals["min"], r.vals["max"], r.vals["avg"])
		}
	}
	return len(keys)
}
