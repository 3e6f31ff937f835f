package emit

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// influxEncoder writes InfluxDB line protocol, one line per series, window
// and archive with one field per aggregator, as Telegraf's parser and
// line-protocol v2 read it back:
//
//	cpu_usage_idle,host=h1,step=1m count=6i,sum=512.5 1700000040000000000\n
//
// The metric is the measurement; the archive step is a tag (StepTag,
// default "step", placed in key order); count is an integer field, the
// other aggregators floats in their shortest exact form; the timestamp is
// the window start in nanoseconds. Names are escaped as line protocol
// wants (measurement: ',' and ' '; tag keys, values and field keys: ',',
// '=' and ' '). Rollups that no reader could take back are dropped: a
// non-finite value (line protocol has none), a name with a control byte,
// invalid UTF-8 or a trailing backslash, a measurement starting with '#'
// (a comment line), or a series that already has a tag named like the
// step tag.
type influxEncoder struct {
	stepTag string
}

// DefaultInfluxStepTag names the tag that carries the archive step.
const DefaultInfluxStepTag = "step"

func (e influxEncoder) Append(dst []byte, r *Rollup) ([]byte, DropReason) {
	return appendOne(e, dst, r)
}

// Framing: lines end themselves.
func (influxEncoder) Framing() Framing { return Framing{} }

func (e influxEncoder) AppendWindow(dst []byte, w *Window, sep []byte, drops []uint64) ([]byte, int) {
	metric, tags, ok := e.windowSeries(w)
	if !ok || len(metric) == 0 || metric[0] == '#' || metric[len(metric)-1] == '\\' ||
		w.Start > math.MaxInt64/int64(time.Second) || w.Start < math.MinInt64/int64(time.Second) {
		drops[DropInfluxBadName] += uint64(len(w.Values))
		return dst, 0
	}
	mark := len(dst)
	// The metric is checked while it is escaped: one pass over it.
	if dst, ok = appendInfluxName(dst, metric, &influxMeasurementClass); !ok {
		drops[DropInfluxBadName] += uint64(len(w.Values))
		return dst[:mark], 0
	}
	dst = append(dst, tags...)
	n := 0
	var written writtenValues
	for _, v := range w.Values {
		if !isFinite(v.Value) {
			drops[DropNonFinite]++
			continue
		}
		if n == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst = append(dst, v.Aggregator...) // sum, count, ...: nothing to escape
		dst = append(dst, '=')
		if v.Aggregator == "count" && v.Value == float64(int64(v.Value)) {
			dst = strconv.AppendInt(dst, int64(v.Value), 10)
			dst = append(dst, 'i')
		} else {
			dst = written.append(dst, v.Value, appendFloatG)
		}
		n++
	}
	if n == 0 {
		return dst[:mark], 0
	}
	dst = append(dst, ' ')
	if w.Start != 0 {
		dst = append(dst, w.StartText()...) // in seconds: nanoseconds are nine zeros more
		dst = append(dst, "000000000"...)
	} else {
		dst = append(dst, '0')
	}
	dst = append(dst, '\n')
	return append(dst, sep...), n
}

// windowSeries returns the window's metric, its tags as written after
// the metric (the step tag among them, in key order) and whether a reader
// would take them. The tags come from the window's tail cache when the
// previous window had the same tags and step, as the fields of one line
// do; only the metric is checked and escaped again.
func (e influxEncoder) windowSeries(w *Window) (metric, tags []byte, ok bool) {
	metric, t, hit := w.tailFor(tailInflux, 0)
	if !hit {
		w.Split()
		metric = w.Metric
		if t.bytes, ok = e.appendTags(t.bytes, w.Tags, w.Step); !ok {
			t.reason = DropInfluxBadName
		}
	}
	return metric, t.bytes, t.reason == DropNone
}

// appendTags writes ",key=value" for every tag and the step tag in key
// order, escaped, and reports false for tags a line-protocol reader would
// reject or misread: an empty key or value, a control byte, invalid
// UTF-8, a trailing backslash, or a tag named like the step tag.
func (e influxEncoder) appendTags(dst []byte, tags []Tag, step string) ([]byte, bool) {
	stepDone := false
	for _, t := range tags {
		if len(t.Key) == 0 || len(t.Value) == 0 || t.Key[len(t.Key)-1] == '\\' || t.Value[len(t.Value)-1] == '\\' ||
			string(t.Key) == e.stepTag {
			return dst, false
		}
		if !stepDone && string(t.Key) > e.stepTag {
			dst = e.appendStep(dst, step)
			stepDone = true
		}
		dst = append(dst, ',')
		var ok bool
		if dst, ok = appendInfluxName(dst, t.Key, &influxTagClass); !ok {
			return dst, false
		}
		dst = append(dst, '=')
		if dst, ok = appendInfluxName(dst, t.Value, &influxTagClass); !ok {
			return dst, false
		}
	}
	if !stepDone {
		dst = e.appendStep(dst, step)
	}
	return dst, true
}

func (e influxEncoder) appendStep(dst []byte, step string) []byte {
	dst = append(dst, ',')
	dst = append(dst, e.stepTag...)
	dst = append(dst, '=')
	return append(dst, step...) // a duration: nothing to escape
}

// influxNameOK reports whether s has no control byte, does not end in a
// backslash and is valid UTF-8 (for the step tag's name).
func influxNameOK(s []byte) bool {
	if len(s) == 0 || s[len(s)-1] == '\\' || !utf8.Valid(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// Byte classes of appendInfluxName.
const (
	influxCopy   = iota
	influxEscape // written after a backslash
	influxBad    // a control byte: no reader takes it
	influxHigh   // part of a multi-byte sequence: the name's UTF-8 is checked
)

var (
	influxMeasurementClass = influxClasses(", ")
	influxTagClass         = influxClasses(",= ")
)

func influxClasses(escapes string) (t [256]uint8) {
	for c := range t {
		switch {
		case c < 0x20 || c == 0x7f:
			t[c] = influxBad
		case c >= utf8.RuneSelf:
			t[c] = influxHigh
		}
	}
	for i := 0; i < len(escapes); i++ {
		t[escapes[i]] = influxEscape
	}
	return t
}

// appendInfluxName appends s with the bytes that end a name escaped by a
// backslash, and reports false for a name with a control byte or invalid
// UTF-8. A backslash in s needs nothing: readers keep one that is not
// followed by an escapable byte, and one that is comes out right too
// ("a\\,b" is read as a, backslash, comma, b). Only a trailing backslash
// cannot be written (it would escape the separator); checkSeries drops
// such names.
func appendInfluxName(dst, s []byte, class *[256]uint8) ([]byte, bool) {
	high := false
	for _, c := range s {
		switch class[c] {
		case influxCopy:
		case influxEscape:
			dst = append(dst, '\\')
		case influxBad:
			return dst, false
		case influxHigh:
			high = true
		}
		dst = append(dst, c)
	}
	return dst, !high || utf8.Valid(s)
}
