package fastparse

import (
	"bytes"
	"cmp"
	"slices"
	"unicode/utf8"
)

// InfluxDecoder decodes InfluxDB line protocol held in a byte slice, one
// line per call to Next, without allocating once its scratch buffers have
// grown to fit the input. The zero value is ready for Reset.
type InfluxDecoder struct {
	buf         []byte
	pos         int       // next byte to decode
	line        int       // 1-based line number of buf[pos]
	defaultTime int64     // time for lines without a timestamp, truncated to prec
	prec        Precision // unit of the timestamps in buf

	// The current line.
	start       int // offset of its first byte
	startLine   int // line number of buf[start]
	failed      bool
	measurement []byte
	tags        []Tag
	tagOff      []int // offset of each tag's key, for the duplicate tag error
	fields      []Field
	time        int64
	hasTime     bool
	// stringNewlines counts the raw LFs inside the line's quoted strings,
	// to keep the line number without scanning the line again.
	stringNewlines int

	// scratch holds the unescaped names of the current line. While the
	// line is decoded it may be reallocated, so escaped names are recorded
	// in escRefs as offsets and only turned into slices when the line is
	// complete (materialize).
	scratch []byte
	escRefs []escRef
	sortBuf []sortTag

	// badComment is the offset of the control byte that made skipBlank
	// reject a comment line, or -1.
	badComment int

	err ParseError
}

// escRef says where the unescaped form of a name lives in scratch.
type escRef struct {
	kind     escKind
	idx      int // index into tags or fields
	off, end int // scratch[off:end]
}

type escKind uint8

const (
	escMeasurement escKind = iota
	escTagKey
	escTagVal
	escFieldKey
)

// sortTag carries a tag's key offset through sorting.
type sortTag struct {
	Tag
	off int
}

// Reset starts decoding buf. defaultTime (Unix ns) is the time of lines
// without a timestamp; like v2 it is truncated (rounded down) to a
// multiple of prec. prec is the unit of the timestamps in buf; Reset
// panics if it is not one of the four Precision constants.
//
// The decoder keeps buf and returns sub-slices of it: buf must not be
// modified until decoding is finished.
func (d *InfluxDecoder) Reset(buf []byte, defaultTime int64, prec Precision) {
	if !prec.valid() {
		panic("fastparse: invalid Precision " + prec.String())
	}
	d.buf = buf
	d.pos = 0
	d.line = 1
	d.prec = prec
	d.defaultTime = prec.truncate(defaultTime)
	d.clearLine()
	d.start = 0
	d.startLine = 1
}

func (d *InfluxDecoder) clearLine() {
	d.failed = false
	d.measurement = nil
	d.tags = d.tags[:0]
	d.tagOff = d.tagOff[:0]
	d.fields = d.fields[:0]
	d.time = 0
	d.hasTime = false
	d.stringNewlines = 0
	d.scratch = d.scratch[:0]
	d.escRefs = d.escRefs[:0]
	d.badComment = -1
}

// Next decodes the next line that is not blank and not a comment and
// reports whether there was one; it returns false at the end of the
// buffer. When the line is malformed Next still returns true, Err
// describes the problem and the line yields no measurement, tags or
// fields; the following call continues with the next line.
//
// THE SLICES RETURNED BY Measurement, Tags AND Fields (AND THE SLICES
// INSIDE THEM) AND THE *ParseError RETURNED BY Err ARE VALID ONLY UNTIL
// THE NEXT CALL TO Next OR Reset.
func (d *InfluxDecoder) Next() bool {
	d.clearLine()
	if !d.skipBlank() {
		return false
	}
	d.start = d.pos
	d.startLine = d.line
	d.decodeLine()
	return true
}

// Err returns why the current line was rejected, or nil if it decoded
// fully. See ParseError for how long the result stays valid.
func (d *InfluxDecoder) Err() *ParseError {
	if d.failed {
		return &d.err
	}
	return nil
}

// Measurement returns the unescaped measurement name of the current line.
func (d *InfluxDecoder) Measurement() []byte { return d.measurement }

// Tags returns the tags of the current line, unescaped, sorted by key
// (bytewise) and without duplicate keys.
func (d *InfluxDecoder) Tags() []Tag { return d.tags }

// Fields returns the fields of the current line in line order. A field
// key that occurs twice yields two entries (as in v2); choosing one is the
// caller's business.
func (d *InfluxDecoder) Fields() []Field { return d.fields }

// Time returns the time of the current line in Unix nanoseconds: the
// timestamp scaled from the precision given to Reset, or the default time
// if the line has none.
func (d *InfluxDecoder) Time() int64 { return d.time }

// HasTime reports whether the current line carried an explicit timestamp.
func (d *InfluxDecoder) HasTime() bool { return d.hasTime }

// LineNumber returns the 1-based number of the line on which the current
// line starts. (A quoted string may make a line span several.)
func (d *InfluxDecoder) LineNumber() int { return d.startLine }

// LineOffset returns the offset in the buffer of the first byte of the
// current line. Spaces that start a line are not part of it (v2 skips
// them), except on a rejected comment line.
func (d *InfluxDecoder) LineOffset() int { return d.start }

// Lines returns how many physical lines of the buffer the decoder has
// consumed so far, counting blank lines, comment lines, rejected lines and
// every line that a quoted string spans; a last line without a newline
// counts once reached. After Next has returned false it is the number of
// lines in the buffer.
func (d *InfluxDecoder) Lines() int {
	if d.pos > 0 && d.buf[d.pos-1] != '\n' {
		return d.line
	}
	return d.line - 1
}

// skipBlank advances over blank lines and comment lines (v2's
// skipEmptyLines) and reports whether a line to decode starts at d.pos.
// A line's leading spaces are skipped too. A comment line containing a
// control byte is not skipped: d.pos is left at its start and badComment
// set, because v2 reports such a line as an error.
func (d *InfluxDecoder) skipBlank() bool {
	b := d.buf
	i := d.pos
	for {
		lineStart := i
		for i < len(b) && b[i] == ' ' {
			i++
		}
		if i == len(b) {
			d.pos = i
			return false
		}
		switch b[i] {
		case '\n':
			i++
			d.line++
			continue
		case '\r':
			if i+1 == len(b) {
				d.pos = i + 1 // v2 takes a CR at the very end as a line end
				return false
			}
			if b[i+1] == '\n' {
				i += 2
				d.line++
				continue
			}
			d.pos = i // a lone CR: decodeLine rejects it
			return true
		case '#':
			j := i + 1
			for j < len(b) && commentChars[b[j]] {
				j++
			}
			if j == len(b) {
				d.pos = j
				return false
			}
			if b[j] == '\n' {
				i = j + 1
				d.line++
				continue
			}
			if b[j] == '\r' {
				if j+1 == len(b) {
					d.pos = j + 1
					return false
				}
				if b[j+1] == '\n' {
					i = j + 2
					d.line++
					continue
				}
			}
			d.pos = lineStart
			d.badComment = j
			return true
		default:
			d.pos = i
			return true
		}
	}
}

// isSpaceOrEOL reports whether c ends a field value or a timestamp: the
// separator space or the start of a line ending.
func isSpaceOrEOL(c byte) bool { return c == ' ' || c == '\r' || c == '\n' }

// lineEnd returns the offset just past the line ending at b[i], and
// whether there is one: LF, CRLF, a CR at the very end of the input (v2
// accepts it) or the end of the input itself.
func lineEnd(b []byte, i int) (int, bool) {
	if i == len(b) {
		return i, true
	}
	switch b[i] {
	case '\n':
		return i + 1, true
	case '\r':
		if i+1 == len(b) {
			return i + 1, true
		}
		if b[i+1] == '\n' {
			return i + 2, true
		}
	}
	return i, false
}

// afterNewline returns the offset just past the first LF at or after
// b[i], or len(b). This is how v2 recovers from an error: it drops the
// rest of the line from where it detected the error, without regard for
// quotes, so a raw newline inside a quoted string that comes after the
// error ends the line.
func afterNewline(b []byte, i int) int {
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

// decodeLine decodes the line starting at d.pos and leaves d.pos at the
// start of the next one.
//
// The order of the checks and the point where decoding resumes after an
// error follow v2's Decoder exactly (Measurement, NextTag, NextFieldBytes,
// NextField, TimeBytes, Time), so that both split a buffer into the same
// lines; the error messages and positions are our own.
func (d *InfluxDecoder) decodeLine() {
	b := d.buf
	i := d.pos
	if d.badComment >= 0 {
		d.fail(d.badComment, errCommentControl, nil, afterNewline(b, d.badComment))
		return
	}
	if b[i] == '\r' {
		d.fail(i, errLoneCR, nil, afterNewline(b, i))
		return
	}

	// Measurement.
	start := i
	i, flags := scanName(b, i, &measurementChars, &measurementEscapes)
	if i == start {
		d.fail(i, errMeasurementStart, nil, afterNewline(b, i))
		return
	}
	name := b[start:i]
	if flags&scanNonASCII != 0 && !utf8.Valid(name) {
		d.fail(start, errMeasurementUTF8, name, afterNewline(b, i))
		return
	}
	d.measurement = name
	if flags&scanEscaped != 0 {
		d.unescape(escMeasurement, 0, name, &measurementEscapes)
	}

	// Tags.
	if i == len(b) || b[i] != ',' && b[i] != ' ' {
		d.fail(i, errAfterMeasurement, nil, afterNewline(b, i))
		return
	}
	for b[i] == ',' {
		i++
		if i == len(b) || isSpaceOrEOL(b[i]) {
			d.fail(i, errTagKeyStart, nil, afterNewline(b, i))
			return
		}
		ks := i
		i, flags = scanName(b, i, &tagKeyChars, &tagKeyEscapes)
		key := b[ks:i]
		if flags&scanNonASCII != 0 && !utf8.Valid(key) {
			d.fail(ks, errTagKeyUTF8, key, afterNewline(b, i))
			return
		}
		if i == ks {
			d.fail(i, errTagKeyStart, nil, afterNewline(b, i))
			return
		}
		if i == len(b) || b[i] != '=' {
			d.fail(i, errTagKeyEq, key, afterNewline(b, i))
			return
		}
		if flags&scanEscaped != 0 {
			d.unescape(escTagKey, len(d.tags), key, &tagKeyEscapes)
		}
		i++
		vs := i
		i, flags = scanName(b, i, &tagValChars, &tagValEscapes)
		val := b[vs:i]
		if flags&scanNonASCII != 0 && !utf8.Valid(val) {
			d.fail(vs, errTagValUTF8, val, afterNewline(b, i))
			return
		}
		if i == vs {
			d.fail(i, errTagValStart, key, afterNewline(b, i))
			return
		}
		if flags&scanEscaped != 0 {
			d.unescape(escTagVal, len(d.tags), val, &tagValEscapes)
		}
		t := d.addTag()
		t.Key, t.Value = key, val
		d.tagOff = append(d.tagOff, ks)
		if i == len(b) || b[i] != ',' && b[i] != ' ' {
			d.fail(i, errAfterTagVal, nil, afterNewline(b, i))
			return
		}
	}

	// Fields. b[i] is the space after the series; v2 takes any number of
	// spaces here.
	for i < len(b) && b[i] == ' ' {
		i++
	}
	for {
		ks := i
		i, flags = scanName(b, i, &fieldKeyChars, &fieldKeyEscapes)
		key := b[ks:i]
		if flags&scanNonASCII != 0 && !utf8.Valid(key) {
			d.fail(ks, errFieldKeyUTF8, key, afterNewline(b, i))
			return
		}
		if i == ks {
			d.fail(i, errFieldKeyStart, nil, afterNewline(b, i))
			return
		}
		if i == len(b) || b[i] != '=' {
			d.fail(i, errFieldKeyEq, key, afterNewline(b, i))
			return
		}
		if flags&scanEscaped != 0 {
			d.unescape(escFieldKey, len(d.fields), key, &fieldKeyEscapes)
		}
		i++
		if i == len(b) {
			d.fail(i, errFieldValStart, key, i)
			return
		}
		// Decode the value in place; on error the line's fields are
		// dropped anyway.
		f := d.addField()
		f.Key = key
		switch b[i] {
		case '"':
			var ok bool
			if i, ok = d.stringValue(f, i); !ok {
				return
			}
		case 't', 'T', 'f', 'F':
			vs := i
			for i < len(b) && fieldValChars[b[i]] {
				i++
			}
			v, ok := parseBool(b[vs:i])
			if !ok {
				d.fail(vs, errBoolSyntax, b[vs:i], afterNewline(b, i))
				return
			}
			f.Kind = FieldBool
			f.Bool = v
		case '-', '.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if end, ok := fastNumber(f, b, i); ok {
				i = end
				break
			}
			vs := i
			for i < len(b) && fieldValChars[b[i]] {
				i++
			}
			if code := numberValue(f, b[vs:i]); code != 0 {
				d.fail(vs, code, b[vs:i], afterNewline(b, i))
				return
			}
		default:
			d.fail(i, errFieldValStart, key, afterNewline(b, i))
			return
		}
		if i == len(b) {
			d.finishLine(i)
			return
		}
		c := b[i]
		if c == ',' {
			i++
			continue
		}
		if !isSpaceOrEOL(c) {
			// Only a string value can be followed by anything else.
			d.fail(i, errAfterFieldVal, nil, afterNewline(b, i))
			return
		}
		break
	}

	// Spaces, then the end of the line or a timestamp.
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if end, ok := lineEnd(b, i); ok {
		d.finishLine(end)
		return
	}
	ts := i
	for i < len(b) && timeChars[b[i]] {
		i++
	}
	if i == ts {
		// v2 quirk: with no timestamp token, v2 has already marked the
		// line as finished, so after the error it resumes at the next CR
		// or LF instead of after the next LF; a lone CR there then starts
		// one more (rejected) line.
		resume := ts
		for resume < len(b) && b[resume] != '\r' && b[resume] != '\n' {
			resume++
		}
		d.fail(ts, errTimestampStart, nil, resume)
		return
	}
	tok := b[ts:i]
	if i < len(b) && !isSpaceOrEOL(b[i]) {
		rest := i
		for rest < len(b) && b[rest] != '\r' && b[rest] != '\n' {
			rest++
		}
		d.fail(ts, errTimestampSyntax, b[ts:rest], afterNewline(b, i))
		return
	}
	for i < len(b) && b[i] == ' ' {
		i++
	}
	end, ok := lineEnd(b, i)
	if !ok {
		d.fail(i, errAfterTimestamp, nil, afterNewline(b, i))
		return
	}
	t, st := parseInt(tok)
	switch st {
	case numSyntax:
		d.fail(ts, errTimestampSyntax, tok, end)
		return
	case numRange:
		d.fail(ts, errTimestampRange, tok, end)
		return
	}
	if t, ok = d.prec.toNanos(t); !ok {
		d.fail(ts, errTimestampPrecision, tok, end)
		return
	}
	d.time = t
	d.hasTime = true
	d.finishLine(end)
}

// addTag extends d.tags by one element and returns it, for the caller to
// fill in place. Reslicing within capacity instead of
// append(d.tags, Tag{...}) avoids building the element in a temporary and
// copying it (Tag and Field hold pointers, so that copy is a typed one).
func (d *InfluxDecoder) addTag() *Tag {
	n := len(d.tags)
	if n == cap(d.tags) {
		d.tags = append(d.tags, Tag{})
	} else {
		d.tags = d.tags[:n+1]
	}
	return &d.tags[n]
}

// addField extends d.fields by one element, clears it and returns it. See
// addTag for why it does not simply append.
func (d *InfluxDecoder) addField() *Field {
	n := len(d.fields)
	if n == cap(d.fields) {
		d.fields = append(d.fields, Field{})
	} else {
		d.fields = d.fields[:n+1]
	}
	f := &d.fields[n]
	// Only the member for Kind is set below; clear the others, which
	// hold a previous line's value.
	f.Kind, f.Float, f.Int, f.Uint, f.Bool, f.Str = 0, 0, 0, 0, false, nil
	return f
}

// finishLine completes a line whose syntax is fine and that ends at
// offset end: it points escaped names at their unescaped form, sorts the
// tags and rejects duplicate tag keys.
func (d *InfluxDecoder) finishLine(end int) {
	if !d.hasTime {
		d.time = d.defaultTime
	}
	if len(d.escRefs) > 0 {
		d.materialize()
	}
	if len(d.tags) > 1 {
		for i := 1; i < len(d.tags); i++ {
			c := bytes.Compare(d.tags[i-1].Key, d.tags[i].Key)
			if c == 0 {
				// Sorted so far, so this is the earliest repeat.
				d.fail(d.tagOff[i], errDuplicateTag, d.tags[i].Key, end)
				return
			}
			if c > 0 {
				if off, key := d.sortTags(); off >= 0 {
					d.fail(off, errDuplicateTag, key, end)
					return
				}
				break
			}
		}
	}
	d.pos = end
	d.line = d.startLine + d.stringNewlines
	if end > d.start && d.buf[end-1] == '\n' {
		d.line++
	}
}

var newline = []byte{'\n'}

// materialize points the escaped names of the line at their unescaped
// form in scratch, which no longer moves.
func (d *InfluxDecoder) materialize() {
	for _, r := range d.escRefs {
		s := d.scratch[r.off:r.end:r.end]
		switch r.kind {
		case escMeasurement:
			d.measurement = s
		case escTagKey:
			d.tags[r.idx].Key = s
		case escTagVal:
			d.tags[r.idx].Value = s
		case escFieldKey:
			d.fields[r.idx].Key = s
		}
	}
}

// sortTags sorts the tags by key, keeping tags with equal keys in line
// order. It returns the offset and the key of the earliest (in line order)
// tag whose key repeats an earlier one, or -1.
func (d *InfluxDecoder) sortTags() (int, []byte) {
	tags, offs := d.tags, d.tagOff
	if len(tags) <= 16 {
		// Insertion sort: lines have few tags, and this is several
		// times faster than a general sort for them.
		for i := 1; i < len(tags); i++ {
			for j := i; j > 0 && bytes.Compare(tags[j-1].Key, tags[j].Key) > 0; j-- {
				tags[j-1], tags[j] = tags[j], tags[j-1]
				offs[j-1], offs[j] = offs[j], offs[j-1]
			}
		}
	} else {
		// Many tags: O(n log n), so that a hostile line cannot make
		// sorting quadratic. Ordering equal keys by offset keeps them in
		// line order.
		s := d.sortBuf[:0]
		for i, t := range tags {
			s = append(s, sortTag{Tag: t, off: offs[i]})
		}
		slices.SortFunc(s, func(a, b sortTag) int {
			if c := bytes.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return cmp.Compare(a.off, b.off)
		})
		for i := range s {
			tags[i], offs[i] = s[i].Tag, s[i].off
		}
		d.sortBuf = s
	}
	dup := -1
	var dupKey []byte
	for i := 1; i < len(tags); i++ {
		if bytes.Equal(tags[i-1].Key, tags[i].Key) && (dup < 0 || offs[i] < dup) {
			dup, dupKey = offs[i], tags[i].Key
		}
	}
	return dup, dupKey
}

// fail records an error at offset off for the current line and makes
// decoding resume at offset resume. subject, if not nil, is input to quote
// in the message (at most maxQuote bytes are copied).
func (d *InfluxDecoder) fail(off int, code errCode, subject []byte, resume int) {
	b := d.buf
	info := &errInfos[code]
	e := &d.err
	d.failed = true
	d.measurement = nil
	d.tags = d.tags[:0]
	d.fields = d.fields[:0]
	d.time = 0
	d.hasTime = false

	e.Offset = off
	e.Line = d.startLine + bytes.Count(b[d.start:off], newline)
	e.Col = off - (bytes.LastIndexByte(b[:off], '\n') + 1) + 1
	e.Reason = info.reason
	e.Msg = info.msg
	e.hasQuote = subject != nil
	e.quoteTrunc = len(subject) > maxQuote
	e.quoteLen = uint8(copy(e.quote[:], subject))
	e.found = foundNone
	if info.found {
		if off < len(b) {
			e.found = int16(b[off])
			if isBadControl(b[off]) {
				e.Reason = ReasonEncoding
			}
		} else {
			e.found = foundEOF
		}
	}
	d.pos = resume
	d.line = d.startLine + bytes.Count(b[d.start:resume], newline)
}
