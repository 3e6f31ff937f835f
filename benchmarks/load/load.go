package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topologies.
const (
	Flat = "flat" // Telegraf: topic per host % Topics, key = host
	MapR = "mapr" // MapR collectd: topic per host and measurement
)

// Defaults of the zero Config fields.
const (
	DefaultTopics         = 1
	DefaultTopicPrefix    = "telegraf"
	DefaultPartitions     = 4
	DefaultLinesPerRecord = 1
	DefaultDisorderBound  = 100
	DefaultLateBy         = 2 * time.Minute
	DefaultStreams        = 16
	DefaultStreamPrefix   = "metrics"
	DefaultInterval       = 10 * time.Second // without a Rate
	DefaultFlushTimeout   = 30 * time.Second
)

// Config describes one load run. Zero fields take the defaults above.
type Config struct {
	// Series is the number of series; rounded up to whole hosts of 90
	// series (see Hosts). Required.
	Series int
	// Rate is the target in points per second; 0 = as fast as the broker
	// takes them, but never ahead of the wall clock (see the package doc).
	Rate float64
	// Duration is how long to produce; 0 = until the context is canceled.
	Duration time.Duration
	// Interval is the event-time step between two reports of a host.
	// Default: points-per-round / Rate with a Rate, else 10s.
	Interval time.Duration

	// Topology is Flat (default) or MapR.
	Topology string
	// Topics is the number of topics of the flat topology (default 1).
	Topics int
	// TopicPrefix names the flat topics (default "telegraf"): the prefix
	// itself when Topics == 1, else <prefix>-<i>.
	TopicPrefix string
	// Streams is the N of djb2(measurement, N) in MapR topic names
	// (default 16).
	Streams int
	// StreamPrefix starts MapR topic names (default "metrics").
	StreamPrefix string
	// Partitions is the partition count of each topic EnsureTopics creates
	// (default 4). Existing topics keep theirs.
	Partitions int
	// LinesPerRecord is how many lines of one host (and, for MapR, one
	// topic) go into one record value (default 1, Telegraf's framing).
	// A host's report is split into records of this many lines; the last
	// record of a report may hold fewer.
	LinesPerRecord int

	// Disorder is the fraction (0..1) of lines held back until
	// 1..DisorderBound later lines of their partition have been produced.
	Disorder float64
	// DisorderBound is the most lines of its partition that overtake a
	// disordered line (default 100).
	DisorderBound int
	// Late is the fraction (0..1) of lines whose timestamp is LateBy older
	// than their report's.
	Late float64
	// LateBy is how much older late lines are (default 2m). Set it beyond
	// the pipeline's lateness plus its finest step so they really are
	// dropped as late.
	LateBy time.Duration
	// Bad is the fraction (0..1) of lines made malformed. Late + Bad must
	// not exceed 1: a line is at most one of them.
	Bad float64

	// Seed varies the values and the injected faults, not the shape.
	Seed uint64
	// FlushTimeout bounds the wait for outstanding acknowledgements at the
	// end (default 30s); what is still buffered then is aborted.
	FlushTimeout time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Topics, DefaultTopics)
	def(&c.Partitions, DefaultPartitions)
	def(&c.LinesPerRecord, DefaultLinesPerRecord)
	def(&c.DisorderBound, DefaultDisorderBound)
	def(&c.Streams, DefaultStreams)
	if c.Topology == "" {
		c.Topology = Flat
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.StreamPrefix == "" {
		c.StreamPrefix = DefaultStreamPrefix
	}
	if c.LateBy == 0 {
		c.LateBy = DefaultLateBy
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
		if c.Rate > 0 && c.Series > 0 {
			perRound := float64(c.Hosts() * reportShape().points)
			// Clamped: a tiny rate would overflow a Duration.
			c.Interval = time.Duration(min(max(perRound/c.Rate*1e9, 1), float64(24*time.Hour)))
		}
	}
	return c
}

// Hosts is the number of hosts that carry Series series.
func (c Config) Hosts() int {
	p := reportShape().points
	return (c.Series + p - 1) / p
}

// SeriesPerHost is the number of series (points per report) of a host: 90.
func SeriesPerHost() int { return reportShape().points }

// EventInterval is the event time between two reports of a host: Interval,
// or its default (see Interval).
func (c Config) EventInterval() time.Duration { return c.withDefaults().Interval }

// Validate checks the bounds of every field; zero fields (defaults) pass.
func (c Config) Validate() error {
	const (
		isInt = iota
		isFloat
		isDur
	)
	// One row per numeric field: the value and its inclusive bounds.
	rows := []struct {
		name    string
		v       float64
		lo, hi  float64
		kind    int
		minNote string // why lo, if not obvious
	}{
		{"series", float64(c.Series), 1, 1e8, isInt, ""},
		{"rate", c.Rate, 0, 1e9, isFloat, ""},
		{"duration", float64(c.Duration), 0, math.MaxInt64, isDur, ""},
		{"interval", float64(c.Interval), 0, float64(24 * time.Hour), isDur, ""},
		{"topics", float64(c.Topics), 0, 100000, isInt, ""},
		{"partitions", float64(c.Partitions), 0, 100000, isInt, ""},
		{"lines per record", float64(c.LinesPerRecord), 0, 100000, isInt, ""},
		{"disorder", c.Disorder, 0, 1, isFloat, ""},
		{"disorder bound", float64(c.DisorderBound), 0, 1e6, isInt, ""},
		{"late", c.Late, 0, 1, isFloat, ""},
		{"late by", float64(c.LateBy), 0, float64(365 * 24 * time.Hour), isDur, ""},
		{"bad", c.Bad, 0, 1, isFloat, ""},
		{"streams", float64(c.Streams), 0, math.MaxInt32, isInt, ""},
		{"flush timeout", float64(c.FlushTimeout), 0, math.MaxInt64, isDur, ""},
	}
	for _, r := range rows {
		show := func(v float64) string {
			switch r.kind {
			case isInt:
				return strconv.FormatFloat(v, 'f', -1, 64)
			case isDur:
				return time.Duration(v).String()
			}
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		switch {
		case math.IsNaN(r.v):
			return fmt.Errorf("%s is not a number", r.name)
		case r.v < 0 && r.lo == 0:
			return fmt.Errorf("%s %s is negative", r.name, show(r.v))
		case r.v < r.lo:
			return fmt.Errorf("%s %s is below the minimum of %s", r.name, show(r.v), show(r.lo))
		case r.v > r.hi:
			return fmt.Errorf("%s %s exceeds the maximum of %s", r.name, show(r.v), show(r.hi))
		}
	}
	if c.Late+c.Bad > 1 {
		return fmt.Errorf("late %g plus bad %g exceeds 1 (a line is at most one of them)", c.Late, c.Bad)
	}
	switch c.Topology {
	case "", Flat, MapR:
	default:
		return fmt.Errorf("topology %q is neither %q nor %q", c.Topology, Flat, MapR)
	}
	for _, p := range []struct{ name, v string }{{"topic prefix", c.TopicPrefix}, {"stream prefix", c.StreamPrefix}} {
		if !topicChars.MatchString(p.v) {
			return fmt.Errorf("%s %q is not a valid Kafka topic name start (allowed: a-z A-Z 0-9 . _ -)", p.name, p.v)
		}
		// Leave room for "-<i>" or "-<stream>.<host>_<measurement>" in
		// Kafka's 249-byte limit.
		if len(p.v) > 200 {
			return fmt.Errorf("%s is %d bytes long, above the maximum of 200", p.name, len(p.v))
		}
	}
	return nil
}

var topicChars = regexp.MustCompile(`^[a-zA-Z0-9._-]*$`)

// shape is the layout of one host's report, the same for every host.
type shape struct {
	meas     []string // distinct measurements, in report order
	lineMeas []int    // per line of a report: index in meas
	linePts  []int32  // per line: numeric fields (points)
	points   int      // per report
	bytes    int      // of host 0's first report, for benchmarks
}

// reportShape reads the shape off one generated report instead of
// hard-coding gen's measurement table.
var reportShape = sync.OnceValue(func() shape {
	var s shape
	buf := gen.NewTelegraf(gen.Config{Hosts: 1}).AppendHost(nil, 0)
	s.bytes = len(buf)
	for len(buf) > 0 {
		n := bytes.IndexByte(buf, '\n') + 1
		line := buf[:n-1]
		buf = buf[n:]
		m := string(line[:bytes.IndexAny(line, ", ")])
		if len(s.meas) == 0 || s.meas[len(s.meas)-1] != m {
			s.meas = append(s.meas, m)
		}
		s.lineMeas = append(s.lineMeas, len(s.meas)-1)
		fieldSet := line[bytes.IndexByte(line, ' ')+1 : bytes.LastIndexByte(line, ' ')]
		pts := int32(bytes.Count(fieldSet, []byte{','}) + 1)
		s.linePts = append(s.linePts, pts)
		s.points += int(pts)
	}
	return s
})

// hostName is the host tag value of host h, which is also its record key.
func hostName(h int) string {
	s := strconv.Itoa(h)
	for len(s) < 5 {
		s = "0" + s
	}
	return "host-" + s
}

// flatTopic is the name of flat topic i.
func flatTopic(c Config, i int) string {
	if c.Topics == 1 {
		return c.TopicPrefix
	}
	return c.TopicPrefix + "-" + strconv.Itoa(i)
}

// maprTopic is the MapR-style topic of one host and measurement.
func maprTopic(c Config, host, meas string) string {
	return c.StreamPrefix + "-" + strconv.Itoa(int(djb2Stream(meas, int32(c.Streams)))) + "." + host + "_" + meas
}

// Topics lists every topic cfg produces to: the flat topics in order, or
// for MapR each host's measurement topics, host by host.
func Topics(cfg Config) []string {
	cfg = cfg.withDefaults()
	var ts []string
	if cfg.Topology == MapR {
		for h := range cfg.Hosts() {
			for _, m := range reportShape().meas {
				ts = append(ts, maprTopic(cfg, hostName(h), m))
			}
		}
		return ts
	}
	for i := range cfg.Topics {
		ts = append(ts, flatTopic(cfg, i))
	}
	return ts
}

// TopicRegex is a consumer pattern matching the whole names of the topics
// of cfg (and, for MapR, of any host's): ^metrics-[0-9]+\..+$ for the
// default MapR prefix. It is anchored at both ends because `rollup run
// --topic-regex` requires the whole name to match.
func TopicRegex(cfg Config) string {
	cfg = cfg.withDefaults()
	if cfg.Topology == MapR {
		return `^` + regexp.QuoteMeta(cfg.StreamPrefix) + `-[0-9]+\..+$`
	}
	if cfg.Topics == 1 {
		return `^` + regexp.QuoteMeta(cfg.TopicPrefix) + `$`
	}
	return `^` + regexp.QuoteMeta(cfg.TopicPrefix) + `-[0-9]+$`
}

// createBatch is the most topics per CreateTopics request: brokers handle
// huge requests badly, and MapR runs have thousands of topics.
const createBatch = 500

// EnsureTopics creates the topics that do not exist yet, with
// cfg.Partitions partitions each and the broker's default replication.
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg Config, topics []string) error {
	cfg = cfg.withDefaults()
	for len(topics) > 0 {
		n := min(len(topics), createBatch)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		for _, t := range topics[:n] {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic = t
			rt.NumPartitions = int32(cfg.Partitions)
			rt.ReplicationFactor = -1
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("cannot create topics: %w (is the broker reachable?)", err)
		}
		for _, rt := range resp.Topics {
			if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("cannot create topic %q: %w", rt.Topic, err)
			}
		}
		topics = topics[n:]
	}
	return nil
}

// fnv32a is FNV-1a 32, sarama's default key hash; inline because
// hash/fnv's interface would allocate per record.
func fnv32a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// partitionOf is where sarama (and ProducerOpts' partitioner) puts key
// among n partitions.
func partitionOf(key []byte, n int) int {
	return kgo.SaramaCompatHasher(fnv32a)(key, n)
}

// telegrafPartitioner is a distinct type so Run can check that the client
// was built with ProducerOpts.
type telegrafPartitioner struct{ kgo.Partitioner }

// ProducerOpts are the client options Run needs: sarama's key partitioner,
// as Telegraf uses (FORMATS.md 1.9), and no compression (Telegraf's
// default). Later options override them, e.g. a compression codec.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RecordPartitioner(telegrafPartitioner{kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))}),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
}

// Stats are the totals of a run so far.
type Stats struct {
	// Handed to the client, acknowledged or not. Bytes are record values.
	Points, Lines, Records, Bytes int64
	// Acknowledged by the broker.
	AckedRecords, AckedPoints, AckedBytes int64
	// FailedRecords failed after the client's retries, or were canceled.
	FailedRecords int64
	// ProduceErrors counts failed records by error text; after
	// maxErrorKinds distinct texts the rest count under "other".
	ProduceErrors map[string]int64

	// Injected faults among the produced lines; the points of late and bad
	// lines are included in Points.
	LateLines, LatePoints, BadLines, BadPoints, DisorderedLines int64

	// ProduceWait is how long the generator waited for the client's
	// buffer (the brokers not taking records as fast as it made them).
	ProduceWait time.Duration

	// Elapsed is the time since the start, including the final flush.
	Elapsed time.Duration
}

const maxErrorKinds = 5

func (s Stats) perSec(n int64) float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(n) / s.Elapsed.Seconds()
}

// PointsPerSec is the produced points per second of Elapsed.
func (s Stats) PointsPerSec() float64 { return s.perSec(s.Points) }

// RecordsPerSec is the produced records per second of Elapsed.
func (s Stats) RecordsPerSec() float64 { return s.perSec(s.Records) }

// BytesPerSec is the produced value bytes per second of Elapsed.
func (s Stats) BytesPerSec() float64 { return s.perSec(s.Bytes) }

// ValidPoints is the produced points in lines neither late nor bad: what a
// pipeline should accept, unless disorder exceeds its lateness.
func (s Stats) ValidPoints() int64 { return s.Points - s.LatePoints - s.BadPoints }

// totals are the generator's produced counts; it publishes them to
// counters once per host report rather than per record.
type totals struct {
	points, lines, records, bytes          int64
	late, latePts, bad, badPts, disordered int64
}

// counters are shared by the generator, the promise goroutine and the
// progress goroutine.
type counters struct {
	produced [9]atomic.Int64 // totals, in field order
	_        [64]byte        // keep the promise's counters off that cache line

	acked, ackedPts, ackedBytes, failed atomic.Int64
	produceWait                         atomic.Int64 // ns the generator waited for buffer space
	mu                                  sync.Mutex
	errs                                map[string]int64
}

func (c *counters) publish(t *totals) {
	for i, v := range [...]int64{t.points, t.lines, t.records, t.bytes, t.late, t.latePts, t.bad, t.badPts, t.disordered} {
		c.produced[i].Store(v)
	}
}

func (c *counters) fail(err error) {
	c.failed.Add(1)
	msg := err.Error()
	c.mu.Lock()
	if c.errs == nil {
		c.errs = map[string]int64{}
	}
	if _, ok := c.errs[msg]; !ok && len(c.errs) >= maxErrorKinds {
		msg = "other"
	}
	c.errs[msg]++
	c.mu.Unlock()
}

func (c *counters) snapshot(elapsed time.Duration) Stats {
	var p [9]int64
	for i := range p {
		p[i] = c.produced[i].Load()
	}
	s := Stats{
		Points: p[0], Lines: p[1], Records: p[2], Bytes: p[3],
		LateLines: p[4], LatePoints: p[5], BadLines: p[6], BadPoints: p[7], DisorderedLines: p[8],
		AckedRecords: c.acked.Load(), AckedPoints: c.ackedPts.Load(), AckedBytes: c.ackedBytes.Load(),
		FailedRecords: c.failed.Load(),
		ProduceWait:   time.Duration(c.produceWait.Load()),
		Elapsed:       elapsed,
	}
	c.mu.Lock()
	if len(c.errs) > 0 {
		s.ProduceErrors = make(map[string]int64, len(c.errs))
		for k, v := range c.errs {
			s.ProduceErrors[k] = v
		}
	}
	c.mu.Unlock()
	return s
}

// Run produces cfg's load through cl until cfg.Duration has passed or ctx
// is canceled, then waits (at most cfg.FlushTimeout) for the outstanding
// acknowledgements. cl must be created with ProducerOpts, and the topics
// must exist (see Topics and EnsureTopics). progress, if not nil, is called
// about once per second from another goroutine, never concurrently with
// itself and never after Run returns. A canceled ctx is a normal stop, not
// an error; the error is about validation or the final flush.
func Run(ctx context.Context, cl *kgo.Client, cfg Config, progress func(Stats)) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	cfg = cfg.withDefaults()
	if _, ok := cl.OptValue(kgo.RecordPartitioner).(telegrafPartitioner); !ok {
		return Stats{}, errors.New("load: the client does not partition like Telegraf: create it with the options of load.ProducerOpts")
	}
	t0 := time.Now()
	c := &counters{}
	g := newGenerator(cfg, eventStart(cfg, t0))
	g.onAck = func(s *slot, err error) {
		if err != nil {
			c.fail(err)
			return
		}
		c.acked.Add(1)
		c.ackedPts.Add(int64(s.points))
		c.ackedBytes.Add(int64(len(s.rec.Value)))
	}
	// Produce blocks only while the client's buffer is full (backpressure);
	// acknowledgements arrive through the slot's promise.
	g.emit = func(s *slot) {
		t := time.Now()
		cl.Produce(ctx, &s.rec, s.promise)
		if d := time.Since(t); d > 100*time.Microsecond { // it blocked: the buffer was full
			c.produceWait.Add(int64(d))
		}
	}
	g.publish = func() { c.publish(&g.tot) }

	stopProgress := func() {}
	if progress != nil {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(c.snapshot(time.Since(t0)))
				}
			}
		})
		stopProgress = func() { close(done); wg.Wait() }
	}

	g.run(ctx, t0)

	// The flush must outlive a canceled ctx (SIGINT): what was produced
	// should still be acknowledged and counted, within the bound.
	var err error
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.FlushTimeout)
	if ferr := cl.Flush(fctx); ferr != nil {
		err = fmt.Errorf("cannot flush the produced records within %v: %w (is the broker reachable?)", cfg.FlushTimeout, ferr)
		// Fail what is left so every promise has fired and the counts
		// are final; bounded too, in case the broker hangs.
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		cl.AbortBufferedRecords(actx)
		acancel()
	}
	cancel()
	stopProgress()
	return c.snapshot(time.Since(t0)), err
}

// eventStart is the timestamp of the first report (see the package doc).
func eventStart(cfg Config, now time.Time) time.Time {
	if cfg.Rate > 0 {
		return now.Truncate(cfg.Interval)
	}
	return now.Add(-cfg.Duration).Truncate(cfg.Interval)
}

// slot is one record with its reusable value buffer. The client owns rec
// and buf from Produce until the promise fires; only then does the slot
// return to the free list.
type slot struct {
	rec     kgo.Record
	buf     []byte
	topic   int32 // index in generator.topics
	host    int32
	stream  int32
	lines   int32
	points  int32
	promise func(*kgo.Record, error) // made once per slot: no allocation per record
}

// heldLine is a disordered line waiting until left more lines of its
// partition stream that followed it in gen's order have been produced.
type heldLine struct {
	left, d     int32 // overtakers still to come, of d drawn
	host, topic int32
	ts          int64
	line        []byte
	points      int32
	late, bad   bool
}

// stream is one partition's sequence of lines, as far as the generator
// can tell (it assumes the topics have cfg.Partitions partitions).
type stream struct {
	held []heldLine // oldest (in gen's order) first
}

// Line kinds.
const (
	lineOK = iota
	lineLate
	lineBad
)

// generator turns gen's reports into records. It is used by one goroutine;
// only the promises (onAck, the free list) run elsewhere.
type generator struct {
	cfg   Config
	tg    *gen.Telegraf
	shape shape
	hosts int

	keys       [][]byte // per host, shared by all its records (the client does not modify keys)
	topics     []string // flat: per topic; MapR: host*len(meas) + measurement
	hostStream []int32  // flat: partition stream of each host
	streams    []stream
	spare      [][]byte // recycled held-line buffers

	rng     uint64
	scratch []byte
	free    chan *slot
	tot     totals

	emit    func(*slot)        // hands a filled record over
	onAck   func(*slot, error) // counts an acknowledgement (may be nil)
	publish func()             // makes tot visible to progress (may be nil)
}

// freeSlots bounds the free list; slots beyond it are left to the GC
// (the client's MaxBufferedRecords bounds how many are in flight).
const freeSlots = 8192

func newGenerator(cfg Config, start time.Time) *generator {
	g := &generator{
		cfg:   cfg,
		shape: reportShape(),
		hosts: cfg.Hosts(),
		rng:   cfg.Seed*0x9e3779b97f4a7c15 ^ 0xd1b54a32d192ed03,
		free:  make(chan *slot, freeSlots),
	}
	g.tg = gen.NewTelegraf(gen.Config{Hosts: g.hosts, Start: start, Interval: cfg.Interval, Seed: cfg.Seed})
	for h := range g.hosts {
		g.keys = append(g.keys, []byte(hostName(h)))
	}
	if cfg.Topology == MapR {
		g.topics = Topics(cfg)
		g.streams = make([]stream, len(g.topics)) // one key per topic: one partition each
	} else {
		for i := range cfg.Topics {
			g.topics = append(g.topics, flatTopic(cfg, i))
		}
		g.streams = make([]stream, cfg.Topics*cfg.Partitions)
		for h := range g.hosts {
			g.hostStream = append(g.hostStream, int32((h%cfg.Topics)*cfg.Partitions+partitionOf(g.keys[h], cfg.Partitions)))
		}
	}
	return g
}

// next is splitmix64, as in gen: deterministic and cheap.
func (g *generator) next() uint64 {
	g.rng += 0x9e3779b97f4a7c15
	z := g.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (g *generator) unit() float64 { return float64(g.next()>>11) / (1 << 53) }

// route returns the topic index and partition stream of line i of host h.
func (g *generator) route(h, i int) (topic, st int32) {
	if g.cfg.Topology == MapR {
		t := int32(h*len(g.shape.meas) + g.shape.lineMeas[i])
		return t, t
	}
	return int32(h % g.cfg.Topics), g.hostStream[h]
}

func (g *generator) getSlot(h, topic, st int32, ts int64) *slot {
	var s *slot
	select {
	case s = <-g.free:
	default:
		s = &slot{}
		s.promise = func(_ *kgo.Record, err error) {
			if g.onAck != nil {
				g.onAck(s, err)
			}
			g.recycle(s)
		}
	}
	s.rec = kgo.Record{Topic: g.topics[topic], Key: g.keys[h], Timestamp: time.Unix(0, ts)}
	s.buf = s.buf[:0]
	s.topic, s.host, s.stream, s.lines, s.points = topic, h, st, 0, 0
	return s
}

func (g *generator) recycle(s *slot) {
	select {
	case g.free <- s:
	default:
	}
}

// hostReport produces host h's report with timestamp ts (Unix ns), the
// report gen's current interval holds.
func (g *generator) hostReport(h int, ts int64) {
	g.scratch = g.tg.AppendHost(g.scratch[:0], h)
	cfg := &g.cfg
	var cur *slot
	rest := g.scratch
	for i := 0; len(rest) > 0; i++ {
		n := bytes.IndexByte(rest, '\n') + 1
		line := rest[:n]
		rest = rest[n:]
		topic, st := g.route(h, i)
		pts := g.shape.linePts[i]
		if cur != nil && (cur.topic != topic || int(cur.lines) == cfg.LinesPerRecord) {
			g.send(cur)
			cur = nil
		}
		kind := lineOK
		if cfg.Bad > 0 || cfg.Late > 0 {
			switch u := g.unit(); {
			case u < cfg.Bad:
				kind = lineBad
			case u < cfg.Bad+cfg.Late:
				kind = lineLate
			}
		}
		if cfg.Disorder > 0 && g.unit() < cfg.Disorder {
			// cur (same topic, so same stream) goes out first: then
			// every line of a record follows every line held in its
			// stream, which makes counting overtakers a subtraction.
			if cur != nil {
				g.send(cur)
				cur = nil
			}
			d := int32(1 + g.next()%uint64(cfg.DisorderBound))
			var buf []byte
			if k := len(g.spare); k > 0 {
				buf, g.spare = g.spare[k-1], g.spare[:k-1]
			}
			g.streams[st].held = append(g.streams[st].held, heldLine{left: d, d: d, host: int32(h), topic: topic, ts: ts,
				line: g.appendLine(buf, line, kind, ts), points: pts, late: kind == lineLate, bad: kind == lineBad})
			continue
		}
		if cur == nil {
			cur = g.getSlot(int32(h), topic, st, ts)
		}
		cur.buf = g.appendLine(cur.buf, line, kind, ts)
		cur.lines++
		cur.points += pts
		g.countLine(kind, pts)
	}
	if cur != nil {
		g.send(cur)
	}
}

func (g *generator) countLine(kind int, pts int32) {
	switch kind {
	case lineLate:
		g.tot.late++
		g.tot.latePts += int64(pts)
	case lineBad:
		g.tot.bad++
		g.tot.badPts += int64(pts)
	}
	g.tot.lines++
	g.tot.points += int64(pts)
}

// send produces s, then the held lines of its stream that are due.
func (g *generator) send(s *slot) {
	// Read s before emit: once produced, its promise may recycle it.
	si, n := s.stream, s.lines
	s.rec.Value = s.buf
	g.tot.records++
	g.tot.bytes += int64(len(s.buf))
	g.emit(s)
	st := &g.streams[si]
	if len(st.held) == 0 {
		return
	}
	// The record's lines all followed every held line (see hostReport).
	for i := range st.held {
		st.held[i].left -= n
	}
	// Produce the due lines, oldest first. Each one overtakes the older
	// lines still held, which may make them due: start over.
	for i := 0; i < len(st.held); {
		if st.held[i].left > 0 {
			i++
			continue
		}
		g.release(si, i)
		for j := range i {
			st.held[j].left--
		}
		i = 0
	}
}

// release produces held line i of stream si as a record of its own.
func (g *generator) release(si int32, i int) {
	st := &g.streams[si]
	hl := st.held[i]
	st.held = append(st.held[:i], st.held[i+1:]...)
	r := g.getSlot(hl.host, hl.topic, si, hl.ts)
	r.buf = append(r.buf, hl.line...)
	r.lines, r.points = 1, hl.points
	g.spare = append(g.spare, hl.line[:0])
	kind := lineOK
	if hl.late {
		kind = lineLate
	} else if hl.bad {
		kind = lineBad
	}
	g.countLine(kind, hl.points)
	if hl.left < hl.d { // not so when drained at the end before any overtook it
		g.tot.disordered++
	}
	r.rec.Value = r.buf
	g.tot.records++
	g.tot.bytes += int64(len(r.buf))
	g.emit(r)
}

// drainHeld produces every line still held, oldest first, so none of them
// overtakes another.
func (g *generator) drainHeld() {
	for i := range g.streams {
		for len(g.streams[i].held) > 0 {
			g.release(int32(i), 0)
		}
	}
}

// appendLine appends line (with its '\n') to dst as kind.
func (g *generator) appendLine(dst, line []byte, kind int, ts int64) []byte {
	switch kind {
	case lineLate:
		sp := bytes.LastIndexByte(line, ' ')
		dst = append(dst, line[:sp+1]...)
		dst = strconv.AppendInt(dst, ts-int64(g.cfg.LateBy), 10)
		return append(dst, '\n')
	case lineBad:
		return g.corrupt(dst, line)
	}
	return append(dst, line...)
}

// badNumbers are malformed field values seen in the wild (locale commas,
// doubled signs, cut exponents, stray suffixes); each is rejected by the
// decoder (checked by the tests).
var badNumbers = []string{"1.2.3", "12,5", "--7", "4e", "1e+", "12abc", "3.4.5i", "0..1", "7ii", "1.5u"}

// corrupt appends a malformed version of line (which ends in '\n') to dst.
// Every variant keeps the line's '\n' and nothing else of it that could
// start a quoted string or a comment, so the damage stays on this line and
// the line is always rejected.
func (g *generator) corrupt(dst, line []byte) []byte {
	body := line[:len(line)-1]
	sp1 := bytes.IndexByte(body, ' ')
	spN := bytes.LastIndexByte(body, ' ')
	// A random field's value: body[eq+1:end].
	fields := body[sp1+1 : spN]
	j := int(g.next() % uint64(bytes.Count(fields, []byte{','})+1))
	start := sp1 + 1
	for ; j > 0; j-- {
		start += bytes.IndexByte(body[start:], ',') + 1
	}
	eq := start + bytes.IndexByte(body[start:], '=')
	end := eq + 1 + bytes.IndexAny(body[eq+1:], ", ")
	switch g.next() % 4 {
	case 0: // truncated (a writer died mid-line): the series key alone
		dst = append(dst, body[:1+int(g.next()%uint64(sp1-1))]...)
	case 1: // missing field value: "usage_idle=,usage_nice=..."
		dst = append(append(dst, body[:eq+1]...), body[end:]...)
	case 2: // bad number
		dst = append(dst, body[:eq+1]...)
		dst = append(dst, badNumbers[g.next()%uint64(len(badNumbers))]...)
		dst = append(dst, body[end:]...)
	default: // binary garbage replacing the key/field separator
		a := 1 + int(g.next()%uint64(sp1-1))
		b := sp1 + 1 + int(g.next()%uint64(spN-sp1))
		dst = append(dst, body[:a]...)
		for n := 1 + g.next()%8; n > 0; n-- {
			dst = append(dst, garbage[g.next()%uint64(len(garbage))])
		}
		dst = append(dst, body[b:]...)
	}
	return append(dst, '\n')
}

// garbage are the bytes of binary junk: no space, tab, CR or LF (which
// would end the element or the line), no quote or backslash (which could
// carry the damage into the next line), no '#' (a comment is skipped, not
// rejected).
var garbage = func() []byte {
	var b []byte
	for c := 0; c < 256; c++ {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c >= 0x7f {
			b = append(b, byte(c))
		}
	}
	return b
}()

// paceSlack is how far ahead of the rate the generator may run before it
// sleeps: below it the sleep would cost more than it corrects.
const paceSlack = 2 * time.Millisecond

// run produces reports from t0 until the deadline or ctx, pacing to
// cfg.Rate and never ahead of the wall clock, then the held lines.
func (g *generator) run(ctx context.Context, t0 time.Time) {
	cfg := &g.cfg
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = t0.Add(cfg.Duration)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// sleepUntil waits for t and reports whether to go on: false once ctx
	// is done or the deadline came first.
	sleepUntil := func(t time.Time) bool {
		last := false
		if !deadline.IsZero() && !t.Before(deadline) {
			t, last = deadline, true
		}
		if d := time.Until(t); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
			}
		}
		return !last && ctx.Err() == nil
	}
	perHost := float64(g.shape.points)
	sent := 0.0 // points, for pacing
generate:
	for {
		ts := g.tg.Time()
		if time.Now().Before(ts) && !sleepUntil(ts) {
			break
		}
		for h := range g.hosts {
			now := time.Now()
			if ctx.Err() != nil || !deadline.IsZero() && !now.Before(deadline) {
				break generate
			}
			if cfg.Rate > 0 {
				// The due time is absolute, so sleep overshoot does not
				// accumulate.
				due := t0.Add(time.Duration(sent / cfg.Rate * 1e9))
				if due.Sub(now) > paceSlack && !sleepUntil(due) {
					break generate
				}
			}
			g.hostReport(h, ts.UnixNano())
			if g.publish != nil {
				g.publish()
			}
			sent += perHost
		}
		g.tg.Advance()
	}
	// Held lines belong to reports already produced; on cancel they are
	// dropped (never counted) rather than block on a stopping client.
	if ctx.Err() == nil {
		g.drainHeld()
		if g.publish != nil {
			g.publish()
		}
	}
}
