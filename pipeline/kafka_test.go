package pipeline

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

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
	r := &kafkaRig{t: t, cluster: c, addrs: c.ListenAddrs()}
	r.admin = newClient(t, r.addrs, kgo.DefaultProduceTopic("in"))
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
