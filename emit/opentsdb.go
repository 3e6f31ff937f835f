package emit

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// opentsdbEncoder writes one opentsdb-rpc-kafka Aggregate object (a rollup of
// one raw series: "interval" and "aggregator" set, no "groupByAggregator"):
//
//	{"type":"Aggregate","metric":"cpu","timestamp":1700000040,"value":"12.5","tags":{"host":"h1"},"interval":"1m","aggregator":"sum"}
//
// No trailing newline: the record value must start with '{' or '[' and is
// parsed as one JSON document, so the caller frames objects (ArrayWriter).
//
// It checks everything OpenTSDB 2.4 checks on this path
// (IncomingDataPoint.validate, RollUpDataPoint.validate,
// TSDB.addAggregatePoint, IncomingDataPoints.checkMetricAndTags,
// Tags.validateString), because a rejected Aggregate throws out of the
// consumer's loop and takes the rest of the Kafka record with it. What it does
// not check, because it is configuration on both sides and is checked once at
// startup: that Step is an interval configured in tsd.rollups.config (see
// ValidateOpenTSDBInterval) and that Aggregator has an id in its
// aggregationIds.
//
// A tag whose key is "_aggregate" (the default tsd.rollups.agg_tag_key) is
// rejected too: for a rollup without a group-by aggregator addAggregatePoint
// compares that tag's value with the absent group-by aggregator and throws.
// aggTagKey is OpenTSDB's default tsd.rollups.agg_tag_key.
const aggTagKey = "_aggregate"

type opentsdbEncoder struct {
	maxTags int
}

// Bounds of an Aggregate timestamp: IncomingDataPoint.validate rejects
// timestamp <= 0, addAggregatePoint rejects any value with one of the high 32
// bits set (it would be milliseconds).
const (
	minOpenTSDBTimestamp = 1
	maxOpenTSDBTimestamp = 1<<32 - 1
)

func (e opentsdbEncoder) Append(dst []byte, r *Rollup) ([]byte, DropReason) {
	series := e.checkSeries(r.Metric, r.Tags)
	if reason := valueReason(r.Value, r.Start, r.Aggregator, series); reason != DropNone {
		return dst, reason
	}
	dst = appendOpenTSDBHead(dst, r.Metric, r.Start)
	dst = appendOpenTSDBValue(dst, r.Value)
	dst = appendOpenTSDBTail(dst, r.Tags, r.Step)
	return appendOpenTSDBEnd(dst, r.Aggregator), DropNone
}

// Framing: opentsdb-rpc-kafka reads a JSON array of Aggregate objects
// per record.
func (opentsdbEncoder) Framing() Framing {
	return Framing{Begin: []byte("["), Sep: []byte(","), End: []byte("]")}
}

func (e opentsdbEncoder) AppendWindow(dst []byte, w *Window, sep []byte, drops []uint64) ([]byte, int) {
	metric, tail, series := e.windowSeries(w)
	n := 0
	var head, headEnd int
	var written writtenValues
	for _, v := range w.Values {
		if reason := valueReason(v.Value, w.Start, v.Aggregator, series); reason != DropNone {
			drops[reason]++
			continue
		}
		if n == 0 {
			head = len(dst)
			dst = appendOpenTSDBHead(dst, metric, w.Start)
			headEnd = len(dst)
		} else {
			// Copy the head written for the first value.
			dst = append(dst, dst[head:headEnd]...)
		}
		dst = written.append(dst, v.Value, appendOpenTSDBValue)
		dst = append(dst, tail...)
		dst = appendOpenTSDBEnd(dst, v.Aggregator)
		dst = append(dst, sep...)
		n++
	}
	return dst, n
}

// windowSeries returns the window's metric, its tail (the bytes from the
// closing quote of the value up to "aggregator":) and the verdict on the
// series. The tail and the tags' verdict come from the window's tail
// cache when the previous window had the same tags and step, as the
// fields of one line do; only the metric is checked again.
func (e opentsdbEncoder) windowSeries(w *Window) (metric, tail []byte, series DropReason) {
	metric, t, hit := w.tailFor(tailOpenTSDB, 0)
	if !hit {
		w.Split()
		metric = w.Metric
		t.bytes = appendOpenTSDBTail(t.bytes, w.Tags, w.Step)
		t.ntags, t.reason = len(w.Tags), checkTagNames(w.Tags)
	}
	return metric, t.bytes, e.verdict(metric, t.ntags, t.reason)
}

// checkSeries returns why OpenTSDB would reject any rollup of this series,
// or DropNone.
func (e opentsdbEncoder) checkSeries(metric []byte, tags []Tag) DropReason {
	return e.verdict(metric, len(tags), checkTagNames(tags))
}

// verdict combines the checks of the series in their fixed order: the
// number of tags, the metric's characters, then the tags' own verdict
// (checkTagNames). The character scans are last, being the most
// expensive.
func (e opentsdbEncoder) verdict(metric []byte, ntags int, tagsVerdict DropReason) DropReason {
	switch {
	case ntags == 0:
		return DropNoTags
	case ntags > e.maxTags:
		return DropTooManyTags
	case !validOpenTSDBName(metric):
		return DropBadChar
	}
	return tagsVerdict
}

// checkTagNames returns why OpenTSDB would reject these tags whatever
// their number: a character it does not allow, or the _aggregate tag.
func checkTagNames(tags []Tag) DropReason {
	for i := range tags {
		if !validOpenTSDBName(tags[i].Key) || !validOpenTSDBName(tags[i].Value) {
			return DropBadChar
		}
	}
	for i := range tags {
		if string(tags[i].Key) == aggTagKey {
			return DropAggTag
		}
	}
	return DropNone
}

// valueReason combines the per-value checks with the series verdict in one
// fixed order, so Append and AppendWindow report the same reason.
func valueReason(v float64, start int64, agg string, series DropReason) DropReason {
	switch {
	case !isFinite(v):
		return DropNonFinite
	case start < minOpenTSDBTimestamp || start > maxOpenTSDBTimestamp:
		return DropTimestamp
	// The TSD upper-cases the aggregator and blocks AVG and DEV
	// (tsd.rollups.block_derived); RollUpDataPoint.validate accepts any
	// case, so compare without case too.
	case strings.EqualFold(agg, "avg") || strings.EqualFold(agg, "dev"):
		return DropDerivedAgg
	}
	return series
}

// appendOpenTSDBHead writes the object up to the opening quote of "value".
// Names are copied raw: the characters validOpenTSDBName allows never need
// escaping in a JSON string (no '"', '\', control characters, U+2028 or
// U+2029) and are valid UTF-8.
func appendOpenTSDBHead(dst, metric []byte, start int64) []byte {
	dst = append(dst, `{"type":"Aggregate","metric":"`...)
	dst = append(dst, metric...)
	dst = append(dst, `","timestamp":`...)
	dst = appendUint32(dst, uint32(start))
	return append(dst, `,"value":"`...)
}

// appendOpenTSDBTail writes from the closing quote of "value" up to and
// including `"aggregator":`.
func appendOpenTSDBTail(dst []byte, tags []Tag, step string) []byte {
	dst = append(dst, `","tags":{`...)
	for i := range tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, tags[i].Key...)
		dst = append(dst, `":"`...)
		dst = append(dst, tags[i].Value...)
		dst = append(dst, '"')
	}
	dst = append(dst, `},"interval":`...)
	// Step and Aggregator come from configuration, not from validated data:
	// escape them so that a bad config string cannot break the JSON.
	dst = appendJSONString(dst, step)
	return append(dst, `,"aggregator":`...)
}

func appendOpenTSDBEnd(dst []byte, agg string) []byte {
	dst = appendJSONString(dst, agg)
	return append(dst, '}')
}

// appendUint32 is strconv.AppendUint for the timestamp, which always has 1 to
// 10 digits.
func appendUint32(dst []byte, v uint32) []byte {
	var buf [10]byte
	i := len(buf)
	for v >= 10 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	buf[i] = byte('0' + v)
	return append(dst, buf[i:]...)
}

// opentsdbNameASCII marks the ASCII characters Tags.validateString accepts in
// metric names, tag keys and tag values: a-z A-Z 0-9 - _ . /
// (tsd.core.tag.allow_specialchars can add more on the TSD; we do not assume
// any, so output stays valid for a default TSD).
var opentsdbNameASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'], t['.'], t['/'] = true, true, true, true
	return t
}()

// validOpenTSDBName reports whether Tags.validateString accepts s and s is
// not empty.
//
// Beyond ASCII, Java accepts a char c when Character.isLetter(c), and it
// walks the string by UTF-16 code unit: a letter outside the Basic
// Multilingual Plane (e.g. U+1D400 MATHEMATICAL BOLD CAPITAL A) arrives as two
// surrogates, neither of which is a letter, so it is rejected. Hence
// unicode.IsLetter on runes up to U+FFFF only. Letters are categories L*, so
// digits of other scripts (U+0663), combining marks (U+0301) and U+FFFD are
// not letters, which also rejects invalid UTF-8 (decoded as U+FFFD).
//
// Known gap: Java's tables follow the Unicode version of the TSD's JVM
// (6.2 for Java 8), Go's are newer, so a BMP letter added to Unicode since
// then passes here and fails on an old TSD.
func validOpenTSDBName(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !opentsdbNameASCII[c] {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r > 0xFFFF || !unicode.IsLetter(r) {
			return false
		}
		i += size
	}
	return true
}

// opentsdbUnitSeconds maps the units DateTime.parseDuration knows (besides
// "ms") to seconds. OpenTSDB's month is 30 days and its year 365 days.
var opentsdbUnitSeconds = map[byte]int64{
	's': 1,
	'm': 60,
	'h': 60 * 60,
	'd': 24 * 60 * 60,
	'w': 7 * 24 * 60 * 60,
	'n': 30 * 24 * 60 * 60,
	'y': 365 * 24 * 60 * 60,
}

// ValidateOpenTSDBInterval reports whether step (as written by the operator) is an interval
// string OpenTSDB's rollup config can match: one positive integer followed by one unit of s m h d w n y
// (DateTime.parseDuration); compound Go durations like "1h30m" are not. Returns a descriptive error.
//
// The TSD looks the "interval" of each Aggregate up in tsd.rollups.config by
// exact string, so step is also what must appear there ("60m" does not match
// "1h"). This check is stricter than parseDuration in three ways, all to keep
// the string unambiguous: ASCII digits only (Java also takes other scripts'
// digits), lower-case units only (Java lower-cases, so "1M" would mean
// minutes, not months), and no "ms" (RollupInterval needs whole seconds).
func ValidateOpenTSDBInterval(step string) error {
	const want = `want a positive integer and one unit of s, m, h, d, w, n (30 days) or y (365 days), like "1m" or "1h"`
	if step == "" {
		return fmt.Errorf("invalid opentsdb interval: empty; %s", want)
	}
	i := 0
	for i < len(step) && '0' <= step[i] && step[i] <= '9' {
		i++
	}
	if i == 0 {
		return fmt.Errorf("invalid opentsdb interval %q: does not start with a number; %s", step, want)
	}
	unit := step[i:]
	if unit == "" {
		return fmt.Errorf("invalid opentsdb interval %q: no unit; %s", step, want)
	}
	if unit == "ms" {
		return fmt.Errorf("invalid opentsdb interval %q: milliseconds are not supported for rollups; %s", step, want)
	}
	unitSeconds, ok := opentsdbUnitSeconds[unit[0]]
	if len(unit) != 1 || !ok {
		if len(unit) == 1 && opentsdbUnitSeconds[unit[0]|0x20] != 0 {
			return fmt.Errorf("invalid opentsdb interval %q: unit must be lower case; %s", step, want)
		}
		return fmt.Errorf("invalid opentsdb interval %q: compound or unknown unit %q; %s", step, unit, want)
	}
	// RollupInterval keeps the interval in seconds in a Java int and rejects
	// Integer.MAX_VALUE and up.
	const maxSeconds = 1<<31 - 2
	var n int64
	for _, c := range step[:i] {
		n = n*10 + int64(c-'0')
		if n > maxSeconds {
			break
		}
	}
	if n == 0 {
		return fmt.Errorf("invalid opentsdb interval %q: must be positive; %s", step, want)
	}
	if n > maxSeconds/unitSeconds {
		return fmt.Errorf("invalid opentsdb interval %q: longer than %d seconds, which OpenTSDB cannot store", step, int64(maxSeconds))
	}
	return nil
}
