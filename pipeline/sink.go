package pipeline

import (
	"io"
	"sync"

	"github.com/rollupd/rollup/emit"
)

// Output is where shards send their encoded rollups: a writer (the
// aggregate command) or Kafka (emit.KafkaOutput).
type Output interface {
	// ShardSink returns a new sink for one shard goroutine. Only that
	// goroutine uses it, so sinks buffer without locks.
	ShardSink() ShardSink
}

// ShardSink encodes and buffers the rollups of one shard.
type ShardSink interface {
	// Window encodes every rollup of one closed window of one series.
	// archive indexes Config.Window.Archives; key is the series' canonical
	// key (a sink routing by series hashes it). Rollups that cannot be
	// encoded are counted in drops, indexed by emit.DropReason. It returns
	// the number of rollups written.
	Window(archive int, key []byte, w *emit.Window, drops []uint64) int
	// Flush hands everything buffered to the output. Shards call it after
	// every watermark advance, so rollups leave once their windows close.
	Flush() error
	// SeriesDeleted says the series numbered series (emit.Window.Series)
	// expired: a later series may take its number.
	SeriesDeleted(series uint32)
}

// WriterOutput writes rollups to an io.Writer with enc, each followed by
// sep. Writes are serialized and each carries whole rollups.
func WriterOutput(w io.Writer, enc emit.Encoder, sep []byte) Output {
	return &writerOutput{w: w, enc: enc, sep: sep}
}

type writerOutput struct {
	mu  sync.Mutex
	w   io.Writer
	err error
	enc emit.Encoder
	sep []byte
}

func (o *writerOutput) ShardSink() ShardSink { return &writerSink{o: o} }

func (o *writerOutput) write(p []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	_, o.err = o.w.Write(p)
	return o.err
}

// writerFlushBytes is the encoded output a shard collects before writing.
const writerFlushBytes = 256 << 10

type writerSink struct {
	o   *writerOutput
	buf []byte
	// Each shard's sink is written for every window it encodes; without
	// the pad two of them can share a cache line, which then moves
	// between the cores at every window (one profile at 2 procs put 9 %
	// of the CPU on loading from it).
	_ cacheLinePad
}

func (s *writerSink) Window(_ int, _ []byte, w *emit.Window, drops []uint64) int {
	var n int
	s.buf, n = s.o.enc.AppendWindow(s.buf, w, s.o.sep, drops)
	if len(s.buf) >= writerFlushBytes {
		s.Flush() // the error sticks in o.err and comes back from the next Flush
	}
	return n
}

func (s *writerSink) SeriesDeleted(uint32) {}

func (s *writerSink) Flush() error {
	if len(s.buf) == 0 {
		s.o.mu.Lock()
		defer s.o.mu.Unlock()
		return s.o.err
	}
	err := s.o.write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// KafkaOutput adapts an emit.KafkaOutput to Output.
func KafkaOutput(o *emit.KafkaOutput) Output { return kafkaOutput{o} }

type kafkaOutput struct{ o *emit.KafkaOutput }

func (k kafkaOutput) ShardSink() ShardSink { return k.o.ShardSink() }

// cacheLinePad follows the fields one goroutine writes often in a small
// struct of which each goroutine has its own, so that no other such
// struct starts on their cache line.
type cacheLinePad [64]byte
