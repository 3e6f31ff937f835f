package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/window"
)

// Config configures an Engine. Zero values take the documented defaults.
type Config struct {
	Window window.Config
	// Shards is the number of series shards, one goroutine each.
	// Default: GOMAXPROCS.
	Shards int
	// RouteByTags sends series to shards by their tag set
	// (shard.RouteHashTags) instead of by their whole key
	// (shard.RouteHash): a line is routed once, not per point, but the
	// spread is only as even as the tag sets are many. Restores place
	// series by the setting of the engine restoring, so it may change
	// between runs.
	RouteByTags bool
	// MetricSeparator joins measurement and field into the metric name.
	// Default "_" (as Telegraf's OpenTSDB output).
	MetricSeparator string
	// MaxFuture rejects points this far ahead of Now. Default 1h.
	MaxFuture time.Duration
	// Precision of input timestamps. Default nanoseconds.
	Precision fastparse.Precision
	// NewDecoder makes the decoder of one stream (one goroutine). Default:
	// line protocol in Precision.
	NewDecoder func() fastparse.Decoder
	// DefaultTime, if non-zero, is the time of lines without a timestamp;
	// otherwise they get their Kafka record's timestamp where
	// DefaultTimeRecord is set and the record has one, else Now at the
	// time they are read. The record's time is what a replay needs: a
	// line stamped with the wall clock while a backlog is read moves its
	// partition's watermark to now, and every older point after it is
	// dropped as late.
	DefaultTime       time.Time
	DefaultTimeRecord bool
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
	// Encoder formats rollups for New; Separator is written after each one
	// (e.g. "\n" to put opentsdb objects one per line; jsonl ends lines
	// itself). NewWithOutput takes an Output that has its own encoder.
	Encoder   emit.Encoder
	Separator []byte
	// IdleTimeout: a stream that has delivered nothing for this long stops
	// holding the global watermark back; when every stream is idle, the
	// wall clock (Now - lateness) advances it so the last windows of a
	// quiet input close. 0 disables (offline input never idles).
	IdleTimeout time.Duration
	// MaxSeries bounds the live series (0: no bound): once a shard holds
	// its share (MaxSeries/Shards, rounded up; series spread evenly by
	// hash, or by tag set with RouteByTags, which may fill one shard's
	// share early), points of series it does not know yet are counted as
	// SeriesLimit and dropped, while known series keep working. Expired
	// series free their place.
	MaxSeries int
	// BatchPoints is the number of points per batch sent to a shard.
	// Default 8192/Shards within 256..4096 (4096 up to 2 shards): every
	// stream holds up to batchesInFlight batches per shard at about 50
	// bytes a point (line protocol, whose fields share their line's key
	// prefix) to 90 (a value a line), so batch memory grows with streams
	// x shards; with a parser per core and a shard per core, a fixed 4096
	// would hold 1.5 GB of batches on 32 cores, this 94 MB.
	BatchPoints int
	// MaxLineBytes bounds how much of an unterminated line is carried
	// between chunks, and the size of a Kafka record. Default 16 MiB.
	MaxLineBytes int
	// MaxFieldsPerLine: a line with more fields is skipped and counted
	// (fastparse.ReasonTooManyFields), so that one line cannot create
	// unbounded series. Default 1000.
	MaxFieldsPerLine int
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if err := c.Window.Validate(); err != nil {
		return err
	}
	if c.Shards == 0 {
		c.Shards = runtime.GOMAXPROCS(0)
	}
	if c.Shards < 1 || c.Shards > 1024 {
		return fmt.Errorf("shards %d out of range 1..1024", c.Shards)
	}
	if c.MetricSeparator == "" {
		c.MetricSeparator = "_"
	}
	for i := 0; i < len(c.MetricSeparator); i++ {
		if b := c.MetricSeparator[i]; b < 0x20 || b == 0x7f {
			return fmt.Errorf("metric separator %q contains a control character", c.MetricSeparator)
		}
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = time.Hour
	}
	if c.MaxFuture < 0 {
		return fmt.Errorf("max future %s is negative", c.MaxFuture)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxSeries < 0 {
		return fmt.Errorf("max series %d is negative", c.MaxSeries)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("idle timeout %s is negative", c.IdleTimeout)
	}
	if c.BatchPoints == 0 {
		c.BatchPoints = min(max(8192/c.Shards, 256), 4096)
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = 16 << 20
	}
	if c.MaxFieldsPerLine == 0 {
		c.MaxFieldsPerLine = 1000
	}
	if c.MaxFieldsPerLine < 0 {
		return fmt.Errorf("max fields per line %d is negative", c.MaxFieldsPerLine)
	}
	if c.NewDecoder == nil {
		prec := c.Precision
		c.NewDecoder = func() fastparse.Decoder { return &fastparse.InfluxLines{Precision: prec} }
	}
	return nil
}

// Engine aggregates points from any number of streams.
type Engine struct {
	cfg    Config
	shards []*shardWorker
	wg     sync.WaitGroup

	syncMu   sync.Mutex
	syncDone chan struct{}

	// mu orders watermark advances; publish holds it while sending to
	// the shards, so it can wait as long as a shard blocked on its output.
	// Readers for /metrics therefore never take it: they read wmRead and
	// the streams list under regMu.
	mu         sync.Mutex
	partitions []*Partition
	watermark  int64 // global: min of partition watermarks
	closed     bool
	noIdle     IdleSuspension // SuspendIdle: the reasons on

	wmRead  atomic.Int64     // copy of watermark
	spare   []*shardSnapshot // buffers of the last released snapshot (under mu)
	regMu   sync.Mutex
	streams []*Stream
}

// New starts an engine whose shards write rollups encoded with
// cfg.Encoder to out. Writes to out are serialized; each carries whole
// rollups.
func New(cfg Config, out io.Writer) (*Engine, error) {
	if cfg.Encoder == nil {
		return nil, errors.New("no output encoder configured")
	}
	return NewWithOutput(cfg, WriterOutput(out, cfg.Encoder, cfg.Separator))
}

// NewWithOutput starts an engine whose shards send rollups to out.
func NewWithOutput(cfg Config, out Output) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, watermark: math.MinInt64, syncDone: make(chan struct{}, cfg.Shards)}
	e.wmRead.Store(math.MinInt64)
	for i := 0; i < cfg.Shards; i++ {
		w := newShardWorker(&e.cfg, out.ShardSink())
		e.shards = append(e.shards, w)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			w.run()
		}()
	}
	return e, nil
}

// Config returns the validated configuration.
func (e *Engine) Config() *Config { return &e.cfg }

// publish recomputes the global watermark at wall time now (Unix ns) and
// advances the shards when it moves. Holding mu while sending keeps
// advances in order.
func (e *Engine) publish(now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	wm := int64(math.MaxInt64)
	active := 0
	newest := int64(math.MinInt64) // highest watermark of an idle stream
	idle := int64(e.cfg.IdleTimeout)
	if e.noIdle != 0 {
		idle = 0
	}
	for _, p := range e.partitions {
		if idle > 0 && now-p.lastActive >= idle && !p.behind && !p.held {
			newest = max(newest, p.published)
			continue
		}
		active++
		wm = min(wm, p.published)
	}
	if active == 0 {
		if len(e.partitions) == 0 {
			return
		}
		// Every stream is idle: let the wall clock close windows, as
		// a stream would whose newest point is now.
		wm = max(newest, now-int64(e.cfg.Window.Lateness))
	}
	if e.closed || wm <= e.watermark {
		return
	}
	e.watermark = wm
	e.wmRead.Store(wm)
	for _, w := range e.shards {
		w.in <- message{advance: wm}
	}
}

// SuspendIdle, while on, treats every partition as active: when the
// brokers cannot be reached, silence says nothing about a partition, and
// the wall clock must not close windows over records not yet read. Each
// reason (a bit: the metadata requests failing, the fetches going
// unanswered) is turned on and off on its own; idleness resumes once none
// is on.
//
// Resuming starts every partition's idle period afresh, so that what
// producers buffered during the outage can arrive first.
func (e *Engine) SuspendIdle(reason IdleSuspension, on bool) {
	now := e.cfg.Now().UnixNano()
	e.mu.Lock()
	defer e.mu.Unlock()
	was := e.noIdle
	if on {
		e.noIdle |= reason
	} else {
		e.noIdle &^= reason
	}
	if was != 0 && e.noIdle == 0 {
		for _, p := range e.partitions {
			p.lastActive = max(p.lastActive, now)
		}
	}
}

// HoldActive marks p as held back (its fetching paused while it runs
// ahead, see skew.go): it has records to deliver, so it never counts as
// idle meanwhile.
func (e *Engine) HoldActive(p *Partition, on bool) {
	e.mu.Lock()
	p.held = on
	e.mu.Unlock()
}

// IdleSuspended returns the reasons idleness is suspended for now (0:
// none; SuspendMetadata or SuspendFetch: the brokers do not answer).
func (e *Engine) IdleSuspended() IdleSuspension {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.noIdle
}

// IdleSuspension is a reason to suspend idleness (see SuspendIdle).
type IdleSuspension uint8

// The reasons idleness is suspended.
const (
	SuspendMetadata IdleSuspension = 1 << iota // metadata requests fail
	SuspendFetch                               // fetch requests go unanswered
)

// Tick re-evaluates which streams are idle and advances the watermark if
// that lets it move. Call it periodically (a fraction of IdleTimeout)
// when IdleTimeout is set.
func (e *Engine) Tick() { e.publish(e.cfg.Now().UnixNano()) }

// Watermark returns the global watermark (Unix ns; math.MinInt64 before any
// stream delivered a point).
func (e *Engine) Watermark() int64 { return e.wmRead.Load() }

// Sync returns once every shard has applied everything sent to it before
// the call (batches and watermark advances). Streams must not be feeding.
func (e *Engine) Sync() {
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	for _, w := range e.shards {
		w.in <- message{barrier: e.syncDone}
	}
	for range e.shards {
		<-e.syncDone
	}
}

// Close flushes every open window, waits for the shards to write their
// output and stops them. It returns the first write error.
func (e *Engine) Close() error { return e.stop(true) }

// Stop waits for the shards to apply what was sent to them and to hand
// their output on, and stops them without closing the windows still open:
// for a service that shuts down and will resume from a checkpoint, a
// window's rollup must come out whole, once, after the restart.
func (e *Engine) Stop() error { return e.stop(false) }

func (e *Engine) stop(flushWindows bool) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	done := make(chan struct{}, len(e.shards))
	for _, w := range e.shards {
		if flushWindows {
			w.in <- message{flush: done}
		} else {
			w.in <- message{barrier: done}
		}
	}
	for range e.shards {
		<-done
	}
	for _, w := range e.shards {
		close(w.in)
	}
	e.wg.Wait()
	var err error
	for _, w := range e.shards {
		if w.err != nil && err == nil {
			err = w.err
		}
	}
	return err
}

// Counters adds up the counters of every stream and shard. It is safe at
// any time: streams publish theirs at every Flush, shards after every
// batch, so a running engine's counters lag by at most that much.
func (e *Engine) Counters() Counters {
	var c Counters
	e.CountersInto(&c)
	return c
}

// CountersInto is Counters without the 4 KiB copy on return; it
// overwrites *c.
func (e *Engine) CountersInto(c *Counters) {
	*c = Counters{}
	e.regMu.Lock()
	streams := e.streams
	e.regMu.Unlock()
	for _, s := range streams {
		s.mu.Lock()
		c.add(&s.pub)
		s.mu.Unlock()
	}
	for _, w := range e.shards {
		w.mu.Lock()
		c.add(&w.pub)
		w.mu.Unlock()
	}
}

// ShardSeries appends the live series of each shard to dst, as of each
// shard's last batch: how evenly the routing spreads them (each shard
// holds at most its share of MaxSeries).
func (e *Engine) ShardSeries(dst []uint64) []uint64 {
	for _, w := range e.shards {
		w.mu.Lock()
		dst = append(dst, w.pub.Series)
		w.mu.Unlock()
	}
	return dst
}

// MemoryBytes estimates the state held by all shards (tables + windows).
// Call it after Close or while no stream is feeding.
func (e *Engine) MemoryBytes() (table, windows, keys int) {
	for _, w := range e.shards {
		table += w.table.MemoryBytes()
		windows += w.store.MemoryBytes()
		keys += w.table.KeyBytes()
	}
	return
}

// Ping sends a barrier through every shard and waits for the answers: it
// tells a stuck shard from a working one (the watchdog's question).
func (e *Engine) Ping(ctx context.Context) error {
	done := make(chan struct{}, len(e.shards))
	for _, w := range e.shards {
		select {
		case w.in <- message{barrier: done}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for range e.shards {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// idIndexMinTTL is the shortest time a metrictank id is remembered: the
// reference publisher describes a series again only every hour (its
// v2-clear-interval), so an index that forgot sooner would drop points.
const idIndexMinTTL = 2 * time.Hour

// newIDIndex makes the metrictank id index of one input partition: at
// most MaxSeries ids, forgotten after the series TTL (never before
// idIndexMinTTL; never when the TTL is negative).
func (e *Engine) newIDIndex() *fastparse.MKeyIndex {
	ttl := e.cfg.Window.SeriesTTL
	if ttl > 0 {
		ttl = max(ttl, idIndexMinTTL)
	}
	return fastparse.NewMKeyIndex(e.cfg.MaxSeries, int64(ttl/time.Second))
}
