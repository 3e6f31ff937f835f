package pipeline

import (
	"bytes"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/shard"
	"github.com/rollupd/rollup/window"
)

// batchesInFlight bounds the batches a stream may have queued per shard;
// when a shard falls behind, its streams wait instead of buffering more.
const batchesInFlight = 4

// Stream decodes input and routes its points to the shards. One goroutine
// uses a Stream. Lateness and watermarks belong to a Partition: a Stream
// made by NewStream has one of its own; a Kafka parser goroutine uses one
// Stream (and its batches) for the many partitions it reads, switching
// between them with Use.
type Stream struct {
	e    *Engine
	dec  fastparse.Decoder
	keys shard.KeyBuilder
	cur  *Partition
	// recordTime is the timestamp of the record being fed (FeedRecord).
	recordTime int64
	batches    []*shard.Batch
	free       []chan *shard.Batch
	sep        []byte
	c          Counters
	// lines numbers the routed lines (from 1), for Batch.AddLine.
	lines uint64

	// pub is the copy of c other goroutines read (under mu), refreshed
	// at every Flush.
	mu  sync.Mutex
	pub Counters

	// Position of the start of the next Feed buffer in the whole stream,
	// for error messages. A line carried over from the previous Feed may
	// start mid physical line (after leading spaces, or after a CR where
	// the decoder resumed): colBase is what its columns lack.
	baseLine   int
	baseOffset int64
	colBase    int

	// OnMalformed, if set, is called for every malformed line with the
	// error positioned in the whole stream (not allocation-free; bad input
	// is not the hot path).
	OnMalformed func(*fastparse.ParseError)
}

// Partition is the watermark state of one input stream (a Kafka
// partition, or the offline input). Until it has delivered a valid point
// and flushed (or been idle for Config.IdleTimeout), it holds the global
// watermark back.
type Partition struct {
	wm window.Stream // used by the goroutine feeding it

	// published is the watermark last published, lastActive the wall
	// time (Unix ns) the partition last delivered, behind whether its last
	// delivery left records unread (then it is busy, not idle, whatever
	// the clock says); all under e.mu.
	published  int64
	lastActive int64
	behind     bool
	held       bool // paused while running ahead (Engine.HoldActive)
}

// NewPartition registers a new input partition with the engine.
func (e *Engine) NewPartition() *Partition {
	p := &Partition{
		wm:         window.NewStream(&e.cfg.Window),
		published:  math.MinInt64,
		lastActive: e.cfg.Now().UnixNano(),
	}
	e.mu.Lock()
	e.partitions = append(e.partitions, p)
	e.mu.Unlock()
	return p
}

// RestorePartition registers an input partition in the state a checkpoint
// left it (its watermark and what it last published).
func (e *Engine) RestorePartition(ps PartitionSnapshot) *Partition {
	p := e.NewPartition()
	e.mu.Lock()
	p.wm = window.RestoreStream(&e.cfg.Window, ps.Newest, ps.Seen)
	p.published = ps.Published
	e.mu.Unlock()
	return p
}

// RemovePartition stops p from holding the watermark back (its topic or
// partition vanished). Nothing may feed p afterwards.
func (e *Engine) RemovePartition(p *Partition) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, q := range e.partitions {
		if q == p {
			e.partitions = append(e.partitions[:i], e.partitions[i+1:]...)
			return
		}
	}
}

// AttachPartition registers p again after RemovePartition.
func (e *Engine) AttachPartition(p *Partition) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Contains(e.partitions, p) {
		p.lastActive = e.cfg.Now().UnixNano()
		e.partitions = append(e.partitions, p)
	}
}

// partitionWatermark returns p's stream watermark; p must not be fed
// concurrently.
func (e *Engine) partitionWatermark(p *Partition) int64 { return p.wm.Watermark() }

// NewStream adds a stream with a partition of its own.
func (e *Engine) NewStream() *Stream {
	s := e.NewRouter()
	s.cur = e.NewPartition()
	return s
}

// NewRouter adds a stream without a partition: call Use before feeding.
func (e *Engine) NewRouter() *Stream {
	s := &Stream{
		e:        e,
		dec:      e.cfg.NewDecoder(),
		sep:      []byte(e.cfg.MetricSeparator),
		baseLine: 1,
	}
	for range e.shards {
		free := make(chan *shard.Batch, batchesInFlight)
		for range batchesInFlight - 1 {
			free <- newBatch(e.cfg.BatchPoints)
		}
		s.free = append(s.free, free)
		s.batches = append(s.batches, newBatch(e.cfg.BatchPoints))
	}
	e.regMu.Lock()
	e.streams = append(e.streams, s)
	e.regMu.Unlock()
	return s
}

// Use makes p the partition that what is fed next belongs to. It flushes
// what was fed for the previous one first, so every point reaches its shard
// before its own partition's watermark moves.
func (s *Stream) Use(p *Partition) {
	if s.cur != nil && s.cur != p {
		s.Flush()
	}
	s.cur = p
}

// SetDecoder makes d decode what is fed next (a parser reading topics of
// different formats switches with its partition).
func (s *Stream) SetDecoder(d fastparse.Decoder) { s.dec = d }

func newBatch(n int) *shard.Batch {
	return &shard.Batch{Points: make([]shard.Point, 0, n)}
}

// Feed decodes the lines in buf and routes their points. When final is
// false, buf is one chunk of a longer input and should end just after a
// newline: a malformed last line may be a line cut short by the chunk (a
// newline inside a quoted string looks like a line end), so it is not
// counted but left unconsumed; Feed returns how many bytes it consumed and
// the caller passes the rest again with more data. When final is true every
// byte is consumed.
func (s *Stream) Feed(buf []byte, final bool) int {
	return s.feed(buf, final, s.e.cfg.Now().UnixNano(), true)
}

// FeedRecord decodes buf as one whole input of its own (a Kafka record
// value: one line, as Telegraf frames them, or many), with now as the wall
// time (Unix ns) for the future bound and recordTime as the record's
// timestamp (Unix ns; 0: none) for lines without one (see
// Config.DefaultTimeRecord). Error positions passed to OnMalformed are
// relative to buf.
func (s *Stream) FeedRecord(buf []byte, now, recordTime int64) {
	s.baseLine, s.baseOffset, s.colBase = 1, 0, 0
	if len(buf) > s.e.cfg.MaxLineBytes {
		pe := fastparse.NewParseError(1, 1, 0, fastparse.ReasonRecordTooLarge, "record larger than the 16 MiB line limit: skipped whole")
		s.malformed(&pe)
		return
	}
	s.recordTime = recordTime
	s.feed(buf, true, now, false)
	s.recordTime = 0
}

// Active records that the stream is delivering at wall time now (Unix ns),
// so that it holds the watermark back again if it had been idle. Call it
// before feeding what arrived.
func (s *Stream) Active(now int64) {
	s.e.mu.Lock()
	s.cur.lastActive = now
	s.e.mu.Unlock()
}

// Behind records whether the current partition still had records to read
// after what was just fed (the broker's high watermark was ahead). A
// partition that is behind never counts as idle: if its broker becomes
// unreachable, the records it has not read yet must not find their
// windows closed by the wall clock.
func (s *Stream) Behind(behind bool) {
	s.e.mu.Lock()
	s.cur.behind = behind
	s.e.mu.Unlock()
}

// Watermark returns the current partition's watermark (Unix ns;
// math.MinInt64 before its first valid point).
func (s *Stream) Watermark() int64 { return s.cur.wm.Watermark() }

// feed decodes buf; track carries line and byte positions on to the next
// call (a record is positioned on its own, so it skips that pass over buf).
func (s *Stream) feed(buf []byte, final bool, now int64, track bool) int {
	cfg := &s.e.cfg
	def := now
	switch {
	case !cfg.DefaultTime.IsZero():
		def = cfg.DefaultTime.UnixNano()
	case cfg.DefaultTimeRecord && s.recordTime > 0:
		def = s.recordTime
	}
	maxTime := int64(math.MaxInt64)
	if now < math.MaxInt64-int64(cfg.MaxFuture) {
		maxTime = now + int64(cfg.MaxFuture)
	}
	d := s.dec
	d.Reset(buf, def)
	// A malformed line is judged only once the next line shows it was not
	// the last one.
	var held fastparse.ParseError
	hasHeld, heldStart, heldLine := false, 0, 0
	lc, counts := d.(lineCounter)
	for d.Next() {
		if hasHeld {
			s.malformed(&held)
			hasHeld = false
		}
		if err := d.Err(); err != nil {
			held, hasHeld, heldStart = *err, true, d.LineOffset()
			if counts {
				heldLine = lc.LineNumber()
			}
			continue
		}
		if len(d.Fields()) > cfg.MaxFieldsPerLine {
			off := d.LineOffset()
			pe := fastparse.NewParseError(1+bytes.Count(buf[:off], []byte("\n")), 1, off, fastparse.ReasonTooManyFields,
				"line has more fields than --max-fields-per-line: skipped")
			s.malformed(&pe)
			continue
		}
		s.c.Lines++
		s.line(d, maxTime)
	}
	consumed := len(buf)
	colBase := 0
	if hasHeld {
		if final {
			s.malformed(&held)
		} else {
			consumed = heldStart
			colBase = heldStart - (bytes.LastIndexByte(buf[:heldStart], '\n') + 1)
			if bytes.IndexByte(buf[:heldStart], '\n') < 0 {
				colBase += s.colBase // still the same physical line
			}
		}
	}
	if track {
		s.colBase = colBase
		s.baseLine += newlines(buf, consumed, lc, counts, heldLine)
		s.baseOffset += int64(consumed)
	}
	return consumed
}

// lineCounter is a decoder that counts the lines it passes (the line
// protocol decoder does, for its errors' positions).
type lineCounter interface {
	// LineNumber is the current line's 1-based number in the buffer.
	LineNumber() int
	// Lines is how many lines were passed, a last one without a
	// newline included.
	Lines() int
}

// newlines returns the newlines in buf[:consumed] after the decoder has
// gone through buf: consumed is len(buf), or the start of the line
// numbered heldLine. A decoder that counts lines saves another pass over
// the input (3 % of aggregate's CPU).
func newlines(buf []byte, consumed int, lc lineCounter, counts bool, heldLine int) int {
	switch {
	case !counts:
		return bytes.Count(buf[:consumed], []byte{'\n'})
	case consumed < len(buf):
		return heldLine - 1
	case len(buf) > 0 && buf[len(buf)-1] != '\n':
		return lc.Lines() - 1
	default:
		return lc.Lines()
	}
}

func (s *Stream) malformed(e *fastparse.ParseError) {
	s.c.Lines++
	s.c.Malformed[e.Reason]++
	if s.OnMalformed != nil {
		pe := *e
		if pe.Line == 1 {
			pe.Col += s.colBase
		}
		pe.Line += s.baseLine - 1
		pe.Offset += int(s.baseOffset)
		s.OnMalformed(&pe)
	}
}

// Per-line verdicts: every point of a line has the line's timestamp, so
// the future and lateness tests run once, at the first valid point.
const (
	lineUndecided = iota
	lineRouted
	lineFuture
	lineLate
)

// line routes the points of one valid line.
func (s *Stream) line(d fastparse.Decoder, maxTime int64) {
	t := d.Time()
	fields := d.Fields()
	verdict := lineUndecided
	// With RouteByTags, every point of a line with tags goes to the
	// shard of its tag set, computed at the first.
	shards, byTags, lineShard := len(s.batches), s.e.cfg.RouteByTags, -1
	for i := range fields {
		f := &fields[i]
		v, ok := f.Number()
		if !ok {
			s.c.StringField++
			continue
		}
		s.c.Points++
		if v-v != 0 { // NaN or +-Inf: one subtraction tests both
			s.c.NonFinite++
			continue
		}
		switch verdict {
		case lineUndecided:
			if t > maxTime {
				verdict = lineFuture
				s.c.Future++
				continue
			}
			crosses := s.cur.wm.Crosses(t)
			if !s.cur.wm.Accept(t) {
				verdict = lineLate
				s.c.Late++
				continue
			}
			if crosses {
				// Close the windows this line's time lets close
				// before its points start filling the next one.
				s.Flush()
			}
			s.lines++ // a new key prefix for the batches
			s.keys.Begin()
			for _, tag := range d.Tags() {
				s.keys.AddTag(tag.Key, tag.Value)
			}
			if len(f.Key) > 0 {
				// Line protocol: each field is a series named
				// measurement + separator + field key.
				s.keys.SetMetricPrefix(d.Measurement(), s.sep)
			} else {
				// One value per line: the measurement is the
				// metric name.
				s.keys.SetMetricPrefix(d.Measurement())
			}
			verdict = lineRouted
		case lineFuture:
			s.c.Future++
			continue
		case lineLate:
			s.c.Late++
			continue
		}
		si := 0
		switch {
		case shards == 1:
		case !byTags:
			si = shard.ShardOf(s.keys.Route(f.Key), shards)
		case lineShard >= 0:
			si = lineShard
		default:
			si = shard.ShardOf(s.keys.RouteTags(f.Key), shards)
			if s.keys.HasTags() {
				lineShard = si
			}
		}
		b := s.batches[si]
		b.AddLine(s.lines, s.keys.Prefix(), f.Key, t, v)
		if b.Len() >= s.e.cfg.BatchPoints {
			s.send(si)
		}
	}
}

func (s *Stream) send(si int) {
	b := s.batches[si]
	s.e.shards[si].in <- message{batch: b, ret: s.free[si]}
	s.batches[si] = <-s.free[si]
}

// Flush sends every partly filled batch and then publishes the current
// partition's watermark, which may close windows.
func (s *Stream) Flush() {
	for i, b := range s.batches {
		if b.Len() > 0 {
			s.send(i)
		}
	}
	s.mu.Lock()
	s.pub = s.c
	s.mu.Unlock()
	p := s.cur
	if p == nil { // a router that has not fed anything yet
		return
	}
	wm := p.wm.Watermark()
	s.e.mu.Lock()
	changed := wm > p.published
	p.published = wm
	s.e.mu.Unlock()
	if changed {
		s.e.publish(s.e.cfg.Now().UnixNano())
	}
}

// readChunk is the size of reads from an io.Reader.
const readChunk = 1 << 20

// ReadBytes is ReadFrom for an input held whole in memory, such as a
// mapped file: it decodes data in place, in the chunks ReadFrom would
// read, with the same line-length limit and the same counts, and copies
// nothing. If done is not nil, it is called with n each time data[:n] is
// no longer needed (the memory of a mapped file can then be given back).
func (s *Stream) ReadBytes(data []byte, done func(n int)) {
	maxLine := s.e.cfg.MaxLineBytes
	size := min(readChunk, maxLine) // ReadFrom's buffer, which grows up to maxLine
	pos := 0
	for pos < len(data) {
		if rest := len(data) - pos; rest < size || rest == size && size < maxLine {
			s.Feed(data[pos:], true) // ReadFrom meets the end before its buffer is full
			break
		}
		end := pos + size
		consumed := 0
		if nl := bytes.LastIndexByte(data[pos:end], '\n') + 1; nl > 0 {
			consumed = s.Feed(data[pos:pos+nl], false)
			s.Flush()
		}
		switch {
		case consumed > 0:
			pos += consumed
			if done != nil {
				done(pos)
			}
		case size < maxLine:
			size = min(2*size, maxLine)
		default:
			// A full buffer and no complete line: too long, and
			// skipped up to the next newline.
			s.c.Lines++
			s.c.LineTooLong++
			pos = end
			if data[end-1] != '\n' {
				if i := bytes.IndexByte(data[end:], '\n'); i >= 0 {
					pos += i + 1
				} else {
					pos = len(data) // skipped to the end
				}
			}
		}
	}
	s.Flush()
}

// ReadFrom decodes all of r as one input (its last line may lack a newline)
// and flushes after every chunk. Several calls on one Stream continue the
// same stream (the watermark carries over) but decode each input separately,
// so an unterminated last line or quote never runs into the next input.
//
// A line longer than Config.MaxLineBytes is counted as LineTooLong and
// skipped up to the next newline.
func (s *Stream) ReadFrom(r io.Reader) (int64, error) {
	maxLine := s.e.cfg.MaxLineBytes
	buf := make([]byte, 0, min(readChunk, maxLine))
	var total int64
	skipping := false
	for {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(2*cap(buf), maxLine))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		total += int64(n)
		if err != nil && err != io.EOF {
			if !skipping {
				s.Feed(buf, true)
			}
			s.Flush()
			return total, err
		}
		final := err == io.EOF
		if skipping {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				buf = buf[:0]
				if final {
					s.Flush()
					return total, nil
				}
				continue
			}
			buf = buf[:copy(buf, buf[i+1:])]
			skipping = false
		}
		if final {
			s.Feed(buf, true)
			s.Flush()
			return total, nil
		}
		consumed := 0
		if end := bytes.LastIndexByte(buf, '\n') + 1; end > 0 {
			consumed = s.Feed(buf[:end], false)
			s.Flush()
		}
		if consumed == 0 && len(buf) >= maxLine {
			s.c.Lines++
			s.c.LineTooLong++
			skipping = buf[len(buf)-1] != '\n'
			consumed = len(buf)
		}
		buf = buf[:copy(buf, buf[consumed:])]
	}
}
