package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/internal/realhdfs"
	"github.com/rollupd/rollup/internal/realkafka"
	"github.com/rollupd/rollup/pipeline"
)

// serveUntil runs `rollup run` in-process with args; stop cancels it (as
// SIGTERM does) and returns serve's error.
func serveUntil(t *testing.T, args ...string) (svc *service, stop func() error) {
	t.Helper()
	svc, stop, _ = serveAsync(t, args...)
	return svc, stop
}

// serveAsync is serveUntil that also returns exited, which says (without
// stopping it) whether the service ended by itself within d, and how.
func serveAsync(t *testing.T, args ...string) (svc *service, stop func() error, exited func(d time.Duration) (bool, error)) {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("rollup"), cliOptions(), kong.Exit(func(int) { t.Fatal("kong exit") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(append([]string{"run"}, args...)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rc, err := c.Run.config(log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *service, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, log, &c.Run, rc, ready) }()
	var result error
	finished := false
	wait := func(d time.Duration) bool {
		if finished {
			return true
		}
		select {
		case result = <-done:
			finished = true
		case <-time.After(d):
		}
		return finished
	}
	exited = func(d time.Duration) (bool, error) {
		ok := wait(d)
		return ok, result
	}
	stopped := false
	stopFn := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		if !wait(30 * time.Second) {
			t.Fatal("service did not stop within 30s")
		}
		return result
	}
	stop = stopFn
	t.Cleanup(func() {
		if err := stopFn(); err != nil && !errors.Is(err, pipeline.ErrCommit) && !strings.Contains(err.Error(), "transaction") {
			t.Error(err)
		}
	})
	select {
	case svc = <-ready:
		return svc, stop, exited
	case result = <-done:
		finished, stopped = true, true
		return nil, func() error { return result }, exited
	case <-time.After(20 * time.Second):
		t.Fatal("service not ready within 20s")
	}
	return nil, stop, exited
}

// TestRunFencedByTwin: a second service started with the same
// transactional id (a misconfiguration, or a restart while the old
// process hangs on) fences the first, which stops with an error at its
// next commit instead of writing output the second one also writes; the
// second goes on. Against a real Kafka broker.
func TestRunFencedByTwin(t *testing.T) {
	b := realkafka.Start(t)
	admin, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	realkafka.CreateTopic(t, admin, "in", 1)
	realkafka.CreateTopic(t, admin, "rollups", 1)
	args := []string{"--brokers", b.Addr(), "--topic", "in", "--output-format", "jsonl", "--metrics-listen", "",
		"--metadata-interval", "200ms", "--checkpoint", filepath.Join(t.TempDir(), "ckpt"), "--checkpoint-interval", "300ms",
		"--transactional-id", "twin", "--archive", "1m:sum"}
	a, _, aExited := serveAsync(t, args...)
	if a == nil {
		t.Fatal("first service did not start")
	}
	deadline := time.Now().Add(20 * time.Second)
	for a.ckpt.Stats().Commits < 2 {
		if time.Now().After(deadline) {
			t.Fatal("first service committed nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	bSvc, stopB, _ := serveAsync(t, args...)
	if bSvc == nil {
		t.Fatal("second service did not start")
	}
	ok, err := aExited(20 * time.Second)
	if !ok || err == nil || !strings.Contains(err.Error(), "transaction") {
		t.Fatalf("fenced service: ended %v, error %v", ok, err)
	}
	commits := bSvc.ckpt.Stats().Commits
	deadline = time.Now().Add(20 * time.Second)
	for bSvc.ckpt.Stats().Commits < commits+2 {
		if time.Now().After(deadline) {
			t.Fatal("second service stopped committing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
}

// consumeLines reads topic from the start until it has n lines or 20s
// pass, and returns them sorted.
func consumeLines(t *testing.T, addrs []string, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var lines []string
	deadline := time.Now().Add(20 * time.Second)
	for len(lines) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			lines = append(lines, strings.Split(strings.TrimSuffix(string(r.Value), "\n"), "\n")...)
		})
	}
	// A little longer, to catch duplicates beyond n.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		lines = append(lines, strings.Split(strings.TrimSuffix(string(r.Value), "\n"), "\n")...)
	})
	cancel()
	sort.Strings(lines)
	return lines
}

// TestRunCheckpointRestart: a service stopped (SIGTERM) writes a final
// checkpoint; the next start restores it and resumes every partition at
// its offset, so the two runs together emit exactly the offline rollups of
// the whole input: none lost, none twice, none partial. A third start with
// other archives is refused with the difference; a damaged newest file
// makes the start fall back to the previous one.
func TestRunCheckpointRestart(t *testing.T) {
	checkpointRestart(t, filepath.Join(t.TempDir(), "ckpt"), "exactly-once")
}

// TestRunCheckpointAtLeastOnce: the same without transactions.
func TestRunCheckpointAtLeastOnce(t *testing.T) {
	checkpointRestart(t, filepath.Join(t.TempDir(), "ckpt"), "at-least-once")
}

// TestRunCheckpointHDFS: the same against a real HDFS (MiniDFSCluster).
func TestRunCheckpointHDFS(t *testing.T) {
	cl := realhdfs.Start(t)
	checkpointRestart(t, "hdfs://"+cl.Addr()+"/rollup/ckpt", "exactly-once")
}

// checkpointRestart runs the restart scenario with checkpoints at loc;
// the damaged-file part runs only for a local directory.
func checkpointRestart(t *testing.T, loc, delivery string) {
	dir, local := loc, !strings.Contains(loc, "://")
	addrs := kfakeAddrs(t, kfake.SeedTopics(2, "in"), kfake.SeedTopics(2, "rollups"))
	archives := []string{"1m:sum,count,min,max,first,last", "5m:sum,count"}
	base := []string{"--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--lateness", "10s",
		"--metrics-listen", "", "--metadata-interval", "200ms", "--checkpoint", dir, "--checkpoint-interval", "300ms", "--delivery", delivery}
	common := slices.Clone(base)
	for _, a := range archives {
		common = append(common, "--archive", a)
	}

	g := gen.NewTelegraf(gen.Config{Hosts: 8, Start: time.Unix(1700000000, 0), Interval: 10 * time.Second, Seed: 4})
	var recs []*kgo.Record
	var all []byte
	for range 90 {
		for h := range 8 {
			v := g.AppendHost(nil, h)
			all = append(all, v...)
			recs = append(recs, &kgo.Record{Topic: "in", Partition: int32(h % 2), Value: v})
		}
		g.Advance()
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	produce := func(rs []*kgo.Record) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := admin.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitRead := func(svc *service, n int64) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got int64
			for _, p := range svc.source.Partitions() {
				got += p.Records
			}
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d records", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// First run: no idle advancement, so only event time closes windows.
	half := len(recs) / 2
	produce(recs[:half])
	svc, stop := serveUntil(t, append(common, "--idle-timeout", "0")...)
	waitRead(svc, int64(half))
	time.Sleep(700 * time.Millisecond) // let interval checkpoints happen too
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	names := listCheckpoints(t, loc)
	if len(names) < 2 || len(names) > 3 {
		t.Fatalf("%d checkpoint files after the first run, want 2..3 (--checkpoint-keep 3)", len(names))
	}

	// Second run: restores, reads the rest; idleness then closes the
	// last windows.
	produce(recs[half:])
	svc, stop = serveUntil(t, append(common, "--idle-timeout", "2s", "--fetch-max-wait", "200ms")...)
	waitRead(svc, int64(len(recs)-half))
	if st := svc.ckpt.Stats(); st.Restore <= 0 || st.Epoch < 2 {
		t.Fatalf("restore not recorded: %+v", st)
	}
	time.Sleep(400 * time.Millisecond) // one interval checkpoint
	var pw pipeline.PromWriter
	svc.writeMetrics(&pw)
	for _, m := range []string{"rollup_checkpoint_pause_seconds_bucket{le=\"+Inf\"} ", "rollup_checkpoint_write_seconds_count ",
		"rollup_checkpoint_bytes ", "rollup_checkpoint_epoch ", "rollup_checkpoint_last_success_timestamp_seconds ",
		`rollup_checkpoint_failures_total{backend="` + backendName(loc) + `",reason="write"} 0`,
		`rollup_transactions_total{result="aborted"} 0`} {
		if !strings.Contains(string(pw.Bytes()), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if delivery == "exactly-once" && strings.Contains(string(pw.Bytes()), `rollup_transactions_total{result="committed"} 0`) {
		t.Errorf("no transaction committed")
	}
	if strings.Contains(string(pw.Bytes()), "rollup_checkpoint_restore_seconds 0\n") || strings.Contains(string(pw.Bytes()), "rollup_checkpoint_pause_seconds_count 0\n") {
		t.Errorf("restore or pause not recorded:\n%s", pw.Bytes())
	}

	want := offlineRollups(t, all, archives, 10*time.Second)
	got := consumeLines(t, addrs, "rollups", len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("two runs emitted %d rollups, offline %d:\n%s", len(got), len(want), firstDiffLines(got, want))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Other archives: refused, with the difference and the way out.
	var cl cli
	parser, _ := kong.New(&cl, kong.Name("rollup"), cliOptions())
	args := append(slices.Clone(base), "--archive", "1m:sum")
	if _, err := parser.Parse(append([]string{"run"}, args...)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc, err := cl.Run.config(log)
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), log, &cl.Run, rc, nil)
	if err == nil || !strings.Contains(err.Error(), "was written with other archives") || !strings.Contains(err.Error(), "archive 5m 300s sum,count") ||
		!strings.Contains(err.Error(), "--checkpoint-discard") {
		t.Fatalf("other archives: %v", err)
	}

	// The second run wrote checkpoints too: verify what is there now.
	names = listCheckpoints(t, loc)
	code, out, errOut := runCLI(t, "", "ckpt", "verify", dir)
	if code != 0 || strings.Count(out, "ok       ") != len(names) {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", "ckpt", "inspect", dir)
	for _, s := range []string{"delivery   " + delivery, "archive 1m 60s sum,count,min,max,first,last", "partitions 2", "  in/0  next offset ", "series     "} {
		if code != 0 || !strings.Contains(out, s) {
			t.Errorf("inspect lacks %q: exit %d\n%s%s", s, code, out, errOut)
		}
	}

	if !local {
		return
	}
	// A damaged newest file: the previous one is used.
	names = listCheckpoints(t, loc)
	newest := filepath.Join(dir, names[len(names)-1])
	b, _ := os.ReadFile(newest)
	b[len(b)/2] ^= 0xff
	os.WriteFile(newest, b, 0o644)
	code, out, _ = runCLI(t, "", "ckpt", "verify", dir)
	if code != 1 || !strings.Contains(out, "CORRUPT  "+newest+": checkpoint corrupt: section ") {
		t.Fatalf("verify of a damaged file: exit %d\n%s", code, out)
	}
	svc, stop = serveUntil(t, append(common, "--idle-timeout", "0")...)
	if st := svc.ckpt.Stats(); st.Epoch == 0 {
		t.Fatal("nothing restored after the newest file was damaged")
	}
	stop()

	// --checkpoint-discard starts from scratch, and its checkpoints are
	// numbered after the old ones, so they are the newest.
	before := listCheckpoints(t, loc)
	svc, stop = serveUntil(t, append(common, "--idle-timeout", "0", "--checkpoint-discard")...)
	if st := svc.ckpt.Stats(); st.Restore != 0 || svc.engine.Counters().Series != 0 {
		t.Fatalf("--checkpoint-discard restored state: %+v", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if after := listCheckpoints(t, loc); after[len(after)-1] <= before[len(before)-1] {
		t.Fatalf("after --checkpoint-discard the newest file is %s, was %s", after[len(after)-1], before[len(before)-1])
	}

	// --checkpoint-require on an empty location refuses to start.
	empty := slices.Clone(common)
	empty[slices.Index(empty, dir)] = filepath.Join(t.TempDir(), "empty")
	_, stop = serveUntil(t, append(empty, "--checkpoint-require")...)
	if err := stop(); err == nil || !strings.Contains(err.Error(), "--checkpoint-require: no usable checkpoint in ") {
		t.Fatalf("--checkpoint-require on an empty location: %v", err)
	}
}

// listCheckpoints lists the checkpoint files at loc, oldest first.
func listCheckpoints(t *testing.T, loc string) []string {
	t.Helper()
	b, err := openCheckpointBackend(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	names, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func firstDiffLines(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return "got:  " + got[i] + "\nwant: " + want[i]
		}
	}
	return "one is a prefix of the other"
}

// TestRunOpenTSDBInput: `rollup run --input-format opentsdb` reads put
// lines from Kafka (one per record, or several) and counts a bad one.
func TestRunOpenTSDBInput(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "puts"), kfake.SeedTopics(1, "rollups"))
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "puts", "--input-format", "opentsdb", "--output-format", "jsonl",
		"--archive", "1m:sum,count", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	produce(t, addrs, "puts", &kgo.Record{Value: []byte("put sys.cpu.user 1700000000 42.5 host=web01 dc=lga")},
		&kgo.Record{Value: []byte("put sys.cpu.user 1700000030000 7 dc=lga host=web01\r\nput sys.cpu.user 1700000031 x host=web01\n")})
	want := []string{
		`{"metric":"sys.cpu.user","tags":{"dc":"lga","host":"web01"},"step":"1m","start":1699999980,"aggregator":"count","value":2}`,
		`{"metric":"sys.cpu.user","tags":{"dc":"lga","host":"web01"},"step":"1m","start":1699999980,"aggregator":"sum","value":49.5}`,
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cnt := svc.engine.Counters(); cnt.MalformedTotal() != 1 {
		n := cnt.MalformedTotal()
		t.Fatalf("%d malformed lines, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunInfluxOutput: `rollup run --output-format influx` writes line
// protocol records, one line per series, window and archive.
func TestRunInfluxOutput(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "rollups"))
	_, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "influx", "--influx-step-tag", "res",
		"--archive", "1m:sum,count", "--archive", "5m:max", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=1 1700000000000000000\ncpu,host=a idle=3.5 1700000010000000000\n")})
	want := []string{
		"cpu_idle,host=a,res=1m sum=4.5,count=2i 1699999980000000000",
		"cpu_idle,host=a,res=5m max=3.5 1699999800000000000",
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunTopicFormats: one service reads line protocol from one topic and
// OpenTSDB put lines from another (--topic NAME:FORMAT).
func TestRunTopicFormats(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(2, "tele", "puts"), kfake.SeedTopics(1, "rollups"))
	_, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "tele", "--topic", "puts:opentsdb", "--output-format", "jsonl",
		"--archive", "1m:sum", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms", "--parsers", "1")
	produce(t, addrs, "tele",
		&kgo.Record{Partition: 0, Value: []byte("cpu,host=a idle=2 1700000000000000000\n")},
		&kgo.Record{Topic: "puts", Partition: 1, Value: []byte("put sys.load 1700000000 5 host=b\n")},
		&kgo.Record{Partition: 1, Value: []byte("cpu,host=c idle=7 1700000001000000000\n")})
	want := []string{
		`{"metric":"cpu_idle","tags":{"host":"a"},"step":"1m","start":1699999980,"aggregator":"sum","value":2}`,
		`{"metric":"cpu_idle","tags":{"host":"c"},"step":"1m","start":1699999980,"aggregator":"sum","value":7}`,
		`{"metric":"sys.load","tags":{"host":"b"},"step":"1m","start":1699999980,"aggregator":"sum","value":5}`,
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunAutoFormat: --input-format auto tells each record's format; a
// record that fits none is counted as unknown_format, not guessed.
func TestRunAutoFormat(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in", "rollups"))
	svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--input-format", "auto", "--output-format", "jsonl",
		"--archive", "1m:sum", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=2 1700000000000000000\n")},
		&kgo.Record{Value: []byte("put sys.load 1700000000 5 host=b\n")},
		&kgo.Record{Value: []byte("disk.used;host=c 7 1700000000\n")},
		&kgo.Record{Value: []byte("what is this\n")})
	want := []string{
		`{"metric":"cpu_idle","tags":{"host":"a"},"step":"1m","start":1699999980,"aggregator":"sum","value":2}`,
		`{"metric":"disk.used","tags":{"host":"c"},"step":"1m","start":1699999980,"aggregator":"sum","value":7}`,
		`{"metric":"sys.load","tags":{"host":"b"},"step":"1m","start":1699999980,"aggregator":"sum","value":5}`,
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cnt := svc.engine.Counters(); cnt.Malformed[fastparse.ReasonUnknownFormat] != 1 {
		t.Fatalf("unknown_format %d, want 1", cnt.Malformed[fastparse.ReasonUnknownFormat])
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunMetrictankOutput: with --output-format metrictank a rollup
// series' first window goes out as its MetricData, later ones as points of
// a MetricPointArray record in the same partition.
func TestRunMetrictankOutput(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(3, "rollups"))
	_, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "metrictank", "--archive", "1m:sum",
		"--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	produce(t, addrs, "in", &kgo.Record{Value: []byte("cpu,host=a idle=2 1700000000000000000\ncpu,host=a idle=3 1700000070000000000\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("rollups"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < 2 && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	md := emit.MetricData{OrgID: 1, Name: "cpu_idle.sum", Interval: 60, Unit: "unknown", Mtype: "gauge", Tags: []string{"host=a"}}
	key := md.MetricKey()
	part := emit.PartitionBySeries(md.Name, 3)
	if recs[0].Value[0] != 0x89 || !strings.Contains(string(recs[0].Value), emit.MetricID(1, key)) || recs[0].Partition != part {
		t.Fatalf("first record: partition %d, %x", recs[0].Partition, recs[0].Value)
	}
	want := append([]byte{emit.MetricPointArray, emit.MetricPointWithoutOrg}, emit.AppendMetricPoint(nil, key, 3, 1700000040)...)
	if string(recs[1].Value) != string(want) || recs[1].Partition != part {
		t.Fatalf("second record: partition %d, %x, want %x", recs[1].Partition, recs[1].Value, want)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// kfakeAddrs starts an in-process broker for the test and returns its
// address.
func kfakeAddrs(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produce writes recs (to topic where a record names none) and waits for
// the acknowledgements.
func produce(t *testing.T, addrs []string, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
