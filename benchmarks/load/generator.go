package load

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
