package fastparse

import (
	"fmt"
	"math"
)

// Precision is the unit of the timestamps in the input. It is out of band:
// nothing in a line says which unit its timestamp uses.
type Precision int8

// The supported precisions, as in line-protocol v2.
const (
	Nanosecond Precision = iota
	Microsecond
	Millisecond
	Second
)

// precisionNames are the spellings accepted by ParsePrecision and returned
// by String, indexed by Precision.
var precisionNames = [...]string{"ns", "us", "ms", "s"}

// precisionNanos is the length of one unit in nanoseconds, indexed by
// Precision.
var precisionNanos = [...]int64{1, 1e3, 1e6, 1e9}

// ParsePrecision parses "ns", "us", "ms" or "s". Nothing else is accepted
// (no "n", "u" or "µs"), so a configuration typo is reported rather than
// guessed at.
func ParsePrecision(s string) (Precision, error) {
	for p, name := range precisionNames {
		if s == name {
			return Precision(p), nil
		}
	}
	return 0, fmt.Errorf("unknown timestamp precision %q (valid values: ns, us, ms, s)", s)
}

// String returns "ns", "us", "ms" or "s" (ParsePrecision's input).
func (p Precision) String() string {
	if p.valid() {
		return precisionNames[p]
	}
	return fmt.Sprintf("Precision(%d)", int8(p))
}

func (p Precision) valid() bool {
	return p >= Nanosecond && p <= Second
}

// toNanos scales a timestamp in unit p to nanoseconds. It reports false when
// the result does not fit in an int64 (v2 rejects such timestamps).
func (p Precision) toNanos(x int64) (int64, bool) {
	m := precisionNanos[p]
	if m == 1 {
		return x, true
	}
	// Division truncates towards zero, so these are the exact bounds of x*m.
	if x > math.MaxInt64/m || x < math.MinInt64/m {
		return 0, false
	}
	return x * m, true
}

// truncate rounds the Unix nanosecond time ns down to a multiple of p, as
// v2's Decoder.Time does for the default time with
// time.Time.Truncate(prec.Duration()). That rounds down towards the zero
// time (year 1), which for these units is the same as rounding down (not
// towards zero) in Unix time, so -1ns truncates to -1s. Near the int64
// bounds the result wraps exactly as time.Time.UnixNano's does.
func (p Precision) truncate(ns int64) int64 {
	m := precisionNanos[p]
	r := ns % m
	if r < 0 {
		r += m
	}
	return ns - r
}
