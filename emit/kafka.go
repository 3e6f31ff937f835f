package emit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/valyala/bytebufferpool"
)

// KafkaConfig configures a KafkaOutput.
type KafkaConfig struct {
	// Client produces the records. It must be created with
	// kgo.RecordPartitioner(kgo.ManualPartitioner()): the output picks
	// each record's partition itself (see KafkaOutput).
	Client *kgo.Client
	// Format is "opentsdb" (a JSON array of Aggregate objects per record,
	// as opentsdb-rpc-kafka reads them), or "jsonl", "influx" or "carbon"
	// (lines, many per record).
	Format string
	// Formats, if set, is the format of each archive (by archive index),
	// overriding Format; archives that share a topic must share a format.
	Formats []string
	Options Options
	// Topics is the output topic of each archive, by archive index.
	Topics []string
	// RecordBytes caps a record value. A window whose rollups alone are
	// larger goes out alone. Default 64 KiB.
	RecordBytes int
	// OnError is called for every record the client fails to deliver
	// (after its own retries); the record's rollups are lost. Optional.
	OnError func(topic string, partition int32, err error)
	// MaxHeldBytes bounds the record bytes kept back while the output is
	// held (see Hold). Default 256 MiB.
	MaxHeldBytes int
	// Metrictank configures the metrictank format.
	Metrictank MetrictankOptions
	// Deliver, if set, takes each record instead of Client (which may then
	// be nil), with Partitions as every topic's partition count (default
	// 1): for benchmarks and tests of the encoding alone. The shards call
	// it concurrently; value is reused once it returns.
	Deliver    func(topic string, partition int32, value []byte)
	Partitions int32
}

// DefaultRecordBytes is the default cap of a record value: big enough that
// per-record costs vanish, small enough that one record OpenTSDB fails to
// store (it drops the rest of the record) loses little.
const DefaultRecordBytes = 64 << 10

// KafkaOutput batches rollups into Kafka records.
//
// Routing: a series always goes to partition xxhash64(series key) mod the
// topic's partition count, and every rollup in one record belongs to that
// partition. The record key is the 8-byte big-endian xxhash64 of the first
// series in the record (all series in it share key mod partitions).
// Records are produced asynchronously; when the client's buffer is full,
// producing blocks, which stops the shards and in turn the fetching: memory
// stays bounded while the broker is down and nothing read is dropped.
type KafkaOutput struct {
	cl      *kgo.Client
	encs    []Encoder // per archive (nil for metrictank)
	framing []Framing // per topic
	mdm     []bool    // per topic: metrictank (MetricData + MetricPointArray)
	mt      MetrictankOptions
	topics  []string // distinct output topics
	topicOf []int    // archive -> index in topics
	maxRec  int
	onError func(string, int32, error)
	deliver func(string, int32, []byte) // instead of cl (see KafkaConfig)

	partitions []atomic.Int32 // per topic; 0 until known

	// bufs holds record buffers, which grow to about maxRec; the small
	// ones (a metrictank MetricData each) go to bytebufferpool's default
	// pool. One pool for both sizes calibrates to the small ones and
	// drops the big: every record then allocated its buffer anew.
	bufs bytebufferpool.Pool

	records, bytes, errs, inflight atomic.Int64
	latency                        Histogram

	// While held (Hold, for a transaction being committed), records
	// wait in held instead of reaching the client; at most maxHeld bytes,
	// beyond which producing blocks until Release.
	holdMu    sync.Mutex
	holdCond  *sync.Cond
	holding   bool
	held      []heldRecord
	heldBytes int
	maxHeld   int
}

type heldRecord struct {
	rec     *kgo.Record
	buf     *bytebufferpool.ByteBuffer
	encoded time.Time
}

// NewKafkaOutput checks the configuration; call Refresh before the first
// rollup to learn the topics' partition counts.
func NewKafkaOutput(cfg KafkaConfig) (*KafkaOutput, error) {
	if cfg.Client == nil && cfg.Deliver == nil {
		return nil, errors.New("kafka output: no client")
	}
	if cfg.Formats != nil && len(cfg.Formats) != len(cfg.Topics) {
		return nil, fmt.Errorf("kafka output: %d formats for %d archives", len(cfg.Formats), len(cfg.Topics))
	}
	if cfg.RecordBytes == 0 {
		cfg.RecordBytes = DefaultRecordBytes
	}
	if cfg.RecordBytes < 1024 {
		return nil, fmt.Errorf("output record bytes %d is below the minimum of 1024", cfg.RecordBytes)
	}
	if cfg.MaxHeldBytes == 0 {
		cfg.MaxHeldBytes = 256 << 20
	}
	mt, err := cfg.Metrictank.withDefaults()
	if err != nil {
		return nil, err
	}
	o := &KafkaOutput{cl: cfg.Client, maxRec: cfg.RecordBytes, onError: cfg.OnError, maxHeld: cfg.MaxHeldBytes, mt: mt}
	o.holdCond = sync.NewCond(&o.holdMu)
	index := map[string]int{}
	formatOf := map[string]string{} // topic -> format
	for a, t := range cfg.Topics {
		if t == "" {
			return nil, errors.New("kafka output: empty topic name")
		}
		format := cfg.Format
		if cfg.Formats != nil {
			format = cfg.Formats[a]
		}
		var enc Encoder
		if format != "metrictank" {
			enc, err = NewEncoder(format, cfg.Options)
		}
		if err != nil {
			return nil, err
		}
		o.encs = append(o.encs, enc)
		i, ok := index[t]
		if !ok {
			i = len(o.topics)
			index[t] = i
			o.topics = append(o.topics, t)
			var f Framing
			if enc != nil {
				f = enc.Framing()
			}
			o.framing = append(o.framing, f)
			o.mdm = append(o.mdm, format == "metrictank")
			formatOf[t] = format
		} else if formatOf[t] != format {
			return nil, fmt.Errorf("kafka output: topic %q gets archives in two formats (%s and %s); give each format its own topic", t, formatOf[t], format)
		}
		o.topicOf = append(o.topicOf, i)
	}
	if len(o.topics) == 0 {
		return nil, errors.New("kafka output: no topic")
	}
	o.partitions = make([]atomic.Int32, len(o.topics))
	if o.deliver = cfg.Deliver; o.deliver != nil {
		for i := range o.partitions {
			o.partitions[i].Store(max(cfg.Partitions, 1))
		}
	}
	return o, nil
}

// Topics returns the distinct output topics.
func (o *KafkaOutput) Topics() []string { return o.topics }

// ErrTopicMissing is returned (wrapped) by Refresh when an output topic does
// not exist on the cluster.
var ErrTopicMissing = errors.New("output topic does not exist")

// Refresh asks the cluster for the partition count of every output topic.
// A topic that gained partitions spreads its series anew from then on.
func (o *KafkaOutput) Refresh(ctx context.Context) error {
	if o.cl == nil {
		return nil // Deliver: the partitions are configured
	}
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range o.topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return fmt.Errorf("cannot read output topic metadata: %w", err)
	}
	for i, t := range o.topics {
		n := int32(0)
		for _, rt := range resp.Topics {
			if rt.Topic != nil && *rt.Topic == t && rt.ErrorCode == 0 {
				n = int32(len(rt.Partitions))
			}
		}
		if n == 0 {
			return fmt.Errorf("%w: %q (create it, or check --output-topic and the archives' topic=)", ErrTopicMissing, t)
		}
		o.partitions[i].Store(n)
	}
	return nil
}

// KafkaStats are the output's totals since start.
type KafkaStats struct {
	Records, Bytes int64 // delivered
	Errors         int64 // records that failed after retries
	InFlight       int64 // records handed to the client, not yet acknowledged
}

// Stats returns the output's totals.
func (o *KafkaOutput) Stats() KafkaStats {
	return KafkaStats{Records: o.records.Load(), Bytes: o.bytes.Load(), Errors: o.errs.Load(), InFlight: o.inflight.Load()}
}

// Latency is the time from a rollup's window close (its encoding) to the
// broker's acknowledgement of its record.
func (o *KafkaOutput) Latency() *Histogram { return &o.latency }

// Flush waits until every record produced so far is acknowledged or ctx
// ends.
func (o *KafkaOutput) Flush(ctx context.Context) error {
	if o.cl == nil {
		return nil
	}
	return o.cl.Flush(ctx)
}

// ShardSink returns a batcher for one shard goroutine (not shared).
func (o *KafkaOutput) ShardSink() *KafkaSink {
	return &KafkaSink{o: o, open: make([][]pendingRecord, len(o.topics))}
}

// KafkaSink collects one shard's rollups into one open record per output
// partition and produces them when full and on Flush.
type KafkaSink struct {
	o    *KafkaOutput
	open [][]pendingRecord // [topic][partition]
	mdm  mdmState          // the metrictank format's series
}

type pendingRecord struct {
	buf     *bytebufferpool.ByteBuffer
	key     uint64    // hash of the first series
	encoded time.Time // when the first rollup was encoded
	count   int       // rollups in buf
}

// Window encodes one series' window into the open record of its partition.
func (s *KafkaSink) Window(archive int, key []byte, w *Window, drops []uint64) int {
	o := s.o
	t := o.topicOf[archive]
	if o.mdm[t] {
		return s.windowMDM(archive, t, w, drops)
	}
	n := o.partitions[t].Load()
	if n <= 0 {
		n = 1 // Refresh was not called: one partition rather than a crash
	}
	h := xxhash.Sum64(key)
	p := int32(h % uint64(n))
	if int(n) > len(s.open[t]) {
		s.open[t] = append(s.open[t], make([]pendingRecord, int(n)-len(s.open[t]))...)
	}
	r := &s.open[t][p]
	f := &o.framing[t]
	if r.buf == nil {
		r.buf = o.getBuf()
		r.key, r.encoded, r.count = h, time.Now(), 0
		r.buf.B = append(r.buf.B, f.Begin...)
	}
	mark := len(r.buf.B)
	var written int
	r.buf.B, written = o.encs[archive].AppendWindow(r.buf.B, w, f.Sep, drops)
	if written == 0 {
		return 0
	}
	if len(r.buf.B) > o.maxRec && r.count > 0 {
		// Over the cap: the record goes out without this window, which
		// starts the next one.
		next := o.getBuf()
		next.B = append(append(next.B, f.Begin...), r.buf.B[mark:]...)
		r.buf.B = r.buf.B[:mark]
		s.produce(t, p, r)
		*r = pendingRecord{buf: next, key: h, encoded: time.Now()}
	}
	r.count += written
	return written
}

// SeriesDeleted forgets what the sink kept of a deleted series.
func (s *KafkaSink) SeriesDeleted(series uint32) { s.mdm.deleted(series) }

// Flush produces every open record.
func (s *KafkaSink) Flush() error {
	s.mdm.flushed()
	for t := range s.open {
		for p := range s.open[t] {
			if r := &s.open[t][p]; r.buf != nil {
				s.produce(t, int32(p), r)
			}
		}
	}
	return nil
}

func (s *KafkaSink) produce(t int, p int32, r *pendingRecord) {
	o := s.o
	buf, key, encoded := r.buf, r.key, r.encoded
	*r = pendingRecord{}
	f := &o.framing[t]
	if len(buf.B) <= len(f.Begin) {
		o.putBuf(buf) // everything in it was dropped
		return
	}
	buf.B = append(buf.B[:len(buf.B)-len(f.Sep)], f.End...) // End replaces the last Sep
	rec := &kgo.Record{Topic: o.topics[t], Partition: p, Value: buf.B}
	if !o.mdm[t] { // metrictank's publisher writes no key
		rec.Key = make([]byte, 8)
		binary.BigEndian.PutUint64(rec.Key, key)
	}
	o.holdMu.Lock()
	if o.holding {
		// Rollups of windows closed after a checkpoint's cut belong to
		// the next transaction: keep them until it begins.
		for o.holding && o.heldBytes >= o.maxHeld {
			o.holdCond.Wait()
		}
		if o.holding {
			o.held = append(o.held, heldRecord{rec, buf, encoded})
			o.heldBytes += len(buf.B)
			o.holdMu.Unlock()
			return
		}
	}
	o.holdMu.Unlock()
	o.send(rec, buf, encoded)
}

// getBuf returns a record buffer that holds a whole record: grown by
// appending, a new one would be copied eight times on its way to 64 KiB,
// and a backlog drain needs new ones for every record in flight.
func (o *KafkaOutput) getBuf() *bytebufferpool.ByteBuffer {
	b := o.bufs.Get()
	if c := o.maxRec + o.maxRec/8; cap(b.B) < c {
		b.B = make([]byte, 0, c)
	}
	return b
}

// putBuf returns a record buffer to the pool of its size.
func (o *KafkaOutput) putBuf(b *bytebufferpool.ByteBuffer) {
	if cap(b.B) >= o.maxRec/2 {
		o.bufs.Put(b)
		return
	}
	bytebufferpool.Put(b)
}

// send hands one record to the client.
func (o *KafkaOutput) send(rec *kgo.Record, buf *bytebufferpool.ByteBuffer, encoded time.Time) {
	if o.deliver != nil {
		o.deliver(rec.Topic, rec.Partition, rec.Value)
		o.records.Add(1)
		o.bytes.Add(int64(len(rec.Value)))
		o.putBuf(buf)
		return
	}
	o.inflight.Add(1)
	// Produce blocks while the client's buffer is full: that is the
	// backpressure that keeps memory bounded when the broker is slow.
	o.cl.Produce(context.Background(), rec, func(rec *kgo.Record, err error) {
		o.inflight.Add(-1)
		if err != nil {
			o.errs.Add(1)
			if o.onError != nil {
				o.onError(rec.Topic, rec.Partition, err)
			}
		} else {
			o.records.Add(1)
			o.bytes.Add(int64(len(rec.Value)))
			o.latency.Observe(time.Since(encoded))
		}
		o.putBuf(buf)
	})
}

// Hold keeps the records produced from now on back from the client until
// Release: a transactional service holds its output from a checkpoint's
// cut until the transaction of that checkpoint has committed and the next
// one has begun, so that no rollup of a window closed after the cut is
// committed with the checkpoint (it would be emitted again after a
// restore). Call it while no shard is producing (inside the cut).
func (o *KafkaOutput) Hold() {
	o.holdMu.Lock()
	o.holding = true
	o.holdMu.Unlock()
}

// Release hands the held records to the client, in the order they were
// produced, and lets records through again.
func (o *KafkaOutput) Release() {
	o.holdMu.Lock()
	for len(o.held) > 0 {
		batch := o.held
		o.held = nil
		o.holdMu.Unlock()
		// Producers blocked on a full hold must wait for this batch to
		// be sent, or they would overtake it; they queue behind it.
		for _, h := range batch {
			o.send(h.rec, h.buf, h.encoded)
		}
		o.holdMu.Lock()
	}
	o.holding = false
	o.heldBytes = 0
	o.holdCond.Broadcast()
	o.holdMu.Unlock()
}

// HeldBytes returns the record bytes held back now.
func (o *KafkaOutput) HeldBytes() int {
	o.holdMu.Lock()
	defer o.holdMu.Unlock()
	return o.heldBytes
}

// Histogram counts durations in fixed exponential buckets (Prometheus
// style, cumulative when read). Safe for concurrent use.
type Histogram struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64
	sumNs  atomic.Int64
	mu     sync.Mutex
	max    time.Duration
}

// LatencyBuckets are the upper bounds of Histogram's buckets.
var LatencyBuckets = [...]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute,
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
	h.mu.Lock()
	h.max = max(h.max, d)
	h.mu.Unlock()
}

// Snapshot returns per-bucket counts (the last one is +Inf), the sum and
// the maximum.
func (h *Histogram) Snapshot() (counts []uint64, sum, maxSeen time.Duration) {
	counts = make([]uint64, len(h.counts))
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
	}
	h.mu.Lock()
	maxSeen = h.max
	h.mu.Unlock()
	return counts, time.Duration(h.sumNs.Load()), maxSeen
}
