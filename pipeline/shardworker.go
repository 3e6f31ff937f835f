package pipeline

import (
	"sync"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/shard"
	"github.com/rollupd/rollup/window"
)

// message is what a shard goroutine receives: a batch of points (returned on
// ret when applied), a watermark advance, a final flush of every open window
// (close), or a barrier (answered once everything before it is applied and
// its output handed on; do, if set, then runs on the shard's state, as
// checkpoints and restores need).
type message struct {
	batch   *shard.Batch
	ret     chan<- *shard.Batch
	advance int64 // when batch, flush and barrier are nil
	flush   chan<- struct{}
	barrier chan<- struct{}
	do      func(*shardWorker)
}

// shardWorker owns one shard: its table, its window store and its output.
type shardWorker struct {
	cfg   *Config
	in    chan message
	table *shard.Table
	store *window.Store
	sink  ShardSink

	maxSeries int // this shard's share of Config.MaxSeries; 0: none

	win emit.Window
	key []byte // apply's copy of a key the guess missed
	c   Counters
	err error

	// pub is a copy of c that other goroutines may read (under mu),
	// refreshed after every batch and advance: a 4 KiB copy per batch
	// of thousands of points costs less than atomics on every counter.
	mu  sync.Mutex
	pub Counters
}

func newShardWorker(cfg *Config, sink ShardSink) *shardWorker {
	w := &shardWorker{
		cfg:   cfg,
		in:    make(chan message, 64),
		table: shard.NewTable(nil),
		store: window.NewStore(&cfg.Window),
		sink:  sink,
	}
	if cfg.MaxSeries > 0 {
		w.maxSeries = (cfg.MaxSeries + cfg.Shards - 1) / cfg.Shards
	}
	return w
}

func (w *shardWorker) run() {
	for m := range w.in {
		switch {
		case m.batch != nil:
			w.apply(m.batch)
			m.batch.Reset()
			m.ret <- m.batch
		case m.barrier != nil:
			w.flushOutput()
			if m.do != nil {
				m.do(w)
			}
			w.publishCounters()
			m.barrier <- struct{}{}
		case m.flush != nil:
			w.store.Flush(w)
			w.flushOutput()
			w.publishCounters()
			m.flush <- struct{}{}
		default:
			w.store.Advance(m.advance, w, w.deleteSeries)
			w.flushOutput()
		}
		w.publishCounters()
	}
}

func (w *shardWorker) publishCounters() {
	w.c.Series = uint64(w.table.Len())
	w.c.OpenWindows = uint64(w.store.OpenWindows())
	w.mu.Lock()
	w.pub = w.c
	w.mu.Unlock()
}

// apply is the per-point hot path: find or add the series, fold the point.
func (w *shardWorker) apply(b *shard.Batch) {
	for i := range b.Points {
		p := &b.Points[i]
		idx, ok := w.table.GuessParts(b.KeyParts(p))
		if !ok {
			// The key whole, for hashing and keeping: only for
			// the points the guess misses.
			w.key = b.AppendKey(w.key[:0], p)
			key := w.key
			h := shard.Hash(key)
			if idx, ok = w.table.Lookup(h, key); !ok {
				if w.maxSeries > 0 && w.table.Len() >= w.maxSeries {
					w.c.SeriesLimit++
					continue
				}
				var err error
				if idx, err = w.table.Insert(h, key); err != nil {
					w.c.KeyTooLong++
					continue
				}
				w.store.SeriesAdded(idx)
			}
		}
		if w.store.Add(idx, p.Time, p.Value) {
			w.c.Aggregated++
		} else {
			w.c.ClosedEarly++
		}
	}
}

func (w *shardWorker) deleteSeries(idx uint32) {
	w.table.Delete(idx)
	w.sink.SeriesDeleted(idx)
}

// Emit encodes one closed window of one series, one rollup per aggregator.
// The window carries the series' key: encoders that need the metric and
// tags apart split it (Window.Split), jsonl writes straight from it.
func (w *shardWorker) Emit(idx uint32, archive int, start int64, a *window.Agg) {
	key := w.table.Key(idx)
	arch := &w.cfg.Window.Archives[archive]
	win := &w.win
	win.SetKey(key)
	win.Step, win.StepSeconds, win.Start, win.Series = arch.Name, arch.Step, start, idx
	win.Values = win.Values[:0]
	for _, g := range arch.Aggregators {
		win.Values = append(win.Values, emit.AggValue{Aggregator: g.String(), Value: a.Value(g)})
	}
	w.c.Rollups += uint64(w.sink.Window(archive, key, win, w.c.Dropped[:]))
}

func (w *shardWorker) flushOutput() {
	if err := w.sink.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}
