package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rollupd/rollup/fastparse"
)

// SourceConfig configures a Source. Zero values take the documented
// defaults.
type SourceConfig struct {
	// Client consumes. It must be a direct consumer created without
	// ConsumeTopics, ConsumePartitions or ConsumerGroup: the source finds
	// the partitions itself and adds them with the offsets it chooses.
	Client *kgo.Client
	// Topics lists the topics to read; or TopicRegex selects them (every
	// topic whose whole name matches, checked at every metadata refresh).
	Topics     []string
	TopicRegex *regexp.Regexp
	// StartLatest starts the partitions that exist at startup at their end
	// (only new records); otherwise they start at the earliest offset.
	// Partitions found later always start at the earliest offset, so
	// nothing written to a new partition or topic is missed.
	StartLatest bool
	// MetadataInterval is how often to look for new topics and
	// partitions. Default 5s.
	MetadataInterval time.Duration
	// Parsers is the number of parser goroutines; each reads a fixed group
	// of partitions. Default GOMAXPROCS.
	Parsers int
	// Log receives connection, discovery and bad-input messages. Default:
	// slog.Default().
	Log *slog.Logger
	// MalformedLogBurst bounds the malformed-line log messages per second
	// (the rest are counted and summarized). Default 10.
	MalformedLogBurst int
	// Health, if set, is the consumer's FetchHealth hook: while no fetch
	// has been answered for FetchStall, idleness is suspended, so an
	// outage is noticed within FetchStall plus the idle check period
	// (IdleCheck).
	Health     *FetchHealth
	FetchStall time.Duration
	// MaxSkew, if positive, pauses fetching a partition whose watermark
	// runs more than this ahead of the global watermark (see skew.go), so
	// catching up after an outage holds a bounded number of windows open.
	MaxSkew time.Duration
	// Decoders gives the decoder of topics whose format is not the
	// engine's (Config.NewDecoder): topic -> constructor.
	Decoders map[string]func() fastparse.Decoder
	// Restore lists the partitions of a checkpoint the engine was restored
	// from: each resumes at its Next offset with its watermark state
	// (StartLatest does not apply to them). One that no longer exists is
	// logged and stops holding the watermark back.
	Restore []PartitionSnapshot
}

// Source reads Kafka partitions directly (no consumer group: offsets are
// the service's own state) and feeds their records to an engine. Every
// partition is an input stream with its own lateness and watermark.
type Source struct {
	e   *Engine
	cfg SourceConfig
	log *slog.Logger

	mu      sync.Mutex
	parts   map[topicPartition]*PartitionState
	order   []*PartitionState // in discovery order, for stats
	parsers []*parser
	started bool           // the first discovery has run
	topicRe *regexp.Regexp // TopicRegex, anchored (WholeName)
	// unapplied counts records fetched and handed to the parsers but not
	// applied yet.
	unapplied   atomic.Int64
	anyPaused   bool         // skewLoop's own: whether it last logged partitions paused
	heldRecords atomic.Int64 // records held back by paused partitions

	// dispatch is held while fetched records are handed to the parsers,
	// and by Snapshot to keep them from being handed any more; stopped
	// (under dispatch) says the parsers are gone.
	dispatch sync.Mutex
	stopped  bool

	malformed *Throttle
	fetchErrs *Throttle
}

type topicPartition struct {
	topic string
	id    int32
}

// PartitionState is what the source knows of one assigned partition.
// Its atomics are readable from any goroutine (for /metrics).
type PartitionState struct {
	Topic     string
	Partition int32

	p      *Partition
	parser int

	next      atomic.Int64 // next offset to process (-1: nothing yet)
	hwm       atomic.Int64 // high watermark from the last fetch (-1: unknown)
	watermark atomic.Int64 // stream watermark, Unix ns
	records   atomic.Int64

	cur int64 // offset of the record being parsed (parser goroutine only)
	// ids resolves the metrictank point ids of this partition, made when
	// a decoder first needs it (parser goroutine; read at a snapshot);
	// idCount and idRefused publish its size after each batch.
	ids                *fastparse.MKeyIndex
	idCount, idRefused atomic.Int64
	// paused: fetching stopped while the partition runs ahead (skew.go);
	// held: what it had fetched then, applied on resume (under
	// Source.dispatch).
	paused atomic.Bool
	held   []work

	// A partition restored from a checkpoint is pending until discovery
	// finds it and adds it to the client at resume; detached while it is
	// missing from the cluster (then it holds no watermark back). Both
	// under Source.mu.
	pending  bool
	detached bool
	resume   int64 // offset to resume at; -1: earliest
}

// PartitionStats is a snapshot of one partition.
type PartitionStats struct {
	Topic     string
	Partition int32
	Offset    int64 // next offset to process; -1 before the first record
	Lag       int64 // high watermark - Offset; -1 when unknown
	Watermark int64 // Unix ns; math.MinInt64 before the first valid point
	Records   int64
	// IDs is the number of metrictank ids the partition's index holds,
	// IDsRefused how many new ones it refused when full (metrictank input).
	IDs, IDsRefused int64
	// Paused: fetching stopped while the partition runs ahead (MaxSkew).
	Paused bool
}

// WholeName returns re anchored to match whole topic names only
// (leftmost-first matching alone would miss "ab" for "a|ab").
func WholeName(re *regexp.Regexp) *regexp.Regexp {
	return regexp.MustCompile(`^(?:` + re.String() + `)$`)
}

// NewSource prepares a source for e. Run starts it.
func NewSource(e *Engine, cfg SourceConfig) (*Source, error) {
	if cfg.Client == nil {
		return nil, errors.New("kafka source: no client")
	}
	if len(cfg.Topics) == 0 && cfg.TopicRegex == nil {
		return nil, errors.New("no input topic: give --topic or --topic-regex")
	}
	if len(cfg.Topics) > 0 && cfg.TopicRegex != nil {
		return nil, errors.New("give either --topic or --topic-regex, not both")
	}
	if cfg.MetadataInterval == 0 {
		cfg.MetadataInterval = 5 * time.Second
	}
	if cfg.MetadataInterval < 100*time.Millisecond {
		return nil, fmt.Errorf("metadata interval %s is below the minimum of 100ms", cfg.MetadataInterval)
	}
	if cfg.Parsers == 0 {
		cfg.Parsers = runtime.GOMAXPROCS(0)
	}
	if cfg.Parsers < 1 {
		return nil, fmt.Errorf("parsers %d must be at least 1", cfg.Parsers)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MalformedLogBurst == 0 {
		cfg.MalformedLogBurst = 10
	}
	s := &Source{
		e: e, cfg: cfg, log: cfg.Log,
		parts:     map[topicPartition]*PartitionState{},
		malformed: NewThrottle(cfg.MalformedLogBurst, time.Second),
		fetchErrs: NewThrottle(5, 10*time.Second),
	}
	if cfg.TopicRegex != nil {
		s.topicRe = WholeName(cfg.TopicRegex)
	}
	for range cfg.Parsers {
		p := &parser{src: s, in: make(chan work, 8), stream: e.NewRouter()}
		p.dflt = p.stream.dec
		p.stream.OnMalformed = s.onMalformed(p)
		s.parsers = append(s.parsers, p)
	}
	for _, rp := range cfg.Restore {
		tp := topicPartition{rp.Topic, rp.Partition}
		if s.parts[tp] != nil {
			return nil, fmt.Errorf("checkpoint lists partition %s/%d twice", rp.Topic, rp.Partition)
		}
		ps := s.newPartitionLocked(tp, e.RestorePartition(rp))
		ps.pending, ps.resume = true, rp.Next
		if rp.IDCount > 0 {
			ps.ids = e.newIDIndex()
			if err := ps.ids.ReadIndex(rp.IDs, rp.IDCount); err != nil {
				return nil, fmt.Errorf("checkpoint: metrictank ids of partition %s/%d: %w", rp.Topic, rp.Partition, err)
			}
		}
		ps.next.Store(rp.Next)
		ps.watermark.Store(e.partitionWatermark(ps.p))
	}
	return s, nil
}

// parser is one parser goroutine: it feeds the records of its partitions
// through one Stream, so its batches are shared by all of them.
type parser struct {
	src    *Source
	in     chan work
	stream *Stream
	// dflt is the stream's own decoder; decs those of topics with a
	// format of their own, made when first needed.
	dflt fastparse.Decoder
	decs map[string]fastparse.Decoder
	n    int             // partitions assigned (under src.mu)
	cur  *PartitionState // being fed (parser goroutine only)
}

type work struct {
	part    *PartitionState
	records []*kgo.Record
	hwm     int64
	barrier chan<- struct{} // instead of records: answer once all before is applied
}

// Run consumes until ctx ends. It then stops fetching, applies every record
// already fetched, and returns nil; the caller stops the engine after it.
// Errors reaching the brokers are logged and retried, never returned.
func (s *Source) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range s.parsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run()
		}()
	}
	bg, stopBg := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	bgWG.Add(1)
	go func() {
		defer bgWG.Done()
		s.discoverLoop(bg)
	}()
	if s.cfg.MaxSkew > 0 {
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			s.skewLoop(bg)
		}()
	}
	if idle := s.e.cfg.IdleTimeout; idle > 0 {
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			tick := time.NewTicker(IdleCheck(idle))
			defer tick.Stop()
			started := time.Now()
			stalled := false
			for {
				select {
				case <-bg.Done():
					return
				case <-tick.C:
					stalled = s.checkFetches(started, stalled)
					s.e.Tick()
				}
			}
		}()
	}

	for ctx.Err() == nil {
		fetches := s.cfg.Client.PollFetches(ctx)
		if fetches.IsClientClosed() {
			break
		}
		s.dispatch.Lock()
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			var loss *kgo.ErrDataLoss
			if errors.As(err, &loss) {
				// The broker lost records we had not read (an unclean
				// leader election, a truncated log): not retryable, and
				// an operator wants to know every time.
				s.log.Error("input partition lost data on the broker; consuming resumes after the gap", "topic", topic,
					"partition", partition, "error", err)
				return
			}
			if ok, suppressed := s.fetchErrs.Allow(time.Now()); ok {
				s.log.Warn("fetch failed; retrying", "topic", topic, "partition", partition, "error", err,
					"suppressed_since_last", suppressed)
			}
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			s.mu.Lock()
			ps := s.parts[topicPartition{fp.Topic, fp.Partition}]
			s.mu.Unlock()
			if ps == nil {
				// Cannot happen: the client only fetches partitions
				// discover registered. Say so loudly rather than feed
				// records to no partition's watermark.
				s.log.Error("records for an unregistered partition", "topic", fp.Topic, "partition", fp.Partition)
				return
			}
			w := work{part: ps, records: fp.Records, hwm: fp.HighWatermark}
			if s.cfg.MaxSkew > 0 && s.holdBack(ps, w) {
				return
			}
			s.unapplied.Add(int64(len(fp.Records)))
			s.parsers[ps.parser].in <- w
		})
		s.dispatch.Unlock()
	}
	s.dispatch.Lock()
	s.stopped = true
	for _, p := range s.parsers {
		close(p.in)
	}
	wg.Wait()
	s.dispatch.Unlock()
	stopBg()
	bgWG.Wait()
	return nil
}

func (p *parser) run() {
	st := p.stream
	for w := range p.in {
		if w.barrier != nil {
			w.barrier <- struct{}{}
			continue
		}
		ps := w.part
		p.cur = ps
		st.Use(ps.p)
		dec := p.decoder(ps.Topic)
		if iu, ok := dec.(fastparse.IndexUser); ok {
			if ps.ids == nil {
				ps.ids = p.src.e.newIDIndex()
			}
			iu.UseIndex(ps.ids)
		}
		st.SetDecoder(dec)
		keyed, _ := dec.(fastparse.KeyUser)
		now := p.src.e.cfg.Now().UnixNano()
		st.Active(now)
		for _, r := range w.records {
			ps.cur = r.Offset
			if keyed != nil {
				keyed.SetKey(r.Key)
			}
			var rt int64
			if !r.Timestamp.IsZero() && r.Timestamp.UnixNano() > 0 {
				rt = r.Timestamp.UnixNano()
			}
			st.FeedRecord(r.Value, now, rt)
		}
		next := w.records[len(w.records)-1].Offset + 1
		st.Behind(w.hwm > next)
		st.Flush()
		ps.next.Store(next)
		ps.hwm.Store(w.hwm)
		ps.records.Add(int64(len(w.records)))
		p.src.unapplied.Add(-int64(len(w.records)))
		ps.watermark.Store(st.Watermark())
		if ps.ids != nil {
			ps.idCount.Store(int64(ps.ids.Len()))
			ps.idRefused.Store(int64(ps.ids.Refused()))
		}
	}
	st.Flush()
}

// decoder returns the decoder for topic's records.
func (p *parser) decoder(topic string) fastparse.Decoder {
	mk := p.src.cfg.Decoders[topic]
	if mk == nil {
		return p.dflt
	}
	d := p.decs[topic]
	if d == nil {
		if p.decs == nil {
			p.decs = map[string]fastparse.Decoder{}
		}
		d = mk()
		p.decs[topic] = d
	}
	return d
}

// IdleCheck is how often idleness is evaluated for an idle timeout.
func IdleCheck(idle time.Duration) time.Duration { return min(idle/4, time.Second) }

// checkFetches suspends idleness while no fetch has been answered for
// FetchStall (the brokers stall or refuse), and resumes it when fetches
// are answered again; it returns whether they are stalled now.
func (s *Source) checkFetches(started time.Time, was bool) bool {
	if s.cfg.Health == nil || s.cfg.FetchStall <= 0 {
		return false
	}
	s.mu.Lock()
	fetching := len(s.order) > 0
	s.mu.Unlock()
	last := s.cfg.Health.LastAnswer()
	if last.Before(started) {
		last = started
	}
	stalled := fetching && time.Since(last) > s.cfg.FetchStall
	if stalled != was {
		s.e.SuspendIdle(SuspendFetch, stalled)
		if stalled {
			s.log.Warn("no fetch answered: idleness suspended until the brokers answer again (is the broker reachable?)",
				"since", last.Format(time.RFC3339Nano), "fetch_stall", s.cfg.FetchStall)
		} else {
			s.log.Info("fetches answered again: idleness resumes")
		}
	}
	return stalled
}

// discoverLoop looks for new topics and partitions every MetadataInterval.
func (s *Source) discoverLoop(ctx context.Context) {
	failures := 0
	for {
		if err := s.discover(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 {
				// The brokers are unreachable (or we are cut off):
				// a silent partition may just be one we cannot read.
				// A transient failure only delays idleness until
				// the next successful request.
				s.e.SuspendIdle(SuspendMetadata, true)
			}
			// Say so at the first failure, then every 10th: the client
			// logs each connection attempt itself.
			if failures == 1 || failures%10 == 0 {
				s.log.Warn("cannot read topic metadata; retrying (is the broker reachable?)",
					"brokers", s.cfg.Client.OptValue(kgo.SeedBrokers), "failures", failures, "error", err)
			}
		} else if failures > 0 {
			s.log.Info("topic metadata readable again", "after_failures", failures)
			failures = 0
			s.e.SuspendIdle(SuspendMetadata, false)
		}
		wait := s.cfg.MetadataInterval
		if failures > 0 {
			wait = min(wait, time.Duration(failures)*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// discover reads the cluster's metadata once and adds the partitions not
// seen before.
func (s *Source) discover(ctx context.Context) error {
	req := kmsg.NewPtrMetadataRequest()
	if s.cfg.TopicRegex == nil {
		for _, t := range s.cfg.Topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	} // nil Topics: every topic, matched against the regex below
	// Short: a broker outage must be noticed (SuspendIdle) well within
	// the idle timeout.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, s.cfg.Client)
	if err != nil {
		return err
	}
	add := map[string]map[int32]kgo.Offset{}
	seen := map[topicPartition]bool{}
	s.mu.Lock()
	first := !s.started
	s.started = true
	var added, resumed []*PartitionState
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 || t.IsInternal {
			continue
		}
		name := *t.Topic
		if s.topicRe != nil && !s.topicRe.MatchString(name) {
			continue
		}
		for _, pt := range t.Partitions {
			tp := topicPartition{name, pt.Partition}
			seen[tp] = true
			off := kgo.NewOffset().AtStart()
			if ps := s.parts[tp]; ps != nil {
				if !ps.pending {
					continue
				}
				// Restored from a checkpoint: resume where it left off.
				if ps.resume >= 0 {
					off = kgo.NewOffset().At(ps.resume)
				}
				if ps.detached {
					s.e.AttachPartition(ps.p)
					ps.detached = false
				}
				ps.pending = false
				resumed = append(resumed, ps)
			} else {
				ps := s.newPartitionLocked(tp, s.e.NewPartition())
				added = append(added, ps)
				if first && s.cfg.StartLatest {
					off = kgo.NewOffset().AtEnd()
				}
			}
			if add[name] == nil {
				add[name] = map[int32]kgo.Offset{}
			}
			add[name][pt.Partition] = off
		}
	}
	var vanished []*PartitionState
	if first {
		for _, ps := range s.order {
			if ps.pending && !seen[topicPartition{ps.Topic, ps.Partition}] {
				ps.detached = true
				s.e.RemovePartition(ps.p)
				vanished = append(vanished, ps)
			}
		}
	}
	s.mu.Unlock()
	for _, ps := range vanished {
		s.log.Warn("a partition of the checkpoint is not on the cluster; its offset is kept in case it comes back",
			"topic", ps.Topic, "partition", ps.Partition, "offset", ps.resume)
	}
	if len(resumed) > 0 {
		s.log.Info("resuming partitions from the checkpoint", "partitions", len(resumed))
	}
	if first && s.cfg.StartLatest && len(added) > 0 {
		s.resolveEnds(ctx, added, add)
	}
	if len(add) > 0 {
		s.cfg.Client.AddConsumePartitions(add)
	}
	if len(added) > 0 {
		topics := map[string]int{}
		for _, ps := range added {
			topics[ps.Topic]++
		}
		start := "earliest"
		if first && s.cfg.StartLatest {
			start = "latest"
		}
		names := slices.Sorted(maps.Keys(topics))
		if len(names) <= 10 {
			for _, t := range names {
				s.log.Info("consuming new partitions", "topic", t, "partitions", topics[t], "start", start)
			}
		} else {
			// A regex can match thousands of topics (MapR's layout):
			// one line, not one per topic.
			s.log.Info("consuming new partitions", "topics", len(names), "partitions", len(added),
				"first_topics", strings.Join(names[:5], ","), "start", start)
		}
	}
	if first && len(s.cfg.Topics) > 0 {
		for _, t := range s.cfg.Topics {
			if !slices.ContainsFunc(resp.Topics, func(rt kmsg.MetadataResponseTopic) bool {
				return rt.Topic != nil && *rt.Topic == t && rt.ErrorCode == 0
			}) {
				s.log.Warn("input topic does not exist yet; it will be read once created", "topic", t)
			}
		}
	}
	return nil
}

// resolveEnds turns the "latest" start of the partitions found at startup
// into their end offsets now, recorded as their next offsets: a checkpoint
// taken before their first record then resumes there after a restart,
// not at the earliest offset (which would read what this service skipped)
// nor at the end of then (which would skip what arrived in between). If
// the brokers do not answer, the partitions start at the end as the
// client finds it, and a checkpoint before their first record resumes
// them at the earliest offset.
func (s *Source) resolveEnds(ctx context.Context, parts []*PartitionState, add map[string]map[int32]kgo.Offset) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	byTopic := map[string]int{}
	for _, ps := range parts {
		i, ok := byTopic[ps.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[ps.Topic] = i
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = ps.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = ps.Partition
		rp.Timestamp = -1 // latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shards := s.cfg.Client.RequestSharded(rctx, req)
	ends := map[topicPartition]int64{}
	for _, sh := range shards {
		resp, ok := sh.Resp.(*kmsg.ListOffsetsResponse)
		if sh.Err != nil || !ok {
			continue
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 && p.Offset >= 0 {
					ends[topicPartition{t.Topic, p.Partition}] = p.Offset
				}
			}
		}
	}
	for _, ps := range parts {
		if end, ok := ends[topicPartition{ps.Topic, ps.Partition}]; ok {
			add[ps.Topic][ps.Partition] = kgo.NewOffset().At(end)
			ps.next.Store(end)
		}
	}
}

// newPartitionLocked registers a partition (p, registered with the engine)
// and gives it to the parser with the fewest partitions.
func (s *Source) newPartitionLocked(tp topicPartition, p *Partition) *PartitionState {
	best := 0
	for i, p := range s.parsers {
		if p.n < s.parsers[best].n {
			best = i
		}
	}
	s.parsers[best].n++
	ps := &PartitionState{Topic: tp.topic, Partition: tp.id, p: p, parser: best}
	ps.next.Store(-1)
	ps.hwm.Store(-1)
	ps.watermark.Store(math.MinInt64)
	s.parts[tp] = ps
	s.order = append(s.order, ps)
	return ps
}

// onMalformed logs a bad line of the record being parsed by p, through the
// throttle.
func (s *Source) onMalformed(p *parser) func(*fastparse.ParseError) {
	return func(e *fastparse.ParseError) {
		ok, suppressed := s.malformed.Allow(time.Now())
		if !ok {
			return
		}
		var topic string
		var partition int32
		var offset int64
		// The parser goroutine calls this while feeding p.cur.
		if ps := p.cur; ps != nil {
			topic, partition, offset = ps.Topic, ps.Partition, ps.cur
		}
		s.log.Warn("malformed line skipped", "topic", topic, "partition", partition, "offset", offset,
			"line", e.Line, "col", e.Col, "byte", e.Offset, "reason", e.Reason.String(), "error", e.Error(),
			"suppressed_since_last", suppressed)
	}
}

// Partitions returns a snapshot of every assigned partition.
func (s *Source) Partitions() []PartitionStats {
	s.mu.Lock()
	parts := slices.Clone(s.order)
	s.mu.Unlock()
	out := make([]PartitionStats, 0, len(parts))
	for _, ps := range parts {
		st := PartitionStats{Topic: ps.Topic, Partition: ps.Partition, Offset: ps.next.Load(),
			Watermark: ps.watermark.Load(), Records: ps.records.Load(), Lag: -1,
			IDs: ps.idCount.Load(), IDsRefused: ps.idRefused.Load(), Paused: ps.paused.Load()}
		if hwm := ps.hwm.Load(); hwm >= 0 && st.Offset >= 0 {
			st.Lag = max(0, hwm-st.Offset)
		}
		out = append(out, st)
	}
	return out
}

// Unapplied returns the number of records fetched but not applied yet
// (handed to the parsers, or held back while their partition is paused).
func (s *Source) Unapplied() int64 { return s.unapplied.Load() + s.heldRecords.Load() }

// MalformedSuppressed returns and resets the count of malformed-line log
// messages the throttle held back.
func (s *Source) MalformedSuppressed() uint64 { return s.malformed.Suppressed() }

// ErrSnapshotStopped is returned by Snapshot when ctx ends before the
// parsers have applied what was fetched.
var ErrSnapshotStopped = errors.New("snapshot: parsers did not drain in time")

// Snapshot takes a consistent cut: it stops handing fetched records to the
// parsers, waits until they have applied everything handed to them, copies
// the engine's state with every partition's next offset, and lets
// ingestion go on. Snapshot.Pause is how long ingestion waited. It also
// works after Run has returned (the final checkpoint of a shutdown). atCut
// is passed to Engine.Snapshot.
func (s *Source) Snapshot(ctx context.Context, atCut func()) (*Snapshot, error) {
	t0 := time.Now()
	s.dispatch.Lock()
	defer s.dispatch.Unlock()
	if !s.stopped {
		done := make(chan struct{}, len(s.parsers))
		for _, p := range s.parsers {
			select {
			case p.in <- work{barrier: done}:
			case <-ctx.Done():
				return nil, ErrSnapshotStopped
			}
		}
		for range s.parsers {
			select {
			case <-done:
			case <-ctx.Done():
				return nil, ErrSnapshotStopped
			}
		}
	}
	s.mu.Lock()
	parts := slices.Clone(s.order)
	s.mu.Unlock()
	eps := make([]*Partition, len(parts))
	for i, ps := range parts {
		eps[i] = ps.p
	}
	snap := s.e.Snapshot(eps, atCut)
	for i, ps := range parts {
		p := &snap.Partitions[i]
		p.Topic, p.Partition, p.Next = ps.Topic, ps.Partition, ps.next.Load()
		if ps.ids != nil { // the parsers wait for dispatch, held above
			var n int
			p.IDs, n = ps.ids.AppendIndex(nil)
			p.IDCount = uint64(n)
		}
	}
	snap.Pause = time.Since(t0)
	return snap, nil
}
