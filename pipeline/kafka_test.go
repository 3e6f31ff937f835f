package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/rollupd/rollup/emit"
)

// testClock is a wall clock the test moves by hand.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *testClock) set(t time.Time)      { c.ns.Store(t.UnixNano()) }
func (c *testClock) add(d time.Duration)  { c.ns.Add(int64(d)) }
func newTestClock(t time.Time) *testClock { c := &testClock{}; c.set(t); return c }

// kafkaRig is a pipeline reading from and writing to an in-process kfake
// cluster.
type kafkaRig struct {
	t        *testing.T
	cluster  *kfake.Cluster
	addrs    []string
	admin    *kgo.Client // produces input, creates topics
	producer *kgo.Client // the pipeline's output client
	consumer *kgo.Client // the pipeline's input client
	out      *emit.KafkaOutput
	e        *Engine
	src      *Source
	cancel   context.CancelFunc
	done     chan struct{}
	stopped  bool
}

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newClient(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// startRig starts the pipeline on cluster c with cfg (its Encoder is
// ignored: output is jsonl to topic "out").
func startRig(t *testing.T, c *kfake.Cluster, cfg Config, scfg SourceConfig) *kafkaRig {
	t.Helper()
	return startRigRestored(t, c, cfg, scfg, nil)
}

// startRigRestored is startRig with the engine restored from ck (if not nil)
// before the source starts.
func startRigRestored(t *testing.T, c *kfake.Cluster, cfg Config, scfg SourceConfig, ck *Checkpoint) *kafkaRig {
	t.Helper()
	r := &kafkaRig{t: t, cluster: c, addrs: c.ListenAddrs()}
	r.admin = newClient(t, r.addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r.producer = newClient(t, r.addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	r.consumer = newClient(t, r.addrs, kgo.FetchMaxWait(100*time.Millisecond))
	var err error
	topics := make([]string, len(cfg.Window.Archives))
	for i := range topics {
		topics[i] = "out"
	}
	r.out, err = emit.NewKafkaOutput(emit.KafkaConfig{Client: r.producer, Format: "jsonl", Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.out.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r.e, err = NewWithOutput(cfg, KafkaOutput(r.out)); err != nil {
		t.Fatal(err)
	}
	if ck != nil {
		if err := r.e.Restore(ck); err != nil {
			t.Fatal(err)
		}
	}
	scfg.Client = r.consumer
	if scfg.MetadataInterval == 0 {
		scfg.MetadataInterval = 200 * time.Millisecond
	}
	if r.src, err = NewSource(r.e, scfg); err != nil {
		t.Fatal(err)
	}
	srcCtx, srcCancel := context.WithCancel(context.Background())
	r.cancel, r.done = srcCancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.src.Run(srcCtx)
	}()
	t.Cleanup(r.stop)
	return r
}

// stop stops fetching, applies what was read, flushes the output.
func (r *kafkaRig) stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Error("source did not stop within 10s")
	}
	if err := r.e.Stop(); err != nil {
		r.t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.out.Flush(ctx); err != nil {
		r.t.Error(err)
	}
}

// produce writes one record per value to topic/partition and waits for the
// acks.
func (r *kafkaRig) produce(topic string, partition int32, values ...string) {
	r.t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)})
	}
	r.produceRecords(recs)
}

func (r *kafkaRig) produceRecords(recs []*kgo.Record) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.admin.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readOutput consumes topic "out" from the start until it has n lines (or
// fails after 20s) and returns them sorted, with the record keys checked:
// every line's series lands in the partition its key hash picks.
func readOutput(t *testing.T, addrs []string, n int) []string {
	t.Helper()
	cl := newClient(t, addrs, kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	var lines []string
	seriesPartition := map[string]int32{}
	deadline := time.Now().Add(20 * time.Second)
	for len(lines) < n {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fs := cl.PollFetches(ctx)
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d output lines in 20s", len(lines), n)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if len(rec.Key) != 8 {
				t.Errorf("record key is %d bytes, want 8", len(rec.Key))
			}
			for _, l := range strings.SplitAfter(string(rec.Value), "\n") {
				if l == "" {
					continue
				}
				if !strings.HasSuffix(l, "\n") {
					t.Errorf("record does not end in a newline: %q", rec.Value)
				}
				series := l[:strings.Index(l, `"step"`)]
				if p, ok := seriesPartition[series]; ok && p != rec.Partition {
					t.Errorf("series %s in partitions %d and %d", series, p, rec.Partition)
				}
				seriesPartition[series] = rec.Partition
				lines = append(lines, strings.TrimSuffix(l, "\n"))
			}
		})
	}
	sort.Strings(lines)
	return lines
}

func readGolden(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	sort.Strings(lines)
	return lines
}

// TestKafkaGolden: the hand-computed golden input, one line per record (as
// Telegraf frames them) in one partition, gives exactly the golden rollups
// once the idle partition lets the wall clock close the windows.
func TestKafkaGolden(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(3, "out"))
	clock := newTestClock(fixedNow)
	cfg := testConfig(t, 2, 5*time.Second, "10s:sum,count,min,max,first,last,avg", "30s:sum,count,first,last")
	cfg.Now, cfg.IdleTimeout = clock.now, time.Minute
	r := startRig(t, c, cfg, SourceConfig{Topics: []string{"in"}})
	input, err := os.ReadFile("testdata/basic.lp")
	if err != nil {
		t.Fatal(err)
	}
	r.produce("in", 0, strings.SplitAfter(string(input), "\n")...)
	want := readGolden(t, "testdata/basic.golden")
	waitFor(t, "all records read", func() bool {
		ps := r.src.Partitions()
		return len(ps) == 1 && ps[0].Lag == 0 && ps[0].Offset > 0
	})
	clock.add(2 * time.Minute) // the partition is idle: the wall clock closes everything
	got := readOutput(t, r.addrs, len(want))
	if !slices.Equal(got, want) {
		t.Errorf("rollups differ from testdata/basic.golden:\n got %d: %s\nwant %d: %s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	r.stop()
	cnt := r.e.Counters()
	if cnt.Late != 2 || cnt.MalformedTotal() != 1 || cnt.Rollups != uint64(len(want)) {
		t.Errorf("counters: late %d malformed %d rollups %d", cnt.Late, cnt.MalformedTotal(), cnt.Rollups)
	}
}

// genRecords returns Telegraf-shaped input for hosts x intervals as one
// record per host and interval (11 lines), keyed by host, spread over
// topics by host, and the same bytes as one offline input.
func genRecords(hosts, intervals int, topics []string, partitions int32) ([]*kgo.Record, []byte) {
	g := gen.NewTelegraf(gen.Config{Hosts: hosts, Start: time.Unix(1700000000, 0), Interval: 10 * time.Second, Seed: 3})
	var recs []*kgo.Record
	var all []byte
	for range intervals {
		for h := range hosts {
			v := g.AppendHost(nil, h)
			all = append(all, v...)
			recs = append(recs, &kgo.Record{Topic: topics[h%len(topics)], Partition: int32(h) % partitions, Value: v})
		}
		g.Advance()
	}
	return recs, all
}

// TestKafkaMatchesOffline: several topics and partitions, two parsers and
// two shards give exactly the rollups of the same data read offline.
func TestKafkaMatchesOffline(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "a", "b"), kfake.SeedTopics(4, "out"))
	clock := newTestClock(time.Unix(1700003600, 0))
	archives := []string{"1m:sum,count,min,max", "5m:sum,count,last"}
	cfg := testConfig(t, 2, 10*time.Second, archives...)
	cfg.Now, cfg.IdleTimeout = clock.now, time.Minute
	r := startRig(t, c, cfg, SourceConfig{Topics: []string{"a", "b"}, Parsers: 2})
	recs, all := genRecords(12, 40, []string{"a", "b"}, 3)
	r.produceRecords(recs)

	ref := testConfig(t, 1, 10*time.Second, archives...)
	want, _ := run(t, ref, bytes.NewReader(all))
	waitFor(t, "all records read", func() bool {
		var n int64
		for _, p := range r.src.Partitions() {
			n += p.Records
		}
		return n == int64(len(recs))
	})
	if ps := r.src.Partitions(); len(ps) != 6 {
		t.Fatalf("%d partitions assigned, want 6", len(ps))
	}
	clock.add(2 * time.Minute)
	got := readOutput(t, r.addrs, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("kafka rollups differ from offline: got %d, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}
}

// TestKafkaDiscovery: a topic matching the regex created while running and
// a partition added to a topic while running are read from their start.
func TestKafkaDiscovery(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "in-1", "other"), kfake.SeedTopics(1, "out"))
	clock := newTestClock(time.Unix(1700003600, 0))
	cfg := testConfig(t, 1, 0, "10s:count")
	cfg.Now = clock.now
	line := func(i int) string { return fmt.Sprintf("m,host=h%d v=1 %d000000000\n", i, 1700000000+i) }
	// Written before the start: --start latest skips it.
	pre := newClient(t, c.ListenAddrs(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx0, cancel0 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel0()
	if err := pre.ProduceSync(ctx0, &kgo.Record{Topic: "in-1", Value: []byte(line(9))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := startRig(t, c, cfg, SourceConfig{TopicRegex: regexp.MustCompile(`in-[0-9]+`), StartLatest: true})
	waitFor(t, "in-1 assigned", func() bool { return len(r.src.Partitions()) == 1 })
	time.Sleep(time.Second)        // the start offset is resolved (at the end) before line(1) is written
	r.produce("other", 0, line(0)) // not matched
	r.produce("in-1", 0, line(1))

	// A new matching topic and a new partition, both written before the
	// source can have seen them: they must be read from offset 0.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "in-2", 2, 1
	ct.Topics = append(ct.Topics, rt)
	if _, err := ct.RequestWith(ctx, r.admin); err != nil {
		t.Fatal(err)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "in-1", 2
	cp.Topics = append(cp.Topics, cpt)
	if resp, err := cp.RequestWith(ctx, r.admin); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %+v", err, resp)
	}
	r.admin.ForceMetadataRefresh()
	r.produce("in-2", 1, line(2))
	r.produce("in-1", 1, line(3))
	waitFor(t, "3 points from 3 partitions", func() bool { return r.e.Counters().Points >= 3 })
	time.Sleep(200 * time.Millisecond)
	if n := r.e.Counters().Points; n != 3 {
		t.Errorf("%d points read, want 3: the record written before the start was read, or one was read twice", n)
	}
	var names []string
	for _, p := range r.src.Partitions() {
		names = append(names, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
	}
	slices.Sort(names)
	if want := []string{"in-1/0", "in-1/1", "in-2/0", "in-2/1"}; !slices.Equal(names, want) {
		t.Errorf("partitions %v, want %v", names, want)
	}
}

// TestKafkaIdlePartition: a partition that stops delivering holds the
// watermark back only until the idle timeout; then the busy partition's
// windows close, before any wall-clock advancement.
func TestKafkaIdlePartition(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(2, "in"), kfake.SeedTopics(1, "out"))
	base := time.Unix(1700000000, 0)
	clock := newTestClock(base)
	cfg := testConfig(t, 1, 0, "10s:count")
	cfg.Now, cfg.IdleTimeout, cfg.MaxFuture = clock.now, 30*time.Second, 24*time.Hour
	r := startRig(t, c, cfg, SourceConfig{Topics: []string{"in"}})
	waitFor(t, "partitions assigned", func() bool { return len(r.src.Partitions()) == 2 })
	r.produce("in", 1, "m,p=1 v=1 1700000001000000000\n")
	var busy []string
	for i := range 10 {
		busy = append(busy, fmt.Sprintf("m,p=0 v=1 %d000000000\n", 1700000000+10*i))
	}
	r.produce("in", 0, busy...)
	waitFor(t, "points read", func() bool { return r.e.Counters().Points == 11 })
	r.e.Tick()
	if wm := r.e.Watermark(); wm != 1700000001000000000 {
		t.Fatalf("watermark %d: the quiet partition should hold it at its point", wm)
	}
	clock.add(31 * time.Second) // partition 1 is idle now; so is 0, but ...
	r.e.Tick()
	// ... both idle: the wall clock (base+31s) and the newest watermark
	// (base+90s) bound it; the newest wins.
	if wm := r.e.Watermark(); wm != 1700000090000000000 {
		t.Fatalf("watermark %d after idle timeout, want the busy partition's", wm)
	}
	got := readOutput(t, r.addrs, 9)
	if got[0] != `{"metric":"m_v","tags":{"p":"0"},"step":"10s","start":1700000000,"aggregator":"count","value":1}` {
		t.Errorf("first rollup %s", got[0])
	}
	// A point for an already closed window of the idle partition is
	// counted as closed early, not aggregated.
	r.produce("in", 1, "m,p=1 v=1 1700000002000000000\n")
	waitFor(t, "closed-early point", func() bool { return r.e.Counters().ClosedEarly == 1 })
}

// TestKafkaBrokerRestart: the broker goes away mid-stream and comes back
// on the same port with its data; nothing read or produced is lost.
func TestKafkaBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	c1, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(2, "in"), kfake.SeedTopics(2, "out"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := c1.ListenAddrs()
	var port int
	fmt.Sscanf(addrs[0][strings.LastIndexByte(addrs[0], ':')+1:], "%d", &port)
	clock := newTestClock(time.Unix(1700003600, 0))
	cfg := testConfig(t, 2, 10*time.Second, "1m:sum,count")
	cfg.Now, cfg.IdleTimeout = clock.now, time.Minute
	r := startRig(t, c1, cfg, SourceConfig{Topics: []string{"in"}})
	recs, all := genRecords(6, 30, []string{"in"}, 2)
	half := len(recs) / 2
	r.produceRecords(recs[:half])
	waitFor(t, "first half read", func() bool { return r.e.Counters().Points == uint64(half*90) })
	c1.Close()
	time.Sleep(300 * time.Millisecond) // the clients see the broker gone
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.Ports(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Close)
	r.produceRecords(recs[half:])
	waitFor(t, "second half read", func() bool { return r.e.Counters().Points == uint64(len(recs)*90) })
	clock.add(2 * time.Minute)
	ref := testConfig(t, 1, 10*time.Second, "1m:sum,count")
	want, _ := run(t, ref, bytes.NewReader(all))
	got := readOutput(t, r.addrs, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("after a broker restart: got %d rollups, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// TestKafkaOutageSuspendsIdle: when the broker goes away, the source
// notices through its metadata requests and suspends idleness, so the
// wall clock cannot close windows over records not read yet; when the
// broker is back, idleness resumes.
func TestKafkaOutageSuspendsIdle(t *testing.T) {
	dir := t.TempDir()
	c1, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "out"))
	if err != nil {
		t.Fatal(err)
	}
	addr := c1.ListenAddrs()[0]
	var port int
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port)
	clock := newTestClock(time.Unix(1700000100, 0))
	cfg := testConfig(t, 1, 0, "10s:count")
	cfg.Now, cfg.IdleTimeout = clock.now, 30*time.Second
	r := startRig(t, c1, cfg, SourceConfig{Topics: []string{"in"}})
	r.produce("in", 0, "m v=1 1700000001000000000\n")
	waitFor(t, "point read", func() bool { return r.e.Counters().Points == 1 })
	suspended := func() bool { r.e.mu.Lock(); defer r.e.mu.Unlock(); return r.e.noIdle != 0 }
	c1.Close()
	waitFor(t, "idleness suspended", suspended)
	clock.add(time.Hour)
	r.e.Tick()
	if wm := r.e.Watermark(); wm != 1700000001000000000 {
		t.Fatalf("watermark %d: moved by the wall clock during the outage", wm)
	}
	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.Ports(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Close)
	waitFor(t, "idleness resumed", func() bool { return !suspended() })
	clock.add(31 * time.Second)
	r.e.Tick()
	if wm := r.e.Watermark(); wm != clock.ns.Load() {
		t.Fatalf("watermark %d after the outage and the idle timeout, want the wall clock", wm)
	}
	if got := readOutput(t, r.addrs, 1); got[0] != `{"metric":"m_v","tags":{},"step":"10s","start":1700000000,"aggregator":"count","value":1}` {
		t.Errorf("rollup %s", got[0])
	}
	r.stop() // before c2 closes (cleanups run last first)
}
