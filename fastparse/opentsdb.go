package fastparse

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// OpenTSDB telnet "put" lines (FORMATS.md section 2.1), as OpenTSDB's
// PutDataPointRpc reads them:
//
//	put <metric> <timestamp> <value> <tagk>=<tagv>[ <tagk>=<tagv>...]
//
// Words are split on single spaces: an empty word before the value (a
// doubled space) is an error, empty words among the tags are skipped. The
// timestamp is seconds, or milliseconds when it does not fit in 32 bits
// (at most 13 digits); a '.' in it is deleted first, as OpenTSDB does, so
// "1700000000.123" is milliseconds. A value without '.', 'e' or 'E' is an
// int64, else a float; NaN and infinities are rejected. Every tag is
// "k=v" with both parts non-empty; a key given twice with different values
// is an error, with the same value it counts once; there must be 1 to
// MaxTags tags. Metric, tag keys and values are made of a-z A-Z 0-9 - _ .
// / , Unicode letters and AllowSpecialChars; nothing is escaped. Lines end
// at "\n" or "\r\n" and are at most 1024 bytes (OpenTSDB's frame limit).
//
// One difference: OpenTSDB decodes the line as ISO-8859-1 before checking
// for letters, so a UTF-8 letter like "é" (0xC3 0xA9) fails there
// ('©' is not a letter) but passes here, where input is UTF-8.

// OpenTSDBMaxLine is OpenTSDB's telnet frame limit, in bytes.
const OpenTSDBMaxLine = 1024

// OpenTSDBDecoder decodes OpenTSDB put lines; it implements Decoder. Each
// line is one point: Measurement is the metric, Fields has one Field with
// an empty Key. The zero value is ready for Reset and takes OpenTSDB's
// defaults.
type OpenTSDBDecoder struct {
	// MaxTags is tsd.storage.max_tags: the most tags a line may have.
	// Default 8.
	MaxTags int
	// AllowSpecialChars is tsd.core.tag.allow_specialchars: more bytes
	// allowed in names (ASCII only).
	AllowSpecialChars string

	allowed  byteSet
	class    [256]uint8 // see scanWord
	builtFor string
	built    bool

	onePointLines
}

var _ Decoder = (*OpenTSDBDecoder)(nil)

// openTSDBChars are the ASCII bytes OpenTSDB's Tags.validateString
// accepts.
var openTSDBChars = byteRange('a', 'z').union(byteRange('A', 'Z')).union(byteRange('0', '9')).union(newByteSet("-_./"))

// Reset starts decoding buf. Lines without a timestamp do not exist in
// this format, so defaultTime is unused.
func (d *OpenTSDBDecoder) Reset(buf []byte, _ int64) {
	if !d.built || d.builtFor != d.AllowSpecialChars {
		d.allowed = openTSDBChars
		for i := 0; i < len(d.AllowSpecialChars); i++ {
			if c := d.AllowSpecialChars[i]; c > ' ' && c < utf8.RuneSelf {
				d.allowed[c] = true
			}
		}
		for c := range d.class {
			switch {
			case c == ' ':
				d.class[c] = classSpace
			case c == '=':
				d.class[c] = classEq
			case c >= utf8.RuneSelf:
				d.class[c] = classHigh
			case d.allowed[c]:
				d.class[c] = className
			default:
				d.class[c] = classBad
			}
		}
		d.builtFor, d.built = d.AllowSpecialChars, true
	}
	d.reset(buf)
}

// Next decodes the next non-empty line; false at the end of the buffer.
func (d *OpenTSDBDecoder) Next() bool {
	content, ok := d.nextContent()
	if ok {
		d.decodeLine(content)
	}
	return ok
}

// nextContent returns the next non-empty line without its line ending.
func (d *OpenTSDBDecoder) nextContent() ([]byte, bool) {
	for {
		content, ok := d.next()
		if !ok {
			return nil, false
		}
		if n := len(content); n > 0 && content[n-1] == '\r' {
			content = content[:n-1]
		}
		if len(content) > 0 {
			return content, true
		}
	}
}

// word returns the word of content starting at i (up to the next space)
// and the index after it and its separating space.
func word(content []byte, i int) ([]byte, int) {
	j := bytes.IndexByte(content[i:], ' ')
	if j < 0 {
		return content[i:], len(content)
	}
	return content[i : i+j], i + j + 1
}

// Byte classes for scanWord.
const (
	classBad = iota
	className
	classEq
	classSpace
	classHigh // a byte of a multi-byte UTF-8 sequence: checked by validName
)

// scanWord scans the word of content starting at i in one pass: it returns
// the index after it (its space skipped), its end, the index of its first
// '=' (-1: none), and whether it holds anything but plain name bytes and
// at most one '=' (then validName or the caller reports the error).
func (d *OpenTSDBDecoder) scanWord(content []byte, i int) (next, end, eq int, odd bool) {
	eq = -1
	j := i
	for ; j < len(content); j++ {
		switch d.class[content[j]] {
		case className:
		case classSpace:
			return j + 1, j, eq, odd
		case classEq:
			if eq >= 0 {
				odd = true
			}
			eq = j
		default:
			odd = true
		}
	}
	return j, j, eq, odd
}

// decodeLine decodes one line (without its line ending).
func (d *OpenTSDBDecoder) decodeLine(content []byte) {
	base := d.start // offset of content in d.buf
	if len(content) > OpenTSDBMaxLine {
		d.fail(base+OpenTSDBMaxLine, ReasonSyntax, "line longer than OpenTSDB's 1024-byte limit", nil)
		return
	}
	if len(content) < 4 || string(content[:4]) != "put " {
		cmd, _ := word(content, 0)
		d.fail(base, ReasonSyntax, "expected \"put\" at the start of the line, found", cmd)
		return
	}
	i := 4
	j, end, eq, odd := d.scanWord(content, i)
	metric := content[i:end]
	if (odd || eq >= 0 || len(metric) == 0) && !d.validName(base+i, metric, nameMetric) {
		return
	}
	ts, k := word(content, j)
	t, ok := openTSDBTime(ts)
	if !ok {
		d.fail(base+j, ReasonTimestamp, "invalid timestamp: want seconds or milliseconds (at most 13 digits), found", ts)
		return
	}
	val, l := word(content, k)
	v, ok := openTSDBValue(val)
	if !ok {
		d.fail(base+k, ReasonSyntax, "invalid value: want an integer or a finite float, found", val)
		return
	}
	for l < len(content) {
		at := l
		next, end, eq, odd := d.scanWord(content, l)
		l = next
		if end == at {
			continue // doubled spaces among the tags
		}
		tag := content[at:end]
		if eq <= at || eq == end-1 {
			d.fail(base+at, ReasonSyntax, "invalid tag: want key=value, both non-empty, found", tag)
			return
		}
		key, value := content[at:eq], content[eq+1:end]
		if odd {
			if bytes.IndexByte(value, '=') >= 0 || bytes.IndexByte(key, '=') >= 0 {
				d.fail(base+at, ReasonSyntax, "invalid tag: want key=value, both non-empty, found", tag)
				return
			}
			if !d.validName(base+at, key, nameTagKey) || !d.validName(base+eq+1, value, nameTagValue) {
				return
			}
		}
		if !d.addTag(base+at, key, value) {
			return
		}
	}
	if len(d.tags) == 0 {
		d.fail(base+len(content), ReasonSyntax, "no tag: OpenTSDB needs at least one tagk=tagv", nil)
		return
	}
	maxTags := d.MaxTags
	if maxTags <= 0 {
		maxTags = 8
	}
	if len(d.tags) > maxTags {
		d.fail(base, ReasonSyntax, "more tags than tsd.storage.max_tags allows", nil)
		return
	}
	d.set(metric, t, v)
}

// addTag inserts a tag in key order; a key seen before is an error unless
// its value is the same.
func (d *OpenTSDBDecoder) addTag(at int, key, value []byte) bool {
	if inserted, same := d.insertTag(key, value); !inserted && !same {
		d.fail(at, ReasonDuplicateTag, "duplicate tag key with another value", key)
		return false
	}
	return true
}

// What validName checks, with its messages as constants so that a bad
// line allocates nothing.
type nameKind uint8

const (
	nameMetric nameKind = iota
	nameTagKey
	nameTagValue
)

var nameMsgs = [...]struct{ empty, char, enc string }{
	nameMetric: {"empty metric name (a doubled space?)",
		"invalid character in metric name (allowed: a-z A-Z 0-9 - _ . / and letters)",
		"invalid UTF-8 or a character that is not a letter in metric name"},
	nameTagKey: {"empty tag key",
		"invalid character in tag key (allowed: a-z A-Z 0-9 - _ . / and letters)",
		"invalid UTF-8 or a character that is not a letter in tag key"},
	nameTagValue: {"empty tag value",
		"invalid character in tag value (allowed: a-z A-Z 0-9 - _ . / and letters)",
		"invalid UTF-8 or a character that is not a letter in tag value"},
}

// validName checks a metric, tag key or tag value (at offset off).
func (d *OpenTSDBDecoder) validName(off int, name []byte, kind nameKind) bool {
	msgs := &nameMsgs[kind]
	if len(name) == 0 {
		d.fail(off, ReasonSyntax, msgs.empty, nil)
		return false
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if !d.allowed[c] {
				d.fail(off+i, ReasonSyntax, msgs.char, name)
				d.err.found = int16(c)
				if isBadControl(c) {
					d.err.Reason = ReasonEncoding
				}
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		if r == utf8.RuneError && n <= 1 || !unicode.IsLetter(r) {
			d.fail(off+i, ReasonEncoding, msgs.enc, name)
			return false
		}
		i += n
	}
	return true
}

// openTSDBTime parses a timestamp as OpenTSDB does and returns Unix ns.
func openTSDBTime(s []byte) (int64, bool) {
	var v uint64
	digits := 0
	for _, c := range s {
		if c == '.' {
			continue // deleted before parsing, as OpenTSDB does
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		digits++
		if digits > 13 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case digits == 0 || v == 0:
		return 0, false
	case v <= 0xffffffff: // seconds (OpenTSDB: no bit of SECOND_MASK set)
		return int64(v) * 1e9, true
	default: // milliseconds
		return int64(v) * 1e6, true
	}
}

// openTSDBValue parses a value as OpenTSDB does: an int64 unless it has
// '.', 'e' or 'E', else a finite float.
func openTSDBValue(s []byte) (float64, bool) {
	if bytes.IndexAny(s, ".eE") < 0 {
		n, st := parseInt(s)
		return float64(n), st == numOK
	}
	f, st := parseFloat(s)
	return f, st == numOK && f-f == 0
}
