package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRunDefaultTimeRecord: in a backlog (ten-minute-old data read now),
// a line without a timestamp takes its Kafka record's timestamp, so it
// does not move its partition's watermark to the wall clock and drop every
// later point as late (which --default-time now does: the old behaviour).
func TestRunDefaultTimeRecord(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	for _, c := range []struct {
		mode     string
		wantLate bool
	}{{"record", false}, {"now", true}} {
		t.Run(c.mode, func(t *testing.T) {
			addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in", "rollups"))
			var recs []*kgo.Record
			for i := range 121 {
				ts := t0.Add(time.Duration(i) * 5 * time.Second)
				line := fmt.Sprintf("cpu,host=a idle=%d %d\n", i, ts.UnixNano())
				if i == 60 {
					line = fmt.Sprintf("cpu,host=a idle=%d\n", i) // as Telegraf never writes, but scripts do
				}
				recs = append(recs, &kgo.Record{Value: []byte(line), Timestamp: ts})
			}
			produce(t, addrs, "in", recs...)
			svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--archive", "1m:sum,count",
				"--lateness", "10s", "--idle-timeout", "1h", "--metrics-listen", "", "--metadata-interval", "200ms", "--default-time", c.mode)
			waitRecords(t, svc, 121)
			cnt := svc.engine.Counters()
			if late := cnt.Late > 0; late != c.wantLate || cnt.Aggregated+cnt.Late != 121 {
				t.Fatalf("--default-time %s: %d aggregated, %d late", c.mode, cnt.Aggregated, cnt.Late)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An output topic that is also an input (named, or matched by the regex,
// also where leftmost-first matching alone would miss it) is refused.
func TestRunRefusesReadingItsOutput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "telegraf,rollups"}, "output topic rollups is also an input topic (--topic)"},
		{[]string{"--topic", "telegraf", "--archive", "1m:sum", "--archive", "1h:sum:topic=telegraf"}, "output topic telegraf is also an input topic"},
		{[]string{"--topic-regex", "tele.*|roll|rollups"}, "output topic rollups matches --topic-regex tele.*|roll|rollups"},
		{[]string{"--topic-regex", "in.*", "--checkpoint", t.TempDir(), "--marker-topic", "input-commits"}, "--marker-topic input-commits is also an input or output topic"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"run", "--dry-run", "--brokers", "127.0.0.1:1"}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, errOut)
		}
	}
}

// aggregate applies --max-series and --max-fields-per-line as run does.
func TestAggregateLimits(t *testing.T) {
	var in strings.Builder
	for s := range 5 {
		fmt.Fprintf(&in, "m,s=%d v=1 1700000000000000000\n", s)
	}
	in.WriteString("w a=1,b=2,c=3 1700000000000000000\n")
	code, out, errOut := runCLI(t, in.String(), "aggregate", "--archive", "1m:count", "--max-series", "2", "--shards", "1", "--max-fields-per-line", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := len(sortedLines(out)); n != 2 || !summaryHas(errOut, "dropped_series_limit=3") || !summaryHas(errOut, "malformed_too_many_fields=1") {
		t.Fatalf("%d rollups; summary: %s", n, errOut)
	}
}

// TestRunShutdownOutputBlocked: the brokers stop acknowledging the output
// (produce requests go unanswered) while the output buffer is full, so the
// shards block producing and the parsers behind them; the shutdown still
// ends within --shutdown-timeout, names the output as the cause, counts
// what it could not apply and logs the summary.
func TestRunShutdownOutputBlocked(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "rollups"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Many series over many windows: far more output than the buffer.
	t0 := time.Now().Add(-time.Hour).Unix()
	var recs []*kgo.Record
	for s := range 200 {
		var b []byte
		for i := range 50 {
			b = fmt.Appendf(b, "m,h=h%d v=%d %d000000000\n", s, i, t0+int64(i))
		}
		recs = append(recs, &kgo.Record{Value: b})
	}
	produce(t, c.ListenAddrs(), "in", recs...)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // never answered
	})

	var logs chaosLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv := startServing(t, log, "--brokers", c.ListenAddrs()[0], "--topic", "in", "--archive", "1s:sum,count,min,max",
		"--lateness", "0s", "--idle-timeout", "1h", "--metrics-listen", "", "--shutdown-timeout", "2s", "--metadata-interval", "200ms",
		"--output-record-bytes", "1024", "--produce-buffer-bytes", "4096", "--output-format", "jsonl")
	svc := srv.wait(t)
	waitFor(t, 10*time.Second, "the first rollups", func() bool { return svc.engine.Counters().Rollups > 0 })
	time.Sleep(time.Second) // the shards fill the buffer and block
	err = srv.stopWithin(t, 2500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "the output is blocked") || !strings.Contains(err.Error(), "fetched records not applied, lost") {
		t.Errorf("error does not name the output as the cause and count what was not applied: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "msg=stopped") || !strings.Contains(l, "fetched_records_not_applied=") {
		t.Errorf("no final summary or count of what was left in the log:\n%s", tail(l, 10))
	}
}

// TestRunOutageKeepsWindowsOpen: the broker stops answering fetches (its
// metadata still answers) for two and a half idle timeouts; the service notices
// from the unanswered fetches before the partition would count as idle,
// so the wall clock does not close the window, and the point produced
// during the outage is aggregated when it arrives, not dropped as
// closed_early.
func TestRunOutageKeepsWindowsOpen(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "rollups"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := c.ListenAddrs()
	var stalled atomic.Bool
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !stalled.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		return nil, errors.New("stalled"), true // the connection drops
	})
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--archive", "1m:sum,count",
		"--lateness", "0s", "--idle-timeout", "2s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	w := time.Now().Add(-2*time.Minute).Unix() / 60 * 60
	produce(t, addrs, "in", &kgo.Record{Value: fmt.Appendf(nil, "m,h=a v=1 %d000000000\n", w+1)})
	waitFor(t, 10*time.Second, "the first point", func() bool { return svc.engine.Counters().Points == 1 })
	stalled.Store(true)
	// Once a fetch was refused, none in flight can carry the next point.
	waitFor(t, 10*time.Second, "a refused fetch", func() bool { return refused.Load() > 0 })
	produce(t, addrs, "in", &kgo.Record{Value: fmt.Appendf(nil, "m,h=a v=2 %d000000000\n", w+2)})
	time.Sleep(5 * time.Second) // two and a half idle timeouts
	stalled.Store(false)
	want := []string{
		fmt.Sprintf(`{"metric":"m_v","tags":{"h":"a"},"step":"1m","start":%d,"aggregator":"count","value":2}`, w),
		fmt.Sprintf(`{"metric":"m_v","tags":{"h":"a"},"step":"1m","start":%d,"aggregator":"sum","value":3}`, w),
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") || svc.engine.Counters().ClosedEarly != 0 {
		t.Fatalf("closed early: %d; got\n%s\nwant\n%s", svc.engine.Counters().ClosedEarly, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunSkewBoundsOpenWindows: partition 0 holds a six-hour backlog,
// partition 1 is fed slowly over the same hours. Partition 0 is paused
// whenever it runs --max-skew ahead, so the open windows stay a handful
// instead of every minute of the backlog, and the rollups are exactly
// those of the whole input aggregated offline.
func TestRunSkewBoundsOpenWindows(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(2, "in"), kfake.SeedTopics(1, "rollups"))
	const minutes, series = 360, 100 // 1.5 MB of backlog, 4 KiB a minute, fetched 16 KiB at a time
	t0 := time.Now().Add(-7*time.Hour).Unix() / 60 * 60
	minute := func(p, m int) []byte {
		var b []byte
		for s := range series {
			b = fmt.Appendf(b, "m,p=%d,s=%d v=%d %d000000000\n", p, s, m+s, t0+int64(m)*60+int64(s))
		}
		return b
	}
	var all [2][]byte // each partition's series are its own
	var backlog []*kgo.Record
	for m := range minutes {
		v := minute(0, m)
		all[0] = append(all[0], v...)
		backlog = append(backlog, &kgo.Record{Partition: 0, Value: v})
	}
	// The slow partition's first minute is there from the start: until
	// every partition has delivered, the skew cannot be measured.
	all[1] = minute(1, 0)
	backlog = append(backlog, &kgo.Record{Partition: 1, Value: all[1]})
	// Small record batches, as a producer lingering briefly writes them:
	// a fetch returns whole batches.
	bp, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("in"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	err = bp.ProduceSync(ctx, backlog...).FirstErr()
	cancel()
	bp.Close()
	if err != nil {
		t.Fatal(err)
	}
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--archive", "1m:sum,count",
		"--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--max-skew", "4m", "--shards", "1", "--fetch-max-partition-bytes", "16384",
		"--metrics-listen", "", "--metadata-interval", "200ms")
	var peak atomic.Uint64
	var paused atomic.Bool
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n := svc.engine.Counters().OpenWindows; n > peak.Load() {
				peak.Store(n)
			}
			for _, p := range svc.source.Partitions() {
				if p.Paused {
					paused.Store(true)
				}
			}
		}
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("in"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for m := 1; m < minutes; m++ { // the slow partition: a minute of data every 10ms
		v := minute(1, m)
		all[1] = append(all[1], v...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: v}).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := append(offlineRollups(t, all[0], []string{"1m:sum,count"}, 0), offlineRollups(t, all[1], []string{"1m:sum,count"}, 0)...)
	sort.Strings(want)
	got := consumeLines(t, addrs, "rollups", len(want))
	close(done)
	if lost, extra := compareMultisets(got, want); lost != 0 || extra != 0 {
		t.Fatalf("%d rollups lost, %d extra or wrong of %d:\n%s", lost, extra, len(want), firstDiffLines(got, want))
	}
	if !paused.Load() {
		t.Error("partition 0 was never paused")
	}
	// The skew (4 windows), plus what the parser was handed before each
	// pause: its queue of 8 and the fetch being sent, each about 16 KiB
	// (a fetch ends with a whole batch), 4-6 minutes of this data. Runs
	// measured 15-71 (61-105 under -race) when this test was written.
	// Some runs reach 119-156: when partition 1's first fetch comes after
	// several of partition 0's, partition 0 runs ahead unpaused until then
	// (nothing is paused before every partition has delivered). Without
	// alignment, 358-359: the bound is what tells the two apart.
	if p := peak.Load(); p > 200 {
		t.Errorf("peak of %d open 1m windows with --max-skew 4m (without pausing: up to %d)", p, minutes)
	}
	t.Logf("peak open windows %d", peak.Load())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// /debug/pprof/ is served on a loopback listener, behind ?authKey= when a
// key is set, and not at all on another listener without a key; the
// metrics carry the build.
func TestMetricsHandlerPprofAndBuildInfo(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in", "rollups"))
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--metrics-listen", "", "--metadata-interval", "200ms")
	defer stop()
	status := func(h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	for _, c := range []struct {
		on        bool
		key, path string
		want      int
	}{
		{true, "", "/debug/pprof/", 200},
		{true, "s3cret", "/debug/pprof/", 401},
		{true, "s3cret", "/debug/pprof/?authKey=wrong", 401},
		{true, "s3cret", "/debug/pprof/?authKey=s3cret", 200},
		{false, "", "/debug/pprof/", 404},
		{false, "", "/healthz", 200},
	} {
		if got := status(svc.handler(c.on, c.key), c.path); got != c.want {
			t.Errorf("pprof %v, key %q: GET %s: %d, want %d", c.on, c.key, c.path, got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	svc.handler(false, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	_, rev, gov := buildInfo()
	if want := fmt.Sprintf(`rollup_build_info{version="devel",revision=%q,goversion=%q} 1`, rev, gov); !strings.Contains(rec.Body.String(), want) {
		t.Errorf("no %s in /metrics", want)
	}
	code, out, _ := runCLI(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "rollup ") || !strings.Contains(out, gov) {
		t.Errorf("--version: exit %d: %q", code, out)
	}
}

// /healthz, /metrics and /readyz answer from the start, also while the
// service waits for its output topic; it is ready once it consumes.
func TestHealthFromTheStart(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in")) // no output topic yet
	metrics := freeAddr(t)
	srv := startServing(t, slog.New(slog.NewTextHandler(io.Discard, nil)), "--brokers", addrs[0], "--topic", "in",
		"--metrics-listen", metrics, "--metadata-interval", "200ms")
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metrics + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 10*time.Second, "the metrics listener", func() bool { code, _ := get("/healthz"); return code == 200 })
	if code, body := get("/healthz"); !strings.Contains(body, "starting") {
		t.Errorf("/healthz while waiting: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while waiting: %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "rollup_kafka_up 0") || !strings.Contains(body, "rollup_build_info{") {
		t.Errorf("/metrics while waiting:\n%s", body)
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "rollups", 1, 1
	req.Topics = append(req.Topics, rt)
	if _, err := req.RequestWith(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	srv.wait(t)
	waitFor(t, 10*time.Second, "/readyz to say ready", func() bool { code, _ := get("/readyz"); return code == 200 })
	if _, body := get("/metrics"); !strings.Contains(body, "rollup_kafka_up 1") || !strings.Contains(body, "rollup_points_total") {
		t.Errorf("/metrics when consuming lacks rollup_kafka_up 1 or the counters")
	}
}

// With --log-format json, aggregate's summary is a JSON record with a
// field per counter; in text it lists only the counters that are not zero.
func TestAggregateSummaryFormats(t *testing.T) {
	in := "m v=1 1700000000000000000\nbad\n"
	code, _, errOut := runCLI(t, in, "--log-format", "json", "aggregate", "--archive", "1m:sum")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	var rec map[string]any
	if code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &rec) != nil || rec["malformed_syntax"] != 1.0 || rec["points"] != 1.0 {
		t.Fatalf("exit %d; last stderr line %q", code, lines[len(lines)-1])
	}
	if _, ok := rec["dropped_late"]; ok {
		t.Errorf("zero counter in the summary: %v", rec)
	}
	_, _, errOut = runCLI(t, in, "aggregate", "--archive", "1m:sum")
	if !strings.Contains(errOut, "rollup aggregate: lines=2 points=1 aggregated=1 series=1 rollups=1 malformed_syntax=1\n") {
		t.Errorf("text summary: %q", errOut)
	}
}

// The Kafka client's warnings, repeated for every connection attempt
// while a broker is down, are throttled per message.
func TestKafkaLogThrottled(t *testing.T) {
	var buf chaosLog
	l := kgoLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 50 {
		l.Log(kgo.LogLevelWarn, "unable to open connection to broker", "addr", "127.0.0.1:1")
	}
	l.Log(kgo.LogLevelWarn, "another message")
	if n := strings.Count(buf.String(), "unable to open connection"); n != 5 {
		t.Errorf("%d of 50 repeated warnings logged, want 5:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "another message") {
		t.Error("a different message was held back")
	}
}

// Exit status 2 for values that make no sense (found by kong or after it),
// 1 for a configuration file that cannot be read; a duration from a file
// needs its unit; weeks are a step unit.
func TestConfigErrorsAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare.json")
	os.WriteFile(bare, []byte(`{"lateness": 30}`), 0o600)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", filepath.Join(dir, "missing.json"), "run", "--dry-run", "--brokers", "a:1", "--topic", "x"}, 1, "no such file"},
		{[]string{"--config", bare, "run", "--dry-run", "--brokers", "a:1", "--topic", "x"}, 2, `lateness in ` + bare + `: expected a duration with its unit but got the number 30: write it as a string, e.g. "30s"`},
		{[]string{"run", "--dry-run", "--brokers", "a:1", "--topic", "x", "--archive", "1x:sum"}, 2, `archive "1x:sum"`},
		{[]string{"run", "--dry-run", "--brokers", "a:1,,b:2", "--topic", "x"}, 2, "has an empty entry"},
		{[]string{"aggregate", "--archive", "1d:sum", "--archive", "1w:sum"}, 0, ""},
	} {
		code, _, errOut := runCLI(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// A TOML configuration file works as a JSON one does (chosen by the
// extension), its syntax errors name line and column, and --dry-run shows
// every setting with where it came from.
func TestTOMLConfigAndEffectiveSettings(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rollup.toml")
	os.WriteFile(good, []byte("# as Telegraf's files look\nbrokers = [\"k1:9092\", \"k2:9092\"]\ntopic = [\"telegraf\"]\nlateness = \"30s\"\narchive = [\"1m:sum,count\", \"1h:max\"]\nmax_series = 5000\n"), 0o600)
	t.Setenv("ROLLUP_SHARDS", "3")
	code, out, errOut := runCLI(t, "", "--config", good, "run", "--dry-run", "--output-topic", "out")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"archive 1h: [max] -> topic out",
		"  brokers = [k1:9092 k2:9092] (config file " + good + ")",
		"  lateness = 30s (config file " + good + ")",
		"  max-series = 5000 (config file " + good + ")",
		"  output-topic = out (command line)",
		"  shards = 3 (environment ROLLUP_SHARDS)",
		"  idle-timeout = 1m0s (default)",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("--dry-run lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("brokers = [\"k1:9092\"]\nlateness = \n"), 0o600)
	code, _, errOut = runCLI(t, "", "--config", bad, "run", "--dry-run")
	if code != 2 || !strings.Contains(errOut, "config file "+bad+":2:12: ") {
		t.Errorf("TOML syntax error: exit %d: %s", code, errOut)
	}
	unknown := filepath.Join(dir, "typo.toml")
	os.WriteFile(unknown, []byte("brokers = [\"k1:9092\"]\ntopic = [\"t\"]\noutput_topc = \"x\"\n"), 0o600)
	if code, _, errOut = runCLI(t, "", "--config", unknown, "run", "--dry-run"); code != 2 || !strings.Contains(errOut, `unknown keys ["output_topc"]`) {
		t.Errorf("unknown TOML key: exit %d: %s", code, errOut)
	}
}

// The shipped example configurations are valid and say the same.
func TestExampleConfigs(t *testing.T) {
	var outs []string
	for _, f := range []string{"../../deploy/rollup.example.json", "../../deploy/rollup.example.toml"} {
		code, out, errOut := runCLI(t, "", "--config", f, "run", "--dry-run")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, errOut)
		}
		outs = append(outs, strings.ReplaceAll(out, f, "FILE"))
	}
	if outs[0] != outs[1] {
		t.Errorf("the JSON and TOML examples differ:\n%s\n---\n%s", outs[0], outs[1])
	}
}

// promtool (Prometheus' own checker) finds nothing wrong with a live
// scrape. CI installs it (Debian's prometheus package) and sets
// ROLLUP_REQUIRE_PROMTOOL, so there the test cannot skip.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ROLLUP_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found and ROLLUP_REQUIRE_PROMTOOL is set")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	addrs := kfakeAddrs(t, kfake.SeedTopics(2, "in", "rollups"))
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--archive", "1m:sum,count", "--metrics-listen", "", "--metadata-interval", "200ms")
	defer stop()
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=1 1700000000000000000\nbad line\n")})
	waitRecords(t, svc, 1)
	rec := httptest.NewRecorder()
	svc.handler(false, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, name := range []string{"process_open_fds ", "process_max_fds ", "process_virtual_memory_bytes ", "process_resident_memory_bytes "} {
		if !strings.Contains(rec.Body.String(), "\n"+name) {
			t.Errorf("no %s in /metrics", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// The shipped Grafana dashboard is valid JSON and every metric its queries
// name is one the service exports (in a live scrape).
func TestGrafanaDashboardQueries(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in", "rollups"))
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--archive", "1m:sum", "--metrics-listen", "", "--metadata-interval", "200ms",
		"--checkpoint", t.TempDir(), "--checkpoint-interval", "300ms")
	defer stop()
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=1 1700000000000000000\n")})
	waitRecords(t, svc, 1)
	rec := httptest.NewRecorder()
	svc.handler(false, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exported := map[string]bool{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			name, _, _ = strings.Cut(name, "{")
			exported[name] = true
		}
	}
	metric := regexp.MustCompile(`\b(?:rollup|process|go)_[a-z0-9_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				if !exported[m] {
					t.Errorf("panel %q: %s names %s, which /metrics does not export", p.Title, tg.Expr, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries", queries)
	}
}

// The shipped unit passes systemd-analyze verify (with ExecStart pointed
// at a built binary).
func TestSystemdUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("../../deploy/rollup.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildRollup(t)
	u := strings.Replace(string(unit), "ExecStart=/usr/local/bin/rollup ", "ExecStart="+bin+" ", 1)
	if err := os.WriteFile(filepath.Join(dir, "rollup.service"), []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", filepath.Join(dir, "rollup.service")).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// serving is a `rollup run` started in-process by startServing.
type serving struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when serve returned; err is what it returned
	err    error
	ready  chan *service
}

// startServing parses args as `rollup run` and starts serve with log; it
// does not wait for the service to be ready (see wait).
func startServing(t *testing.T, log *slog.Logger, args ...string) *serving {
	t.Helper()
	var cl cli
	parser, err := kong.New(&cl, kong.Name("rollup"), cliOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(append([]string{"run"}, args...)); err != nil {
		t.Fatal(err)
	}
	rc, err := cl.Run.config(log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, done: make(chan struct{}), ready: make(chan *service, 1)}
	go func() {
		s.err = serve(ctx, log, &cl.Run, rc, s.ready)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	})
	return s
}

// stopWithin stops the service as SIGTERM does and returns serve's error;
// the test fails if that takes longer than d.
func (s *serving) stopWithin(t *testing.T, d time.Duration) error {
	t.Helper()
	start := time.Now()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(d + 10*time.Second):
		t.Fatalf("serve still running %s after the stop", d+10*time.Second)
	}
	took := time.Since(start)
	t.Logf("stopped in %s: %v", took.Round(time.Millisecond), s.err)
	if took > d {
		t.Errorf("shutdown took %s, more than %s", took.Round(time.Millisecond), d)
	}
	return s.err
}

// wait returns the service once it consumes.
func (s *serving) wait(t *testing.T) *service {
	t.Helper()
	select {
	case svc := <-s.ready:
		return svc
	case <-s.done:
		t.Fatalf("serve ended before it was ready: %v", s.err)
	case <-time.After(20 * time.Second):
		t.Fatal("service not ready within 20s")
	}
	return nil
}

// Archive lists take the same separator everywhere: repeated flags, or
// several separated by ';' (also in ROLLUP_ARCHIVE).
func TestArchiveListSeparator(t *testing.T) {
	want := "archive 1m: [sum count] -> topic rollups\narchive 1h: [max] -> topic rollups\n"
	for _, c := range []struct {
		env  string
		args []string
	}{
		{"", []string{"--archive", "1m:sum,count;1h:max"}},
		{"", []string{"--archive", "1m:sum,count", "--archive", "1h:max"}},
		{"1m:sum,count;1h:max", nil},
	} {
		if c.env != "" {
			t.Setenv("ROLLUP_ARCHIVE", c.env)
		}
		code, out, errOut := runCLI(t, "", append([]string{"run", "--dry-run", "--brokers", "a:1", "--topic", "x"}, c.args...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("env %q args %v: exit %d: %s%s", c.env, c.args, code, out, errOut)
		}
	}
}

// TestRouteByTagsShardSeries: run's --route-by reaches the engine, and
// rollup_shard_series shows the spread: one line's twenty series share
// one shard by tags, and are spread by series.
func TestRouteByTagsShardSeries(t *testing.T) {
	var line strings.Builder
	line.WriteString("cpu,host=a ")
	for i := range 20 {
		if i > 0 {
			line.WriteByte(',')
		}
		fmt.Fprintf(&line, "f%d=%d", i, i)
	}
	line.WriteString(" 1700000000000000000\n")
	for _, by := range []string{"series", "tags"} {
		addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in", "rollups"))
		svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--archive", "1m:sum", "--metrics-listen", "",
			"--metadata-interval", "200ms", "--shards", "2", "--route-by", by)
		produce(t, addrs, "in", &kgo.Record{Value: []byte(line.String())})
		var body string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			rec := httptest.NewRecorder()
			svc.handler(false, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if body = rec.Body.String(); strings.Contains(body, "\nrollup_series 20\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("--route-by %s: 20 series never arrived:\n%s", by, body)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		together := strings.Contains(body, "\nrollup_shard_series{shard=\"0\"} 20\n") || strings.Contains(body, "\nrollup_shard_series{shard=\"1\"} 20\n")
		if together != (by == "tags") {
			t.Errorf("--route-by %s: one shard has all 20 series: %v\n%s", by, together, body)
		}
	}
}
