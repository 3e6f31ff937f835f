package window

import "math"

// Stream tracks the watermark of one input stream (a Kafka partition, or the
// whole offline input) and judges lateness against it alone, so what is
// counted depends only on that stream's order, never on thread timing.
type Stream struct {
	fineStep int64
	lateness int64
	max      int64
	seen     bool
	// onTimeFrom is the start of the finest window containing the
	// watermark: a point is on time iff t >= onTimeFrom (its window ends
	// after the watermark). Recomputed only when max moves, so the
	// per-point test is one comparison.
	onTimeFrom int64
}

// NewStream returns a stream with nothing seen yet.
func NewStream(c *Config) Stream {
	return Stream{fineStep: c.FineStep(), lateness: int64(c.Lateness), max: math.MinInt64, onTimeFrom: math.MinInt64}
}

// Accept observes a valid point at t (Unix ns) and reports whether it is on
// time: false when the finest window containing t ends at or before the
// stream's watermark. Only valid points (numeric, finite, not too far in the
// future) may be passed, so bad input never moves a watermark.
func (s *Stream) Accept(t int64) bool {
	if t > s.max || !s.seen {
		s.max, s.seen = t, true
		s.onTimeFrom = WindowStart(s.Watermark(), s.fineStep)
	}
	return t >= s.onTimeFrom
}

// Crosses reports whether accepting a point at t would move the stream
// watermark into a later finest window, i.e. let at least one more window
// close. Callers flush before such a point so the window closes before the
// next one fills, which keeps one open window per series in steady state.
func (s *Stream) Crosses(t int64) bool {
	if !s.seen {
		return true
	}
	if t <= s.max {
		return false
	}
	return WindowStart(sub(t, s.lateness), s.fineStep) > s.onTimeFrom
}

// Watermark returns the stream watermark: newest timestamp minus lateness, or
// math.MinInt64 if the stream has delivered nothing.
func (s *Stream) Watermark() int64 {
	if !s.seen {
		return math.MinInt64
	}
	return sub(s.max, s.lateness)
}

// sub returns t - d (d >= 0), saturating at math.MinInt64.
func sub(t, d int64) int64 {
	if t < math.MinInt64+d {
		return math.MinInt64
	}
	return t - d
}

// WindowStart returns the start of the epoch-aligned window of length step
// containing t (floor division, also for negative t). Times in the first
// step after math.MinInt64 (the year 1677) have no aligned start that fits
// in an int64; they all map to math.MinInt64.
func WindowStart(t, step int64) int64 {
	m := t % step
	if m < 0 {
		m += step
	}
	return sub(t, m)
}

// State returns what a checkpoint keeps of the stream: its newest
// timestamp and whether it has seen a point at all.
func (s *Stream) State() (newest int64, seen bool) { return s.max, s.seen }

// RestoreStream returns a stream as a checkpoint left it (see State).
func RestoreStream(c *Config, newest int64, seen bool) Stream {
	s := NewStream(c)
	if seen {
		s.max, s.seen = newest, true
		s.onTimeFrom = WindowStart(s.Watermark(), s.fineStep)
	}
	return s
}
