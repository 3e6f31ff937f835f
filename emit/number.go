package emit

import (
	"math"
	"strconv"
)

// appendJSONFloat appends v exactly as encoding/json writes a float64, so that
// our output is byte-identical to json.Marshal (property-tested in
// number_test.go): the shortest representation that round-trips, in 'f'
// form for 1e-6 <= |v| < 1e21 (and for 0), else in 'e' form with a one-digit
// negative exponent shortened ("1e-07" -> "1e-7"; positive ones stay
// "1e+21"). Integral values print without a decimal point and -0 as "-0".
// v must be finite; the caller checks.
func appendJSONFloat(dst []byte, v float64) []byte {
	// Integers below 2^53 are the common case (counts, and sums, minima
	// and maxima of integer fields). Each is exactly representable and
	// its neighbours are at most 1 apart, so the shortest decimal that
	// round-trips is its own digits: AppendInt writes the same bytes as
	// AppendFloat, in a fraction of the time. -0 keeps its sign.
	if i := int64(v); float64(i) == v && i > -1<<53 && i < 1<<53 && (i != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(dst, i, 10)
	}
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, v, format, -1, 64)
	if format == 'e' {
		// strconv always writes at least two exponent digits; encoding/json
		// drops the leading zero of a negative one ("e-07" -> "e-7").
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// Bounds of the float64 values that convert to int64 exactly: -2^63 is
// representable, 2^63 is not.
const (
	minInt64Float = -9223372036854775808.0 // -2^63
	maxInt64Float = 9223372036854775808.0  // 2^63, exclusive
)

// appendOpenTSDBValue appends v as the text OpenTSDB's Kafka consumer parses
// (the Aggregate "value" string, without quotes).
//
// The consumer decides the type from the text: no '.', 'e' or 'E' means
// Long.parseLong, which throws on anything outside int64 and would abort the
// whole Kafka record; otherwise Double.parseDouble (stored as a float32 when
// that is exact). So:
//   - an integral v in int64 range prints as an integer ("12", "-0" -> "0"),
//     stored by OpenTSDB as an exact integer;
//   - an integral v outside int64 range (|v| >= 2^63, e.g. 1e20) must carry an
//     exponent: strconv's 'e' form ("1e+20"), which Java accepts;
//   - anything else is not integral, so the JSON form already contains '.' or
//     'e' ("12.5", "1e-7").
//
// v must be finite; the caller checks.
func appendOpenTSDBValue(dst []byte, v float64) []byte {
	if v == math.Trunc(v) {
		if v >= minInt64Float && v < maxInt64Float {
			return strconv.AppendInt(dst, int64(v), 10)
		}
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return appendJSONFloat(dst, v)
}

// appendFloatG appends v in its shortest exact 'g' form, as line protocol
// and carbon readers take it.
func appendFloatG(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// writtenValues remembers where the values of one window were written, so
// that an encoder copies a repeated value instead of formatting it again:
// an aggregator's value often repeats another's (min or max is first or
// last; every aggregator of a one-point window has the same value), and a
// copy is much cheaper than shortest-float formatting. Values are the
// same when their bits are: 0 and -0 are written differently.
type writtenValues struct {
	n    int
	vals [8]struct {
		bits     uint64
		from, to int
	}
}

// append appends v as format writes it, copying the bytes written for an
// earlier value with the same bits if there is one. dst must be the
// buffer the earlier values were written to.
func (w *writtenValues) append(dst []byte, v float64, format func([]byte, float64) []byte) []byte {
	bits := math.Float64bits(v)
	for _, d := range w.vals[:w.n] {
		if d.bits == bits {
			return append(dst, dst[d.from:d.to]...)
		}
	}
	from := len(dst)
	dst = format(dst, v)
	if w.n < len(w.vals) { // past eight values it forgets: windows rarely have more
		w.vals[w.n].bits, w.vals[w.n].from, w.vals[w.n].to = bits, from, len(dst)
		w.n++
	}
	return dst
}

// isFinite reports whether v is neither NaN nor +-Inf. v-v is 0 for every
// finite v and NaN otherwise; one compare, no branches on the bit pattern.
func isFinite(v float64) bool { return v-v == 0 }
