package emit

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// jsonlEncoder writes one JSON object per line:
//
//	{"metric":"cpu","tags":{"host":"h1"},"step":"1m","start":1700000040,"aggregator":"sum","value":12.5}\n
//
// Keys always appear in this order. Every rollup with a finite value is
// encodable; NaN and +-Inf are dropped because JSON has no literal for them
// (encoding/json refuses them too).
type jsonlEncoder struct{}

func (jsonlEncoder) Append(dst []byte, r *Rollup) ([]byte, DropReason) {
	if !isFinite(r.Value) {
		return dst, DropNonFinite
	}
	dst = appendJSONLSeries(dst, r.Metric, r.Tags, r.Step, r.Start)
	return appendJSONLValue(dst, r.Aggregator, r.Value), DropNone
}

// Framing: lines end themselves.
func (jsonlEncoder) Framing() Framing { return Framing{} }

func (jsonlEncoder) AppendWindow(dst []byte, w *Window, sep []byte, drops []uint64) ([]byte, int) {
	n := 0
	series, seriesEnd := 0, 0
	var written writtenValues
	for _, v := range w.Values {
		if !isFinite(v.Value) {
			drops[DropNonFinite]++
			continue
		}
		if n == 0 {
			series = len(dst)
			if w.Key != nil && !w.split {
				dst = appendJSONLSeriesKey(dst, w)
			} else {
				dst = appendJSONLSeries(dst, w.Metric, w.Tags, w.Step, w.Start)
			}
			seriesEnd = len(dst)
		} else {
			// Copy the series part written for the first value.
			dst = append(dst, dst[series:seriesEnd]...)
		}
		dst = appendJSONLAggregator(dst, v.Aggregator)
		dst = written.append(dst, v.Value, appendJSONFloat)
		dst = append(dst, "}\n"...)
		dst = append(dst, sep...)
		n++
	}
	return dst, n
}

// appendJSONLSeries writes the object up to and including `"aggregator":`.
func appendJSONLSeries(dst, metric []byte, tags []Tag, step string, start int64) []byte {
	dst = append(dst, `{"metric":`...)
	dst = appendJSONString(dst, metric)
	dst = append(dst, `,"tags":{`...)
	for i := range tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, tags[i].Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, tags[i].Value)
	}
	dst = append(dst, `},"step":`...)
	dst = appendJSONString(dst, step)
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, start, 10)
	return append(dst, `,"aggregator":`...)
}

// appendJSONLSeriesKey is appendJSONLSeries for a window whose series is
// given as its canonical key (package shard: each tag as key 0x00 value
// 0x00, then 0x01 and the metric; no other byte below 0x20). What follows
// the metric is copied from the window's tail cache when the previous
// window had the same tags, step and start, as the fields of one line do.
func appendJSONLSeriesKey(dst []byte, w *Window) []byte {
	metric, t, hit := w.tailFor(tailJSONL, w.Start)
	var tags []byte
	if metric == nil {
		metric = w.Key // not canonical: all of it is the metric, and no tags
	} else {
		tags = w.Key[:len(w.Key)-len(metric)-1]
	}
	dst = append(dst, `{"metric":`...)
	dst = appendJSONString(dst, metric)
	if hit {
		return append(dst, t.bytes...)
	}
	from := len(dst)
	dst = append(dst, `,"tags":{`...)
	dst = appendJSONLTagsFromKey(dst, tags)
	dst = append(dst, `},"step":`...)
	dst = appendJSONString(dst, w.Step)
	dst = append(dst, `,"start":`...)
	dst = append(dst, w.StartText()...)
	dst = append(dst, `,"aggregator":`...)
	t.bytes = append(t.bytes, dst[from:]...)
	return dst
}

// appendJSONLTagsFromKey writes the members of the "tags" object from the
// tag part of a canonical key in one pass: runs of plain bytes are copied
// whole, and each 0x00 becomes the JSON between a tag key and its value or
// between two tags.
func appendJSONLTagsFromKey(dst, tags []byte) []byte {
	if len(tags) == 0 {
		return dst
	}
	dst = append(dst, '"')
	value := false // the next 0x00 ends a value
	plain := 0     // tags[plain:i] is pending plain bytes
	for i := 0; i < len(tags); {
		if i+8 <= len(tags) {
			sp := jsonSpecial(binary.LittleEndian.Uint64(tags[i:]))
			if sp == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(sp) / 8
		}
		switch c := tags[i]; {
		case c == 0:
			dst = append(dst, tags[plain:i]...)
			switch {
			case !value:
				dst = append(dst, `":"`...)
			case i+1 < len(tags):
				dst = append(dst, `","`...)
			default:
				dst = append(dst, '"')
			}
			value = !value
			i++
			plain = i
		case jsonPlain[c]:
			i++
		default:
			// '"', '\\' or UTF-8: the rest of this key or value goes
			// through the string escaper.
			dst = append(dst, tags[plain:i]...)
			end := i + bytes.IndexByte(tags[i:], 0)
			if end < i {
				end = len(tags)
			}
			dst = appendJSONEscaped(dst, tags[i:end])
			i, plain = end, end
		}
	}
	dst = append(dst, tags[plain:]...)
	return dst
}

// appendJSONLValue finishes the object started by appendJSONLSeries.
func appendJSONLValue(dst []byte, agg string, v float64) []byte {
	dst = appendJSONLAggregator(dst, agg)
	dst = appendJSONFloat(dst, v)
	return append(dst, "}\n"...)
}

// appendJSONLAggregator writes the aggregator's name and the value's key.
func appendJSONLAggregator(dst []byte, agg string) []byte {
	// The aggregators' names need no escaping: one constant each instead
	// of a string scan per rollup.
	switch agg {
	case "sum":
		return append(dst, `"sum","value":`...)
	case "count":
		return append(dst, `"count","value":`...)
	case "min":
		return append(dst, `"min","value":`...)
	case "max":
		return append(dst, `"max","value":`...)
	case "first":
		return append(dst, `"first","value":`...)
	case "last":
		return append(dst, `"last","value":`...)
	case "avg":
		return append(dst, `"avg","value":`...)
	}
	dst = appendJSONString(dst, agg)
	return append(dst, `,"value":`...)
}

// jsonPlain marks the ASCII bytes that go into a JSON string unescaped: all
// but the control characters, '"' and '\'. Bytes >= 0x80 are false so that
// the slow path checks their UTF-8.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const lowerHex = "0123456789abcdef"

// jsonSpecial returns the high bit of every byte of w (little endian) that
// jsonPlain marks false: a control character, '"', '\\' or a byte >= 0x80.
// Exact per byte: no sum below carries into the next byte.
func jsonSpecial(w uint64) uint64 {
	const low7, high = 0x7F7F7F7F7F7F7F7F, 0x8080808080808080
	control := ^((w & low7) + 0x6060606060606060) // low 7 bits < 0x20
	q := w ^ 0x2222222222222222                   // '"' -> 0
	quote := ^(((q & low7) + low7) | q)
	b := w ^ 0x5C5C5C5C5C5C5C5C // '\\' -> 0
	backslash := ^(((b & low7) + low7) | b)
	return (control | quote | backslash | w) & high
}

// appendJSONString appends s as a quoted JSON string, escaping exactly as
// encoding/json does with SetEscapeHTML(false) (differential-tested in
// jsonl_test.go), so any tool that compares our lines with Go-produced JSON
// sees the same bytes:
//   - '"' and '\' are backslash-escaped; \b \f \n \r \t get their short
//     forms and other control characters \u00XX;
//   - valid UTF-8 is copied as is, except U+2028 and U+2029, written as
//     \u2028 and \u2029 because JavaScript before ES2019 and Python's
//     str.splitlines treat them as line breaks, which would split a line of
//     our output in two;
//   - each byte that does not start a valid UTF-8 sequence becomes \ufffd,
//     as encoding/json does, so the output is always valid UTF-8.
//
// s is string or []byte; the generic form avoids converting (and allocating)
// either way.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = appendJSONEscaped(dst, s)
	return append(dst, '"')
}

// appendJSONEscaped is appendJSONString without the quotes.
func appendJSONEscaped[S string | []byte](dst []byte, s S) []byte {
	start := 0 // s[start:i] is pending plain bytes
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a look: names and tag
		// values are nearly always plain ASCII.
		if i+8 <= len(s) {
			m := jsonSpecial(uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56)
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		// At most UTFMax bytes: converting those to a string does not
		// escape, so it costs no allocation even when S is []byte.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', lowerHex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
