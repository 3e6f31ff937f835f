package window

import "math"

// Agg is the state of one series in one window: 64 bytes, enough for every
// aggregator, so that one record type serves fine and coarse windows and a
// checkpoint can copy records verbatim. Count == 0 means empty.
type Agg struct {
	Sum       float64
	Count     uint64
	Min       float64
	Max       float64
	First     float64
	FirstTime int64 // Unix ns of First
	Last      float64
	LastTime  int64 // Unix ns of Last
}

// Add folds one point in. Ties on time keep the earlier arrival as first and
// the later arrival as last.
func (a *Agg) Add(t int64, v float64) {
	if a.Count == 0 {
		// 0 + v, not v: a sum starts from zero, so -0 sums to +0 as in
		// any running-total reference.
		*a = Agg{Sum: 0 + v, Count: 1, Min: v, Max: v, First: v, FirstTime: t, Last: v, LastTime: t}
		return
	}
	a.Sum += v
	a.Count++
	if v < a.Min {
		a.Min = v
	}
	if v > a.Max {
		a.Max = v
	}
	if t < a.FirstTime {
		a.First, a.FirstTime = v, t
	}
	if t >= a.LastTime {
		a.Last, a.LastTime = v, t
	}
}

// Merge folds in b, an aggregate of a later window (b's points are all newer
// than a's, which keeps first/last exact and sums in time order).
func (a *Agg) Merge(b *Agg) {
	if b.Count == 0 {
		return
	}
	if a.Count == 0 {
		*a = *b
		return
	}
	a.Sum += b.Sum
	a.Count += b.Count
	// Plain comparisons, as in Add, so that +0/-0 ties keep the earlier
	// value in coarse windows exactly as they do within a fine window.
	if b.Min < a.Min {
		a.Min = b.Min
	}
	if b.Max > a.Max {
		a.Max = b.Max
	}
	if b.FirstTime < a.FirstTime {
		a.First, a.FirstTime = b.First, b.FirstTime
	}
	if b.LastTime >= a.LastTime {
		a.Last, a.LastTime = b.Last, b.LastTime
	}
}

// Value returns the value of one aggregator.
func (a *Agg) Value(g Aggregator) float64 {
	switch g {
	case Sum:
		return a.Sum
	case Count:
		return float64(a.Count)
	case Min:
		return a.Min
	case Max:
		return a.Max
	case First:
		return a.First
	case Last:
		return a.Last
	case Avg:
		return a.Sum / float64(a.Count)
	}
	return math.NaN()
}
