package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRunDryRun(t *testing.T) {
	code, out, errOut := runCLI(t, "", "run", "--dry-run", "--topic", "telegraf", "--archive", "1m:sum,count,avg",
		"--archive", "1h:sum,count:topic=rollups-1h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"configuration valid", "archive 1m: [sum count avg] -> topic rollups", "archive 1h: [sum count] -> topic rollups-1h",
		"checkpoints: none"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry run output lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(errOut, "avg is not sent") {
		t.Errorf("no warning about avg with opentsdb output:\n%s", errOut)
	}
	code, out, errOut = runCLI(t, "", "run", "--dry-run", "--topic", "telegraf", "--checkpoint", "/var/lib/rollup")
	if want := "checkpoints: /var/lib/rollup every 1m0s, keep 3; delivery exactly-once (transactional id rollup-"; code != 0 || !strings.Contains(out, want) ||
		!strings.Contains(out, "marker topic rollup-commits, transaction timeout 2m0s)") {
		t.Errorf("dry run with --checkpoint: exit %d, want %q in:\n%s%s", code, want, out, errOut)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--archive", "1m:sum"}, "no input: give --topic or --topic-regex"},
		{[]string{"--topic", "x", "--topic-regex", "y"}, "can't be used together"},
		{[]string{"--topic-regex", "(", "--archive", "1m:sum"}, "--topic-regex: error parsing regexp"},
		{[]string{"--topic", "x", "--archive", "1h30m:sum"}, "archive 1h30m"},
		{[]string{"--topic", "x", "--output-record-bytes", "10"}, "below the minimum of 1024"},
		{[]string{"--topic", "x", "--archive", "1m:sum:topic="}, "empty topic="},
		{[]string{"--topic", "x", "--delivery", "exactly-once"}, "--delivery exactly-once needs --checkpoint"},
		{[]string{"--topic", "x", "--checkpoint", "/tmp/x", "--transaction-timeout", "30s"}, "--transaction-timeout 30s must exceed --checkpoint-interval 1m0s"},
		{[]string{"--topic", "x", "--checkpoint", "/tmp/x", "--marker-topic", "x"}, "--marker-topic x is also an input or output topic"},
		{[]string{"--topic", "x", "--checkpoint", "s3://b/x"}, `unknown scheme "s3"`},
		{[]string{"--topic", "x", "--checkpoint", "hdfs:///x"}, "--checkpoint: "},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"run", "--dry-run"}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, want an error containing %q:\n%s", c.args, code, c.msg, errOut)
		}
	}
}

// TestRunConfigFile: a JSON file sets flags; the command line wins over
// it, and it wins over ROLLUP_* variables.
func TestRunConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rollup.json")
	if err := os.WriteFile(path, []byte(`{"topic": ["telegraf"], "archive": ["10s:sum", "1m:max"], "output_topic": "from-file", "lateness": "5s"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "--config", path, "run", "--dry-run")
	if code != 0 || !strings.Contains(out, "archive 10s: [sum] -> topic from-file") || !strings.Contains(out, "archive 1m: [max] -> topic from-file") {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "", "--config", path, "run", "--dry-run", "--output-topic", "from-flag")
	if code != 0 || !strings.Contains(out, "-> topic from-flag") {
		t.Fatalf("command line did not win over the file: exit %d:\n%s", code, out)
	}
	t.Setenv("ROLLUP_OUTPUT_TOPIC", "from-env")
	code, out, _ = runCLI(t, "", "--config", path, "run", "--dry-run")
	if code != 0 || !strings.Contains(out, "-> topic from-file") {
		t.Fatalf("the environment won over the file: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "", "run", "--dry-run", "--topic", "x")
	if code != 0 || !strings.Contains(out, "-> topic from-env") {
		t.Fatalf("ROLLUP_OUTPUT_TOPIC ignored: exit %d:\n%s", code, out)
	}
	// A typo is an error, not a silently ignored key; camelCase works too.
	bad := filepath.Join(t.TempDir(), "typo.json")
	os.WriteFile(bad, []byte(`{"topic": ["x"], "output_topc": "r", "maxFuture": "2h", "log_level": "debug"}`), 0o644)
	code, _, errOut = runCLI(t, "", "--config", bad, "run", "--dry-run")
	if code != 2 || !strings.Contains(errOut, `unknown keys ["output_topc"] for 'rollup run'`) {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

// freeAddr returns a loopback address nobody listens on (for the metrics
// server of a command started by its arguments).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRunSIGTERM: the real command, started by its arguments, consumes,
// serves /metrics and /healthz, and exits 0 soon after SIGTERM.
func TestRunSIGTERM(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "in"), kfake.SeedTopics(2, "rollups"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	metrics := freeAddr(t)
	var stderr syncWriter
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"run", "--brokers", c.ListenAddrs()[0], "--topic", "in", "--archive", "10s:sum,count",
			"--metrics-listen", metrics, "--metadata-interval", "200ms", "--log-format", "json"},
			stdio{strings.NewReader(""), io.Discard, &stderr})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if body, err := get("http://" + metrics + "/healthz"); err == nil && strings.HasPrefix(body, "ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz within 20s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().Add(-time.Minute).UnixNano()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "cpu,host=a idle=1 %d\ncpu,host=a idle=3 %d\nbad\n", now, now)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		body, _ := get("http://" + metrics + "/metrics")
		if strings.Contains(body, "rollup_points_total 2\n") && strings.Contains(body, `rollup_lines_malformed_total{reason="syntax"} 1`) &&
			strings.Contains(body, `rollup_partition_offset{topic="in",partition="`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the points:\n%s\n%s", body, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM:\n%s", stderr.String())
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	logs := stderr.String()
	for _, s := range []string{`"msg":"shutting down: stopping fetches"`, `"msg":"stopped"`, `"msg":"malformed line skipped"`, `"topic":"in"`} {
		if !strings.Contains(logs, s) {
			t.Errorf("log lacks %s:\n%s", s, logs)
		}
	}
}

// startService runs `rollup run` in-process with args until the test ends.
func startService(t *testing.T, args ...string) *service {
	t.Helper()
	svc, stop := serveUntil(t, args...)
	if svc == nil {
		t.Fatalf("service ended before it was ready: %v", stop())
	}
	return svc
}

// TestKcatInterop: a third-party client (kcat, librdkafka) produces
// Telegraf lines into the embedded broker and reads the OpenTSDB rollups
// back. .ci/run installs kcat and sets ROLLUP_REQUIRE_KCAT=1.
func TestKcatInterop(t *testing.T) {
	kcat := kcatPath(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "telegraf"), kfake.SeedTopics(1, "rollups"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	broker := c.ListenAddrs()[0]
	startService(t, "--brokers", broker, "--topic", "telegraf", "--archive", "10s:sum,count,min,max",
		"--lateness", "1s", "--idle-timeout", "300ms", "--fetch-max-wait", "50ms", "--metrics-listen", "", "--metadata-interval", "200ms")

	// Two hosts, two 10s windows a minute ago; one line per message, keyed
	// by host as Telegraf's routing_tag would.
	w0 := time.Now().Add(-time.Minute).Unix() / 10 * 10
	var in strings.Builder
	for i, v := range []float64{1, 2, 4, 8} {
		t0 := w0 + int64(i)*5 // two points in each window
		fmt.Fprintf(&in, "a:cpu,host=a usage_idle=%g %d\n", v, t0*1e9)
		fmt.Fprintf(&in, "b:cpu,host=b usage_idle=%g %d\n", v*10, t0*1e9)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod := exec.CommandContext(ctx, kcat, "-P", "-b", broker, "-t", "telegraf", "-K", ":")
	prod.Stdin = strings.NewReader(in.String())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}

	type agg struct {
		Type, Metric, Interval, Aggregator string
		Timestamp                          int64
		Value                              json.Number
		Tags                               map[string]string
	}
	want := []string{}
	for _, h := range []struct {
		host string
		k    float64
	}{{"a", 1}, {"b", 10}} {
		for wi, vals := range [][2]float64{{1, 2}, {4, 8}} {
			ts := w0 + int64(wi)*10
			a, b := vals[0]*h.k, vals[1]*h.k
			for _, s := range []string{
				fmt.Sprintf("%d %s sum %g", ts, h.host, a+b), fmt.Sprintf("%d %s count 2", ts, h.host),
				fmt.Sprintf("%d %s min %g", ts, h.host, a), fmt.Sprintf("%d %s max %g", ts, h.host, b),
			} {
				want = append(want, s)
			}
		}
	}
	sort.Strings(want)
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cons := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", "rollups", "-o", "beginning", "-e", "-q", "-f", "%s\n")
		out, err := cons.Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		got = got[:0]
		for _, rec := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if rec == "" {
				continue
			}
			var aggs []agg
			if err := json.Unmarshal([]byte(rec), &aggs); err != nil {
				t.Fatalf("record is not a JSON array of Aggregates: %v\n%s", err, rec)
			}
			for _, a := range aggs {
				if a.Type != "Aggregate" || a.Metric != "cpu_usage_idle" || a.Interval != "10s" {
					t.Fatalf("unexpected object %+v", a)
				}
				got = append(got, fmt.Sprintf("%d %s %s %s", a.Timestamp, a.Tags["host"], a.Aggregator, a.Value))
			}
		}
		sort.Strings(got)
		if len(got) >= len(want) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rollups read with kcat:\n got %q\nwant %q", got, want)
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", d, what)
		}
	}
}

// TestDemo runs the README's first command for a few seconds: every point
// generated is aggregated and the tables come back from Kafka.
func TestDemo(t *testing.T) {
	code, out, errOut := runCLI(t, "", "demo", "--duration", "3s", "--hosts", "2", "--interval", "500ms", "--archive", "1s:sum,count,min,max,avg", "--lateness", "500ms")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "1s window starting") || !strings.Contains(out, "cpu_usage_idle     host-00001") {
		t.Errorf("no rollup table:\n%s", out)
	}
	var gen, agg, series int
	i := strings.Index(out, "summary: ")
	if i < 0 {
		t.Fatalf("no summary:\n%s", out)
	}
	fmt.Sscanf(out[i:], "summary: generated %d points", &gen)
	j := strings.Index(out[i:], "aggregated ")
	fmt.Sscanf(out[i+j:], "aggregated %d points of %d series", &agg, &series)
	if gen == 0 || agg != gen || series != 180 {
		t.Errorf("generated %d, aggregated %d of %d series:\n%s", gen, agg, series, out[i:])
	}
}

// TestRunShutdownBrokerGone: with the broker gone and rollups waiting to
// be produced, a stop still returns within --shutdown-timeout (with an
// error naming what was lost) instead of hanging until systemd kills it.
func TestRunShutdownBrokerGone(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "rollups"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := startServing(t, slog.New(slog.NewTextHandler(io.Discard, nil)), "--brokers", c.ListenAddrs()[0], "--topic", "in",
		"--archive", "1s:sum", "--lateness", "0s", "--idle-timeout", "300ms", "--fetch-max-wait", "50ms", "--metrics-listen", "",
		"--shutdown-timeout", "2s", "--metadata-interval", "200ms")
	svc := srv.wait(t)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	now := time.Now().Add(-time.Minute).Unix()
	if err := prod.ProduceSync(pctx, &kgo.Record{Value: fmt.Appendf(nil, "m,h=a v=1 %d000000000\n", now)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the point to be read", func() bool { return svc.engine.Counters().Points > 0 })
	// The broker stops answering produce requests (fetches still work,
	// so idleness lets the wall clock close the window).
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
	waitFor(t, 10*time.Second, "the window to close", func() bool { return svc.engine.Counters().Rollups > 0 })
	if err := srv.stopWithin(t, 3*time.Second); err == nil || !strings.Contains(err.Error(), "shutdown") {
		t.Errorf("the rollup that could not be delivered is not reported: %v", err)
	}
}

// The --input-format enums follow fastparse's list of formats; aggregate
// refuses the binary ones.
func TestInputFormatEnums(t *testing.T) {
	code, _, errOut := runCLI(t, "", "run", "--dry-run", "--input-format", "xml")
	if code == 0 || !strings.Contains(errOut, `must be one of "influx","opentsdb","opentsdb-keyed","carbon","metrictank","auto"`) {
		t.Errorf("run --input-format xml: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "", "aggregate", "--input-format", "metrictank", "--archive", "1m:sum")
	if code == 0 || !strings.Contains(errOut, `must be one of "influx","opentsdb","carbon","auto"`) {
		t.Errorf("aggregate --input-format metrictank: exit %d: %s", code, errOut)
	}
}

// rollup aggregate reads every text input format; the metric name of
// OpenTSDB and carbon input is kept as it is.
func TestAggregateInputFormats(t *testing.T) {
	for _, c := range []struct{ format, in string }{
		{"influx", "sys,host=a cpu=1 1700000000000000000\nsys,host=a cpu=3 1700000010000000000\n"},
		{"opentsdb", "put sys_cpu 1700000000 1 host=a\nput sys_cpu 1700000010000 3 host=a\n"},
		{"carbon", "sys_cpu;host=a 1 1700000000\nsys_cpu;host=a 3 1700000010\n"},
	} {
		code, out, errOut := runCLI(t, c.in, "aggregate", "--input-format", c.format, "--archive", "1m:sum,count")
		want := `{"metric":"sys_cpu","tags":{"host":"a"},"step":"1m","start":1699999980,"aggregator":"sum","value":4}` + "\n" +
			`{"metric":"sys_cpu","tags":{"host":"a"},"step":"1m","start":1699999980,"aggregator":"count","value":2}` + "\n"
		if code != 0 || out != want {
			t.Errorf("%s: exit %d\n%s%s", c.format, code, out, errOut)
		}
	}
}

// --carbon-schemas: a schema whose raw interval is longer than the finest
// step is named in a warning; a broken file is an error with its line.
func TestCarbonSchemasFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "storage-schemas.conf")
	os.WriteFile(good, []byte("[slow]\npattern = ^slow\\.\nretentions = 5m:30d\n[rest]\npattern = .*\nretentions = 10s:1d\n"), 0o644)
	code, _, errOut := runCLI(t, "", "run", "--dry-run", "--topic", "x", "--input-format", "carbon", "--archive", "1m:sum", "--carbon-schemas", good)
	if code != 0 || !strings.Contains(errOut, "a carbon schema's raw interval is longer than the finest archive step") ||
		!strings.Contains(errOut, "schema=slow") || strings.Contains(errOut, "schema=rest") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[a]\npattern = x\nretentions = 1x:1d\n"), 0o644)
	code, _, errOut = runCLI(t, "", "aggregate", "--input-format", "carbon", "--carbon-schemas", bad)
	if code == 0 || !strings.Contains(errOut, "bad.conf:3: retentions of [a]: retention \"1x:1d\": unknown duration unit \"x\"") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

func TestOpenTSDBConfigCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "", "opentsdb-config", "--archive", "1m:sum,count,avg", "--archive", "1h:sum,count,max:topic=x", "--raw-interval", "10s")
	var cfg struct {
		AggregationIDs map[string]int `json:"aggregationIds"`
		Intervals      []struct {
			Table, Interval, RowSpan string
			DefaultInterval          bool
		} `json:"intervals"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &cfg) != nil {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if fmt.Sprint(cfg.AggregationIDs) != "map[count:1 max:2 sum:0]" || len(cfg.Intervals) != 3 ||
		!cfg.Intervals[0].DefaultInterval || cfg.Intervals[1].Table != "tsdb-rollup-1m" || cfg.Intervals[2].RowSpan != "1d" {
		t.Fatalf("config:\n%s", out)
	}
	if code, _, errOut := runCLI(t, "", "opentsdb-config", "--archive", "1h30m:sum"); code == 0 || !strings.Contains(errOut, `invalid opentsdb interval "1h30m"`) {
		t.Fatalf("compound interval: exit %d %s", code, errOut)
	}
}

// Archives can go to different stores: format= per archive, one format
// per topic.
func TestArchiveFormats(t *testing.T) {
	code, out, errOut := runCLI(t, "", "run", "--dry-run", "--topic", "in", "--archive", "1m:sum,count:topic=tsdb",
		"--archive", "1h:max:format=influx:topic=influx-1h")
	if code != 0 || !strings.Contains(out, "archive 1h: [max] -> topic influx-1h") || !strings.Contains(out, "archive 1h: format influx") ||
		strings.Contains(out, "archive 1m: format") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--archive", "1m:sum", "--archive", "1h:sum:format=influx"}, "topic rollups gets archives in two formats (opentsdb and influx)"},
		{[]string{"--archive", "1m:sum:format=xml"}, `unknown format "xml" (valid: opentsdb, jsonl, influx, carbon, metrictank)`},
		{[]string{"--archive", "1m:sum:retention=30d"}, `unknown option "retention" (valid: topic=, format=, ttl=)`},
		{[]string{"--archive", "1m:sum:ttl=30x"}, `archive "1m:sum:ttl=30x": ttl: `},
		{[]string{"--archive", "1h30m:sum:format=opentsdb:topic=a", "--output-format", "jsonl"}, `invalid opentsdb interval "1h30m"`},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"run", "--dry-run", "--topic", "in"}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, want %q in:\n%s", c.args, code, c.msg, errOut)
		}
	}
	// jsonl on one topic, influx on another, through Kafka.
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "j"), kfake.SeedTopics(1, "i"))
	_, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--archive", "1m:sum:topic=j",
		"--archive", "5m:sum:topic=i:format=influx", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=2 1700000000000000000\n")})
	if got := consumeLines(t, addrs, "j", 1); len(got) != 1 || got[0] != `{"metric":"cpu_idle","tags":{"host":"a"},"step":"1m","start":1699999980,"aggregator":"sum","value":2}` {
		t.Errorf("jsonl topic: %q", got)
	}
	if got := consumeLines(t, addrs, "i", 1); len(got) != 1 || got[0] != "cpu_idle,host=a,step=5m sum=2 1699999800000000000" {
		t.Errorf("influx topic: %q", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// --create-topics: the output topic is created, with the archive's ttl as
// its retention, and the service writes to it.
func TestCreateTopics(t *testing.T) {
	code, out, errOut := runCLI(t, "", "run", "--dry-run", "--topic", "in", "--archive", "1m:sum:ttl=30d")
	if code != 0 || !strings.Contains(out, "archive 1m: ttl 720h0m0s") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in"))
	_, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--create-topics",
		"--archive", "1m:sum:ttl=30d", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=2 1700000000000000000\n")})
	if got := consumeLines(t, addrs, "rollups", 1); len(got) != 1 {
		t.Fatalf("created topic: %q", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestKcatInputFormats: kcat (librdkafka) produces OpenTSDB put lines and
// Graphite lines (several in one record, and one per record) and reads the
// rollups back as line protocol.
func TestKcatInputFormats(t *testing.T) {
	kcat := kcatPath(t)
	w0 := time.Now().Add(-time.Minute).Unix() / 60 * 60
	for _, c := range []struct {
		format string
		lines  []string // one record each; a record may hold several lines
	}{
		{"opentsdb", []string{
			fmt.Sprintf("put sys.load %d 1 host=a\\nput sys.load %d 3 host=a", w0, w0+10),
			fmt.Sprintf("put sys.load %d000 5 host=a", w0+20),
		}},
		{"carbon", []string{
			fmt.Sprintf("sys.load;host=a 1 %d\\nsys.load;host=a 3 %d", w0, w0+10),
			fmt.Sprintf("sys.load;host=a 5 %d", w0+20),
		}},
	} {
		t.Run(c.format, func(t *testing.T) {
			cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "rollups"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			broker := cl.ListenAddrs()[0]
			startService(t, "--brokers", broker, "--topic", "in", "--input-format", c.format, "--output-format", "influx",
				"--archive", "1m:sum,count", "--lateness", "1s", "--idle-timeout", "300ms", "--fetch-max-wait", "50ms", "--metrics-listen", "", "--metadata-interval", "200ms")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// -D '|' separates records, so a record can hold a newline
			// (written as \n above and expanded here).
			prod := exec.CommandContext(ctx, kcat, "-P", "-b", broker, "-t", "in", "-D", "|")
			prod.Stdin = strings.NewReader(strings.ReplaceAll(strings.Join(c.lines, "|"), `\n`, "\n"))
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat -P: %v\n%s", err, out)
			}
			want := fmt.Sprintf("sys.load,host=a,step=1m sum=9,count=3i %d000000000", w0)
			if got := kcatRead(ctx, t, kcat, broker, "rollups"); got != want {
				t.Fatalf("rollups read with kcat:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestTopicFormatFlag(t *testing.T) {
	code, _, errOut := runCLI(t, "", "run", "--dry-run", "--topic", "a:xml")
	if code == 0 || !strings.Contains(errOut, `--topic a:xml: unknown input format "xml" (valid: influx, opentsdb, opentsdb-keyed, carbon, metrictank, auto)`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestOutputCompression: --output-compression picks the codec of the
// output record batches, and the rollups read back the same with each.
func TestOutputCompression(t *testing.T) {
	for codec, attr := range map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4} {
		addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "out"))
		_, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-topic", "out", "--output-format", "jsonl",
			"--output-compression", codec, "--archive", "1m:sum", "--lateness", "0s", "--idle-timeout", "1s",
			"--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
		// Enough rollups that every codec makes them smaller (franz-go
		// sends a batch that does not shrink uncompressed).
		var in bytes.Buffer
		for h := range 200 {
			fmt.Fprintf(&in, "cpu,host=h%d idle=2 1700000000000000000\n", h)
		}
		produce(t, addrs, "in", &kgo.Record{Value: in.Bytes()})
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("out"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var got []*kgo.Record
		var all strings.Builder
		for strings.Count(all.String(), "\n") < 200 && ctx.Err() == nil {
			for _, r := range cl.PollFetches(ctx).Records() {
				got = append(got, r)
				all.Write(r.Value)
			}
		}
		cancel()
		cl.Close()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		want := `{"metric":"cpu_idle","tags":{"host":"h7"},"step":"1m","start":1699999980,"aggregator":"sum","value":2}` + "\n"
		ok := strings.Contains(all.String(), want) && strings.Count(all.String(), "\n") == 200
		for _, r := range got {
			ok = ok && r.Attrs.CompressionType() == uint8(attr)
		}
		if !ok {
			for _, r := range got {
				t.Logf("record of %d bytes, compression %d", len(r.Value), r.Attrs.CompressionType())
			}
			t.Fatalf("%s: want 200 rollups in records with compression %d", codec, attr)
		}
	}
}
