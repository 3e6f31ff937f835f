package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/internal/realhdfs"
	"github.com/rollupd/rollup/internal/realkafka"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

// chaosArchives span several windows of every archive over the input.
var chaosArchives = []string{"1m:sum,count,min,max,first,last", "5m:sum,count,last", "15m:sum,count,min,max"}

// TestChaosExactlyOnce runs `rollup run` as a child process against a real
// Kafka broker while input arrives, kills it (SIGKILL) at random moments
// and at the moments that matter most (inside the checkpoint's cut, with
// the file written but the transaction not committed, right after the
// commit), stops it with SIGTERM now and then, and restarts it each time.
// At the end the read_committed output must equal the offline aggregate
// of the same input: 0 lost, 0 duplicated.
//
// ROLLUP_CHAOS_HDFS=1 keeps the checkpoints in a real HDFS instead of a
// local directory. ROLLUP_CHAOS_KILLS sets the number of restarts (default 12, the CI
// size; about 1 in 10 is a SIGTERM, the rest kills);
// ROLLUP_CHAOS_SEED the seed. ROLLUP_CHAOS_INPUT=metrictank sends the same
// points as metrictank records.
func TestChaosExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: not in -short")
	}
	kills := 12
	if v, err := strconv.Atoi(os.Getenv("ROLLUP_CHAOS_KILLS")); err == nil && v >= 0 {
		kills = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("ROLLUP_CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (ROLLUP_CHAOS_SEED), %d restarts", seed, kills)
	rng := rand.New(rand.NewPCG(seed, 1))

	broker := realkafka.Start(t)
	admin, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	realkafka.CreateTopic(t, admin, "in", 3)
	realkafka.CreateTopic(t, admin, "rollups", 2)
	bin := buildRollup(t)

	// 16 hosts x 240 reports (40 minutes of data), produced over the
	// test's first part while the service is killed and restarted.
	const hosts, intervals = 16, 240
	g := gen.NewTelegraf(gen.Config{Hosts: hosts, Start: time.Unix(1700000000, 0), Interval: 10 * time.Second, Seed: 7})
	var recs []*kgo.Record
	var all []byte
	for range intervals {
		for h := range hosts {
			v := g.AppendHost(nil, h)
			all = append(all, v...)
			recs = append(recs, &kgo.Record{Topic: "in", Partition: int32(h % 3), Value: v})
		}
		g.Advance()
	}
	want := offlineRollups(t, all, chaosArchives, 10*time.Second)
	format := "influx"
	if os.Getenv("ROLLUP_CHAOS_INPUT") == "metrictank" {
		// The same points as metrictank records: the ids learnt from
		// MetricData must survive every restart in the checkpoints.
		format, recs = "metrictank", asMetrictank(t, recs)
	}
	produceDone := make(chan struct{})
	var produceErr error
	go func() {
		defer close(produceDone)
		const batches = 60
		per := len(recs) / batches
		for i := 0; i < len(recs); i += per {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			produceErr = admin.ProduceSync(ctx, recs[i:min(i+per, len(recs))]...).FirstErr()
			cancel()
			if produceErr != nil {
				return
			}
			time.Sleep(time.Duration(kills+5) * 40 * time.Millisecond)
		}
	}()

	dir := filepath.Join(t.TempDir(), "ckpt")
	if os.Getenv("ROLLUP_CHAOS_HDFS") == "1" {
		dir = "hdfs://" + realhdfs.Start(t).Addr() + "/rollup/chaos"
	}
	args := []string{"run", "--brokers", broker.Addr(), "--topic", "in", "--input-format", format, "--output-topic", "rollups", "--output-format", "jsonl",
		"--lateness", "10s", "--idle-timeout", "4s", "--checkpoint", dir, "--checkpoint-interval", "1s",
		"--metrics-listen", "", "--metadata-interval", "200ms", "--parsers", "2", "--shards", "2", "--log-format", "json"}
	for _, a := range chaosArchives {
		args = append(args, "--archive", a)
	}
	points := []string{"cut", "written", "committed"}
	logs := &chaosLog{}
	for k := 0; k < kills; k++ {
		var env []string
		how := ""
		switch r := rng.IntN(10); {
		case r < 4:
			p := points[rng.IntN(len(points))]
			env = []string{fmt.Sprintf("ROLLUP_TEST_KILL_AT=%s:%d", p, 1+rng.IntN(3))}
			how = "self-kill at " + env[0]
		case r < 5:
			how = "SIGTERM"
		default:
			how = "SIGKILL"
		}
		p := startRollup(t, bin, args, env, logs)
		wait := time.Duration(200+rng.IntN(2500)) * time.Millisecond
		switch how {
		case "SIGTERM":
			time.Sleep(wait)
			p.signal(syscall.SIGTERM)
			if code := p.wait(40 * time.Second); code != 0 {
				t.Fatalf("run %d: exit %d after SIGTERM:\n%s", k, code, tail(logs.String(), 40))
			}
		case "SIGKILL":
			time.Sleep(wait)
			p.signal(syscall.SIGKILL)
			p.wait(10 * time.Second)
		default:
			// It kills itself at the point; if it has not reached it
			// within the time (no more checkpoints), kill it anyway.
			if code := p.wait(15 * time.Second); code == -2 {
				p.signal(syscall.SIGKILL)
				p.wait(10 * time.Second)
			}
		}
		t.Logf("run %d: %s", k, how)
	}
	<-produceDone
	if produceErr != nil {
		t.Fatal(produceErr)
	}
	// The last run: read everything, let idleness close the last windows.
	p := startRollup(t, bin, args, nil, logs)
	got := consumeCommitted(t, broker.Addr(), "rollups", len(want), 7*time.Second, 120*time.Second)
	p.signal(syscall.SIGTERM)
	if code := p.wait(40 * time.Second); code != 0 {
		t.Fatalf("last run: exit %d:\n%s", code, tail(logs.String(), 40))
	}
	got = consumeCommitted(t, broker.Addr(), "rollups", len(want), time.Second, 10*time.Second)
	lost, dup := compareMultisets(got, want)
	if lost != 0 || dup != 0 || len(got) != len(want) {
		t.Logf("example: %s", lostExample(got, want))
		t.Fatalf("after %d restarts: %d rollups read, %d expected: %d lost, %d duplicated or wrong\n%s\nlog tail:\n%s",
			kills, len(got), len(want), lost, dup, firstDiffLines(got, want), tail(logs.String(), 30))
	}
	t.Logf("%d restarts (SIGKILL, self-kill at a point, or SIGTERM): %d rollups, 0 lost, 0 duplicated", kills, len(got))
}

// offlineRollups aggregates data in-process and returns the sorted jsonl
// lines: what an uninterrupted run emits once every window has closed.
func offlineRollups(t *testing.T, data []byte, archives []string, lateness time.Duration) []string {
	t.Helper()
	cfg := pipeline.Config{Shards: 1}
	for _, a := range archives {
		ar, err := window.ParseArchive(a)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Window.Archives = append(cfg.Window.Archives, ar)
	}
	cfg.Window.Lateness = lateness
	cfg.Encoder, _ = emit.NewEncoder("jsonl", emit.Options{})
	var out bytes.Buffer
	e, err := pipeline.New(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	e.NewStream().ReadFrom(bytes.NewReader(data))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	sort.Strings(lines)
	return lines
}

// compareMultisets counts the lines of want missing from got and the
// lines of got beyond want (duplicates, or values no run should give).
func compareMultisets(got, want []string) (lost, extra int) {
	n := map[string]int{}
	for _, l := range want {
		n[l]++
	}
	for _, l := range got {
		n[l]--
	}
	for _, c := range n {
		if c > 0 {
			lost += c
		} else {
			extra -= c
		}
	}
	return lost, extra
}

// lostExample shows one expected line that is missing and the lines that
// came instead for the same series and window.
func lostExample(got, want []string) string {
	n := map[string]int{}
	for _, l := range got {
		n[l]++
	}
	for _, l := range want {
		if n[l] > 0 {
			n[l]--
			continue
		}
		prefix := l[:strings.Index(l, `"start"`)+len(`"start"`)+12]
		var instead []string
		for _, g := range got {
			if strings.HasPrefix(g, prefix) {
				instead = append(instead, g)
			}
		}
		return "want " + l + "\ngot  " + strings.Join(instead, "\n     ")
	}
	return "none missing"
}

// consumeCommitted reads topic with read_committed isolation from the start
// until it has n lines and no more arrive for quiet, or timeout passes.
// quiet must outlast what can still come: duplicates can make n arrive
// before the last windows close (--idle-timeout, then a checkpoint).
func consumeCommitted(t *testing.T, addr, topic string, n int, quiet, timeout time.Duration) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var lines []string
	deadline := time.Now().Add(timeout)
	quietUntil := time.Time{}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		before := len(lines)
		fs.EachRecord(func(r *kgo.Record) {
			lines = append(lines, strings.Split(strings.TrimSuffix(string(r.Value), "\n"), "\n")...)
		})
		if len(lines) >= n {
			if len(lines) != before || quietUntil.IsZero() {
				quietUntil = time.Now().Add(quiet)
			} else if time.Now().After(quietUntil) {
				break
			}
		}
	}
	sort.Strings(lines)
	return lines
}

// buildRollup builds the command into a temporary directory.
func buildRollup(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rollup")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is a `rollup` process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int
}

// chaosLog collects the children's output; safe for their output
// goroutines and the test reading it.
type chaosLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *chaosLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *chaosLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startRollup(t *testing.T, bin string, args, env []string, logs *chaosLog) *child {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		err := cmd.Wait()
		c.code = 0
		if err != nil {
			c.code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				c.code = ee.ExitCode()
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	return c
}

func (c *child) signal(s syscall.Signal) { c.cmd.Process.Signal(s) }

// wait returns the exit code, -1 for a signal, -2 if still running after
// d.
func (c *child) wait(d time.Duration) int {
	select {
	case <-c.done:
		return c.code
	case <-time.After(d):
		return -2
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// asMetrictank turns records of line protocol into metrictank records with
// the same points, partition by partition: a MetricData for each series
// the first time its partition sees it (metric = measurement_field, as the
// engine names it), then its points in one MetricPointArray per record.
func asMetrictank(t *testing.T, recs []*kgo.Record) []*kgo.Record {
	t.Helper()
	seen := map[int32]map[string]bool{}
	var out []*kgo.Record
	var d fastparse.InfluxLines
	for _, r := range recs {
		if seen[r.Partition] == nil {
			seen[r.Partition] = map[string]bool{}
		}
		arr := []byte{fastparse.MdmMetricPointArray, fastparse.MdmMetricPointNoOrg}
		d.Reset(r.Value, 0)
		for d.Next() {
			if d.Err() != nil {
				t.Fatal(d.Err())
			}
			for _, f := range d.Fields() {
				v, ok := f.Number()
				if !ok {
					continue
				}
				md := emit.MetricData{OrgID: 1, Name: string(d.Measurement()) + "_" + string(f.Key), Interval: 10, Value: v,
					Unit: "unknown", Time: d.Time() / 1e9, Mtype: "gauge"}
				for _, tg := range d.Tags() {
					md.Tags = append(md.Tags, string(tg.Key)+"="+string(tg.Value))
				}
				key := md.MetricKey()
				if id := emit.MetricID(1, key); !seen[r.Partition][id] {
					seen[r.Partition][id] = true
					out = append(out, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Value: emit.AppendMetricData(nil, &md, key)})
					continue
				}
				arr = emit.AppendMetricPoint(arr, key, v, uint32(md.Time))
			}
		}
		if len(arr) > 2 {
			out = append(out, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Value: arr})
		}
	}
	return out
}
