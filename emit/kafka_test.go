package emit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kafkaTestOutput(t *testing.T, format string, recordBytes int) (*KafkaOutput, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	o, err := NewKafkaOutput(KafkaConfig{Client: cl, Format: format, Topics: []string{"out"}, RecordBytes: recordBytes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return o, c.ListenAddrs()
}

func consumeAll(t *testing.T, addrs []string, n int64) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for int64(len(recs)) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(recs), n)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// TestKafkaSinkOpenTSDB: records are JSON arrays of at most RecordBytes,
// every rollup arrives once, every series in the partition its hash picks,
// and the key is the hash of the record's first series.
func TestKafkaSinkOpenTSDB(t *testing.T) {
	o, addrs := kafkaTestOutput(t, "opentsdb", 1024)
	s := o.ShardSink()
	var drops [256]uint64
	const series = 50
	written := 0
	for i := range series {
		key := fmt.Appendf(nil, "host\x00h%d\x01cpu", i)
		w := &Window{Metric: []byte("cpu"), Tags: []Tag{{[]byte("host"), fmt.Appendf(nil, "h%d", i)}}, Step: "1m", Start: 1700000040,
			Values: []AggValue{{"sum", float64(i)}, {"count", 2}, {"avg", 1}}}
		written += s.Window(0, key, w, drops[:])
	}
	if written != 2*series || drops[DropDerivedAgg] != series {
		t.Fatalf("written %d, avg dropped %d", written, drops[DropDerivedAgg])
	}
	s.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := o.Stats()
	if st.Errors != 0 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
	seen := map[string]int{}
	for _, r := range consumeAll(t, addrs, st.Records) {
		if len(r.Value) > 1024 {
			t.Errorf("record of %d bytes exceeds 1024", len(r.Value))
		}
		var objs []struct {
			Type, Metric, Interval, Aggregator string
			Timestamp                          int64
			Tags                               map[string]string
		}
		if err := json.Unmarshal(r.Value, &objs); err != nil {
			t.Fatalf("record is not a JSON array: %v: %s", err, r.Value)
		}
		for i, obj := range objs {
			key := fmt.Sprintf("host\x00%s\x01cpu", obj.Tags["host"])
			h := xxhash.Sum64String(key)
			if p := int32(h % 3); p != r.Partition {
				t.Errorf("series %s in partition %d, want %d", key, r.Partition, p)
			}
			if i == 0 && binary.BigEndian.Uint64(r.Key) != h {
				t.Errorf("record key %x is not the first series' hash %x", r.Key, h)
			}
			seen[obj.Tags["host"]+"/"+obj.Aggregator]++
		}
	}
	if len(seen) != 2*series {
		t.Errorf("%d distinct rollups arrived, want %d", len(seen), 2*series)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s arrived %d times", k, n)
		}
	}
	if st.Records < 3 {
		t.Errorf("only %d records: the 1024-byte cap did not split", st.Records)
	}
}

// TestKafkaSinkAllDropped: a window whose every rollup is dropped produces
// no record (an empty array would be noise for the TSD).
func TestKafkaSinkAllDropped(t *testing.T) {
	o, _ := kafkaTestOutput(t, "opentsdb", 1024)
	s := o.ShardSink()
	var drops [256]uint64
	w := &Window{Metric: []byte("cpu"), Step: "1m", Start: 1700000040, Values: []AggValue{{"sum", 1}}} // no tags
	if n := s.Window(0, []byte("\x01cpu"), w, drops[:]); n != 0 || drops[DropNoTags] != 1 {
		t.Fatalf("written %d, no-tag drops %d", n, drops[DropNoTags])
	}
	s.Flush()
	if st := o.Stats(); st.InFlight != 0 || st.Records != 0 {
		t.Fatalf("a record was produced: %+v", st)
	}
}

// TestKafkaSinkJSONL: jsonl records are whole lines.
func TestKafkaSinkJSONL(t *testing.T) {
	o, addrs := kafkaTestOutput(t, "jsonl", 1024)
	s := o.ShardSink()
	var drops [256]uint64
	for i := range 30 {
		w := &Window{Metric: []byte("m"), Tags: []Tag{{[]byte("k"), fmt.Appendf(nil, "%d", i)}}, Step: "10s", Start: 1700000000,
			Values: []AggValue{{"sum", 1.5}, {"avg", 0.75}}}
		s.Window(0, fmt.Appendf(nil, "k\x00%d\x01m", i), w, drops[:])
	}
	s.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, r := range consumeAll(t, addrs, o.Stats().Records) {
		if r.Value[len(r.Value)-1] != '\n' {
			t.Errorf("record does not end with a newline: %q", r.Value)
		}
		for _, b := range r.Value {
			if b == '\n' {
				lines++
			}
		}
	}
	if lines != 60 {
		t.Errorf("%d lines, want 60", lines)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for range 98 {
		h.Observe(3 * time.Millisecond)
	}
	h.Observe(400 * time.Millisecond)
	h.Observe(2 * time.Minute)
	counts, sum, mx := h.Snapshot()
	if counts[2] != 98 || counts[len(counts)-1] != 1 || mx != 2*time.Minute || sum != 98*3*time.Millisecond+400*time.Millisecond+2*time.Minute {
		t.Errorf("snapshot %v %s %s", counts, sum, mx)
	}
}

// TestKafkaOutputProduceError: a record the broker refuses for good (here
// larger than its message.max.bytes) is counted and reported, and its
// buffer is released; later records still go out.
func TestKafkaOutputProduceError(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "1500"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reported := make(chan error, 10)
	o, err := NewKafkaOutput(KafkaConfig{Client: cl, Format: "jsonl", Topics: []string{"out"}, RecordBytes: 4096,
		OnError: func(topic string, partition int32, err error) { reported <- err }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s := o.ShardSink()
	var drops [256]uint64
	win := func(n int) {
		for i := range n {
			w := &Window{Metric: []byte("m"), Tags: []Tag{{[]byte("k"), fmt.Appendf(nil, "%d", i)}}, Step: "10s", Start: 1700000000,
				Values: []AggValue{{"sum", 1}}}
			s.Window(0, fmt.Appendf(nil, "k\x00%d\x01m", i), w, drops[:])
		}
		s.Flush()
		o.Flush(ctx)
	}
	win(30) // about 3 KB in one record: refused
	win(2)  // small: delivered
	st := o.Stats()
	if st.Errors != 1 || st.Records != 1 || st.InFlight != 0 {
		t.Fatalf("stats %+v, want 1 error and 1 record", st)
	}
	select {
	case err := <-reported:
		t.Logf("reported: %v", err)
	default:
		t.Fatal("OnError not called")
	}
}

// TestKafkaOutputHold: while held, records wait (nothing reaches the
// client); past the bound, producing blocks; Release sends every held
// record once, in order, and lets records through again.
func TestKafkaOutputHold(t *testing.T) {
	o, addrs := kafkaTestOutput(t, "jsonl", 1024)
	o.maxHeld = 4096
	s := o.ShardSink()
	var drops [256]uint64
	window := func(i int) {
		w := &Window{Metric: []byte("m"), Tags: []Tag{{[]byte("k"), fmt.Appendf(nil, "%d", i)}}, Step: "10s", Start: 1700000000,
			Values: []AggValue{{"sum", float64(i)}}}
		s.Window(0, fmt.Appendf(nil, "k\x00%d\x01m", i), w, drops[:])
		s.Flush() // a record per window
	}
	o.Hold()
	for i := range 10 {
		window(i)
	}
	if st := o.Stats(); st.InFlight != 0 || st.Records != 0 || o.HeldBytes() == 0 {
		t.Fatalf("held output reached the client: %+v, held %d bytes", st, o.HeldBytes())
	}
	// Fill past the bound: the producer blocks until Release.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 10; i < 200; i++ {
			window(i)
		}
	}()
	select {
	case <-done:
		t.Fatal("producing past MaxHeldBytes did not block")
	case <-time.After(200 * time.Millisecond):
	}
	o.Release()
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Records != 200 || o.HeldBytes() != 0 {
		t.Fatalf("after Release: %+v, held %d", st, o.HeldBytes())
	}
	seen := map[string]int{}
	for _, r := range consumeAll(t, addrs, 200) {
		seen[string(r.Value)]++
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct records, want 200", len(seen))
	}
}

func TestKafkaOutputFormatsPerTopic(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := NewKafkaOutput(KafkaConfig{Client: cl, Topics: []string{"a", "b", "a"}, Formats: []string{"jsonl", "influx", "jsonl"}}); err != nil {
		t.Fatalf("one format per topic refused: %v", err)
	}
	_, err = NewKafkaOutput(KafkaConfig{Client: cl, Topics: []string{"a", "a"}, Formats: []string{"jsonl", "influx"}})
	if err == nil || err.Error() != `kafka output: topic "a" gets archives in two formats (jsonl and influx); give each format its own topic` {
		t.Fatalf("two formats on one topic: %v", err)
	}
}

// EnsureTopics creates what is missing with the ttl as retention, and
// reports an existing topic that keeps data for less, without touching it.
func TestEnsureTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := EnsureTopics(ctx, cl, []TopicSpec{{Name: "old", Partitions: 1, Retention: time.Second}}); err != nil {
		t.Fatal(err)
	}
	reports, err := EnsureTopics(ctx, cl, []TopicSpec{
		{Name: "new", Partitions: 3, Retention: 30 * 24 * time.Hour},
		{Name: "old", Partitions: 1, Retention: 24 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reports[0].Created || reports[0].ShortRetention != 0 || reports[1].Created || reports[1].ShortRetention != time.Second {
		t.Fatalf("reports %+v", reports)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "new"
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, c := range resp.Resources[0].Configs {
		if c.Name == "retention.ms" && c.Value != nil {
			got = *c.Value
		}
	}
	if got != "2592000000" {
		t.Fatalf("retention.ms of the new topic: %q", got)
	}
}

// TestKafkaMetrictank: the metrictank format sends each rollup series'
// MetricData first (it carries the first point), later values as points
// in MetricPointArray records, each series in its bySeries partition,
// without record keys; times metrictank would drop are counted.
func TestKafkaMetrictank(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	o, err := NewKafkaOutput(KafkaConfig{Client: cl, Format: "metrictank", Topics: []string{"out"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s := o.ShardSink()
	var drops [256]uint64
	tags := []Tag{{[]byte("host"), []byte("a")}}
	for i := range 5 {
		if i == 3 {
			// The series expires and its number is taken by a series
			// that (by chance) has the same name: it is announced anew.
			s.SeriesDeleted(7)
		}
		w := &Window{Metric: []byte("cpu"), Tags: tags, Step: "1m", StepSeconds: 60, Start: 1700000040 + int64(i)*60,
			Values: []AggValue{{"sum", float64(i)}, {"count", float64(i + 1)}}, Series: 7}
		if n := s.Window(0, []byte("host\x00a\x00\x01cpu"), w, drops[:]); n != 2 {
			t.Fatalf("window %d: %d written", i, n)
		}
	}
	s.Window(0, []byte("x"), &Window{Metric: []byte("cpu"), Step: "1m", Start: 0, Values: []AggValue{{"sum", 1}}}, drops[:])
	if drops[DropMetrictankTime] != 1 {
		t.Fatalf("time 0 not dropped: %v", drops[:12])
	}
	s.Flush()
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		key  [16]byte
		part int32
	}{}
	for _, agg := range []string{"sum", "count"} {
		md := MetricData{OrgID: 1, Name: "cpu." + agg, Interval: 60, Unit: "unknown", Mtype: map[string]string{"sum": "gauge", "count": "count"}[agg], Tags: []string{"host=a"}}
		want[MetricID(1, md.MetricKey())] = struct {
			key  [16]byte
			part int32
		}{md.MetricKey(), PartitionBySeries(md.Name, 4)}
	}
	var datas, points int
	for _, r := range consumeAll(t, c.ListenAddrs(), o.Stats().Records) {
		if r.Key != nil {
			t.Errorf("record has a key %x", r.Key)
		}
		switch r.Value[0] {
		case 0x89: // MetricData
			var found bool
			for id, w := range want {
				if strings.Contains(string(r.Value), id) {
					found = true
					if r.Partition != w.part {
						t.Errorf("MetricData %s in partition %d, want %d", id, r.Partition, w.part)
					}
				}
			}
			if !found {
				t.Errorf("MetricData of an unknown series: %x", r.Value)
			}
			datas++
		case MetricPointArray:
			if r.Value[1] != MetricPointWithoutOrg || (len(r.Value)-2)%28 != 0 {
				t.Fatalf("bad array %x", r.Value)
			}
			for p := r.Value[2:]; len(p) > 0; p = p[28:] {
				var key [16]byte
				copy(key[:], p)
				ok := false
				for _, w := range want {
					ok = ok || (w.key == key && w.part == r.Partition)
				}
				if !ok {
					t.Errorf("point of key %x in partition %d", key, r.Partition)
				}
				points++
			}
		default:
			t.Fatalf("unexpected record %x", r.Value)
		}
	}
	if datas != 4 || points != 6 {
		t.Fatalf("%d MetricData and %d points, want 4 and 6", datas, points)
	}
}
