package fastparse

import "bytes"

// onePointLines is what the decoders of one-point-per-line formats
// (OpenTSDB put, carbon) share: walking the buffer line by line, the
// decoded point, its sorted tags and the reused ParseError. Each decoder
// embeds it and adds its own decodeLine.
type onePointLines struct {
	buf      []byte
	pos      int // start of the next line
	start    int // start of the current line
	line     int // 1-based number of the current line
	nextLine int
	failed   bool
	err      ParseError
	metric   []byte
	tags     []Tag
	fields   [1]Field
	time     int64
}

func (d *onePointLines) reset(buf []byte) {
	d.buf, d.pos, d.start, d.line, d.nextLine = buf, 0, 0, 0, 1
	d.clear()
}

func (d *onePointLines) clear() {
	d.failed = false
	d.metric = nil
	d.tags = d.tags[:0]
	d.time = 0
}

// next moves to the next line and returns it without its '\n'; false at
// the end of the buffer.
func (d *onePointLines) next() ([]byte, bool) {
	if d.pos >= len(d.buf) {
		return nil, false
	}
	d.clear()
	d.start, d.line = d.pos, d.nextLine
	end := len(d.buf)
	if i := bytes.IndexByte(d.buf[d.pos:], '\n'); i >= 0 {
		end = d.pos + i
		d.pos = end + 1
	} else {
		d.pos = end
	}
	d.nextLine++
	return d.buf[d.start:end], true
}

// set records the decoded point.
func (d *onePointLines) set(metric []byte, t int64, v float64) {
	d.metric = metric
	d.time = t
	d.fields[0] = Field{Kind: FieldFloat, Float: v}
}

// Err returns the current line's error, or nil. The ParseError is reused:
// see the package doc.
func (d *onePointLines) Err() *ParseError {
	if d.failed {
		return &d.err
	}
	return nil
}

// LineOffset returns the byte offset of the current line in the buffer.
func (d *onePointLines) LineOffset() int { return d.start }

// Measurement returns the metric name.
func (d *onePointLines) Measurement() []byte { return d.metric }

// Tags returns the tags, sorted by key.
func (d *onePointLines) Tags() []Tag { return d.tags }

// Fields returns the one value of the line.
func (d *onePointLines) Fields() []Field {
	if d.failed {
		return nil
	}
	return d.fields[:]
}

// Time returns the point's time in Unix nanoseconds.
func (d *onePointLines) Time() int64 { return d.time }

func (d *onePointLines) fail(off int, reason Reason, msg string, subject []byte) {
	d.failed = true
	d.metric = nil
	d.tags = d.tags[:0]
	e := &d.err
	e.Offset = off
	e.Line = d.line
	e.Col = off - d.start + 1
	e.Reason = reason
	e.Msg = msg
	e.hasQuote = subject != nil
	e.quoteTrunc = len(subject) > maxQuote
	e.quoteLen = uint8(copy(e.quote[:], subject))
	e.found = foundNone
}

// insertTag inserts a tag in key order. For a key already there it
// inserts nothing and returns false, and same says whether the value is
// the same too (OpenTSDB accepts that, carbon does not).
func (d *onePointLines) insertTag(key, value []byte) (inserted, same bool) {
	i := len(d.tags)
	for i > 0 {
		c := compareKeys(d.tags[i-1].Key, key)
		if c == 0 {
			return false, bytes.Equal(d.tags[i-1].Value, value)
		}
		if c < 0 {
			break
		}
		i--
	}
	if i == len(d.tags) { // in order already: what most senders write
		d.tags = append(d.tags, Tag{Key: key, Value: value})
		return true, false
	}
	d.tags = append(d.tags, Tag{})
	copy(d.tags[i+1:], d.tags[i:])
	d.tags[i] = Tag{Key: key, Value: value}
	return true, false
}
