package fastparse

import (
	"bytes"
	"math"
)

// Graphite carbon plaintext (FORMATS.md section 4.1), read as metrictank's
// carbon input reads it:
//
//	<metric.path> <value> <unix-seconds>
//	<name>;<tag>=<value>;<tag>=<value> <value> <unix-seconds>
//
// Lines end at "\n" (a "\r" before it is whitespace) and are at most 4096
// bytes. Fields are separated by runs of whitespace (space, TAB, VT, FF,
// CR); there must be exactly three. One leading '.' of the path is
// dropped; the path may not contain NUL or bytes >= 0x80. The value is a
// float as strconv.ParseFloat reads it, NaN and infinities included (the
// pipeline counts and drops those). The timestamp is a float of seconds,
// its fraction truncated, within 0 .. 2^32-1. In the tagged form the metric
// is the text before the first ';' and each ';'-separated part after it is
// a tag "key=value" with both sides non-empty; tags are sorted by key and
// a key given twice is an error.

// CarbonMaxLine is metrictank's carbon line limit, in bytes.
const CarbonMaxLine = 4096

// CarbonDecoder decodes carbon plaintext lines; it implements Decoder.
// Each line is one point: Measurement is the metric path (or the name of a
// tagged series), Fields has one Field with an empty Key. The zero value
// is ready for Reset.
type CarbonDecoder struct {
	onePointLines
}

var _ Decoder = (*CarbonDecoder)(nil)

// carbonSpace is the whitespace that separates carbon fields.
var carbonSpace = newByteSet(" \t\v\f\r")

// carbonPathSpecial are the bytes the path scan must look at: whitespace
// (its end), ';' (tags) and the bytes a path may not hold (NUL, >= 0x80).
var carbonPathSpecial = carbonSpace.union(newByteSet(";\x00")).union(byteRange(0x80, 0xff))

// Reset starts decoding buf; every carbon line has a timestamp, so
// defaultTime is unused.
func (d *CarbonDecoder) Reset(buf []byte, _ int64) { d.reset(buf) }

// Next decodes the next non-blank line; false at the end of the buffer.
func (d *CarbonDecoder) Next() bool {
	for {
		content, ok := d.next()
		if !ok {
			return false
		}
		for _, c := range content {
			if !carbonSpace[c] {
				d.decodeLine(content)
				return true
			}
		}
	}
}

// field returns the next whitespace-separated field of content from i:
// its start and end (start == len(content): none left).
func carbonField(content []byte, i int) (int, int) {
	for i < len(content) && carbonSpace[content[i]] {
		i++
	}
	j := i
	for j < len(content) && !carbonSpace[content[j]] {
		j++
	}
	return i, j
}

func (d *CarbonDecoder) decodeLine(content []byte) {
	base := d.start
	if len(content) > CarbonMaxLine {
		d.fail(base+CarbonMaxLine, ReasonSyntax, "line longer than metrictank's 4096-byte carbon limit", nil)
		return
	}
	// The path is scanned once: its end, its first ';' and any byte it
	// may not hold.
	ps := 0
	for ps < len(content) && carbonSpace[content[ps]] {
		ps++
	}
	if ps < len(content) && content[ps] == '.' {
		ps++
	}
	pe, semi, bad := ps, -1, -1
scan:
	for ; pe < len(content); pe++ {
		c := content[pe]
		if !carbonPathSpecial[c] {
			continue // one table look-up for the usual path byte
		}
		switch {
		case carbonSpace[c]:
			break scan
		case c == ';':
			if semi < 0 {
				semi = pe - ps
			}
		case bad < 0:
			bad = pe // NUL or non-ASCII
		}
	}
	vs, ve := carbonField(content, pe)
	ts, te := carbonField(content, ve)
	if xs, _ := carbonField(content, te); ts == len(content) || xs < len(content) {
		d.fail(base, ReasonSyntax, "want 3 fields: path value timestamp, found", content)
		return
	}
	path := content[ps:pe]
	if bad >= 0 {
		d.fail(base+bad, ReasonEncoding, "NUL or non-ASCII byte in metric path", path)
		d.err.found = int16(content[bad])
		return
	}
	name := path
	if semi >= 0 {
		name = path[:semi]
		rest := path[semi+1:]
		off := ps + semi + 1
		for {
			n := bytes.IndexByte(rest, ';')
			part := rest
			if n >= 0 {
				part = rest[:n]
			}
			eq := bytes.IndexByte(part, '=')
			if eq <= 0 || eq == len(part)-1 {
				d.fail(base+off, ReasonSyntax, "invalid tag of a tagged series: want key=value, both non-empty, found", part)
				return
			}
			if !d.addTag(base+off, part[:eq], part[eq+1:]) {
				return
			}
			if n < 0 {
				break
			}
			off += n + 1
			rest = rest[n+1:]
		}
	}
	if len(name) == 0 {
		d.fail(base+ps, ReasonSyntax, "empty metric path", nil)
		return
	}
	v, ok := carbonValue(content[vs:ve])
	if !ok {
		d.fail(base+vs, ReasonSyntax, "invalid value, found", content[vs:ve])
		return
	}
	t, ok := carbonTime(content[ts:te])
	if !ok {
		d.fail(base+ts, ReasonTimestamp, "invalid timestamp: want Unix seconds within 0..4294967295, found", content[ts:te])
		return
	}
	d.set(name, t, v)
}

// addTag inserts a tag in key order; a key given twice is an error.
func (d *CarbonDecoder) addTag(at int, key, value []byte) bool {
	if inserted, _ := d.insertTag(key, value); !inserted {
		d.fail(at, ReasonDuplicateTag, "duplicate tag key", key)
		return false
	}
	return true
}

// carbonValue parses a value as strconv.ParseFloat does, the non-finite
// spellings included.
func carbonValue(s []byte) (float64, bool) {
	if f, st := parseFloat(s); st == numOK {
		return f, true
	}
	sign, rest := 1.0, s
	if len(rest) > 0 && (rest[0] == '+' || rest[0] == '-') {
		if rest[0] == '-' {
			sign = -1
		}
		rest = rest[1:]
	}
	switch {
	case bytes.EqualFold(rest, []byte("inf")), bytes.EqualFold(rest, []byte("infinity")):
		return math.Inf(int(sign)), true
	case bytes.EqualFold(rest, []byte("nan")):
		return math.NaN(), true
	}
	return 0, false
}

// carbonTime parses a timestamp as metrictank does (ParseFloat, then
// uint32: the fraction is truncated) and returns Unix ns. Plain digits,
// what every sender writes, skip the float parser.
func carbonTime(s []byte) (int64, bool) {
	if len(s) > 0 && len(s) <= 10 {
		var v int64
		i := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			v = v*10 + int64(s[i]-'0')
		}
		if i == len(s) {
			return v * 1e9, v < 1<<32
		}
	}
	t, st := parseFloat(s)
	if st != numOK || !(t >= 0 && t < 1<<32) {
		return 0, false
	}
	return int64(t) * 1e9, true
}
