package pipeline

import (
	"math"
	"strconv"
	"strings"
)

// PromContentType is the Content-Type of what PromWriter produces: the
// Prometheus text exposition format, version 0.0.4.
const PromContentType = "text/plain; version=0.0.4; charset=utf-8"

// PromWriter appends the Prometheus text exposition format (version 0.0.4)
// to a byte slice. It is meant for a /metrics handler that renders a handful
// of families per scrape: no maps, no sorting, no per-sample allocation once
// the buffer has grown to its steady size (Reset it with the previous
// scrape's buffer to keep that memory).
//
// Metric and label names are trusted: they are expected to be constants in
// this program, so they are written as given, without escaping or checks.
// ValidMetricName and validPromLabelName exist for tests to assert that.
// HELP text and label values are escaped as the format requires. The caller
// is responsible for the format's grouping rule: all samples of a family
// directly after its Family call.
//
// The zero value is ready to use. A PromWriter is not safe for concurrent
// use.
type PromWriter struct {
	buf []byte
}

// Reset discards what was written and continues appending to dst[:0], so a
// handler can reuse one buffer across scrapes.
func (w *PromWriter) Reset(dst []byte) { w.buf = dst[:0] }

// Bytes returns what was written so far. The slice aliases the writer's
// buffer: IT IS VALID ONLY UNTIL THE NEXT CALL THAT WRITES OR RESETS.
func (w *PromWriter) Bytes() []byte { return w.buf }

// Family writes the HELP and TYPE lines that must precede a family's
// samples. typ is "counter" or "gauge" (the format also knows histogram,
// summary and untyped; it is written as given, like names).
//
// An empty help still produces a HELP line ("# HELP name \n"): the format
// ignores trailing whitespace, and an unconditional line keeps the output
// shape independent of the text.
func (w *PromWriter) Family(name, help, typ string) {
	w.buf = append(w.buf, "# HELP "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = appendPromHelp(w.buf, help)
	w.buf = append(w.buf, "\n# TYPE "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, typ...)
	w.buf = append(w.buf, '\n')
}

// Sample writes one sample line with a float value. labels are key, value
// pairs; a dangling last key (odd count) is ignored rather than panicking or
// emitting a label with an invented value, because /metrics must keep
// working even if a call site is wrong, and a missing label is the least
// misleading output. Values are written in the shortest form that parses
// back to the same float64, with +Inf, -Inf and NaN spelled as the format
// (and Go's strconv.ParseFloat, which the format refers to) expects.
func (w *PromWriter) Sample(name string, value float64, labels ...string) {
	w.sampleStart(name, labels)
	w.buf = appendPromFloat(w.buf, value)
	w.buf = append(w.buf, '\n')
}

// SampleUint writes one sample line with an integer value, printed exactly.
// Use it for counters: a float64 loses integers above 2^53, and 'g'
// formatting switches to exponent notation above 1e21. Labels are as for
// Sample.
func (w *PromWriter) SampleUint(name string, value uint64, labels ...string) {
	w.sampleStart(name, labels)
	w.buf = strconv.AppendUint(w.buf, value, 10)
	w.buf = append(w.buf, '\n')
}

// sampleStart writes the name, the label set if any, and the space before
// the value.
func (w *PromWriter) sampleStart(name string, labels []string) {
	w.buf = append(w.buf, name...)
	n := len(labels) &^ 1 // drop a dangling key, see Sample
	if n > 0 {
		w.buf = append(w.buf, '{')
		for i := 0; i < n; i += 2 {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, labels[i]...)
			w.buf = append(w.buf, '=', '"')
			w.buf = appendPromLabelValue(w.buf, labels[i+1])
			w.buf = append(w.buf, '"')
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ' ')
}

// appendPromHelp escapes HELP text: backslash and line feed only. A double
// quote is not escaped there, unlike in label values; the format says so and
// parsers would otherwise show a literal backslash in the help.
func appendPromHelp(dst []byte, s string) []byte { return appendPromEscaped(dst, s, "\\\n") }

// appendPromLabelValue escapes a label value: backslash, double quote and
// line feed. Other bytes, including invalid UTF-8 and '\r', pass through:
// the format assigns them no escape, and a value is only terminated by an
// unescaped '"'. Invalid UTF-8 is the caller's to avoid (the format requires
// UTF-8); rewriting it here would make two distinct series look alike.
func appendPromLabelValue(dst []byte, s string) []byte {
	return appendPromEscaped(dst, s, "\\\"\n")
}

// appendPromEscaped writes s with a backslash before each byte of special
// (a line feed as \n).
func appendPromEscaped(dst []byte, s, special string) []byte {
	// Almost all text is plain; copy it in one append.
	if !strings.ContainsAny(s, special) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(special, c) < 0:
			dst = append(dst, c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, '\\', c)
		}
	}
	return dst
}

// appendPromFloat writes v as strconv 'g' with the shortest precision that
// round-trips. strconv happens to spell the special values the same way;
// they are spelled out here so the format's spelling is visible in this file
// rather than resting on an implementation detail of strconv.
func appendPromFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// ValidMetricName reports whether s matches the classic Prometheus metric
// name grammar, [a-zA-Z_:][a-zA-Z0-9_:]*. PromWriter does not call it (names
// are constants); tests use it to check every name the service exposes.
func ValidMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !promNameChar[c] || (i == 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validPromLabelName reports whether s matches the label name grammar,
// [a-zA-Z_][a-zA-Z0-9_]*: the metric name grammar without ':'. Names
// starting with "__" are reserved for Prometheus itself, so they are
// rejected too, which is what a check of our own constants wants.
func validPromLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' || !promNameChar[c] || (i == 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// promNameChar is the character class of metric names after the first
// character: [a-zA-Z0-9_:].
var promNameChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'] = true
	t[':'] = true
	return t
}()
