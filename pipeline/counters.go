package pipeline

import (
	"fmt"
	"strings"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
)

// Counters are the engine's totals. A stream or shard keeps its own copy
// without atomics; Engine.Counters adds them up.
type Counters struct {
	Lines      uint64 // lines decoded (valid or not; blank and comment lines excluded)
	Points     uint64 // numeric field values on valid lines
	Aggregated uint64 // points folded into a window

	Malformed   [256]uint64 // malformed lines by fastparse.Reason
	LineTooLong uint64      // lines longer than Config.MaxLineBytes, skipped
	StringField uint64      // string field values skipped
	NonFinite   uint64      // NaN/Inf values rejected
	Future      uint64      // points beyond --max-future rejected
	Late        uint64      // points behind their stream's watermark dropped
	ClosedEarly uint64      // points whose window was already closed (not by their own stream)
	KeyTooLong  uint64      // points whose series key exceeds shard.MaxKeyLen
	SeriesLimit uint64      // points of new series refused by Config.MaxSeries

	Rollups uint64      // rollups written
	Dropped [256]uint64 // rollups not encodable, by emit.DropReason
	Series  uint64      // live series at the time of reading (gauge)
	// OpenWindows is the number of open windows of the finest archive
	// (gauge; per shard, so up to Shards times the windows in flight).
	OpenWindows uint64
}

func (c *Counters) add(o *Counters) {
	c.Lines += o.Lines
	c.Points += o.Points
	c.Aggregated += o.Aggregated
	for i := range c.Malformed {
		c.Malformed[i] += o.Malformed[i]
	}
	c.LineTooLong += o.LineTooLong
	c.StringField += o.StringField
	c.NonFinite += o.NonFinite
	c.Future += o.Future
	c.Late += o.Late
	c.ClosedEarly += o.ClosedEarly
	c.KeyTooLong += o.KeyTooLong
	c.SeriesLimit += o.SeriesLimit
	c.Rollups += o.Rollups
	for i := range c.Dropped {
		c.Dropped[i] += o.Dropped[i]
	}
	c.Series += o.Series
	c.OpenWindows += o.OpenWindows
}

// MalformedTotal returns the number of malformed lines.
func (c *Counters) MalformedTotal() uint64 {
	var n uint64
	for _, v := range c.Malformed {
		n += v
	}
	return n + c.LineTooLong
}

// Summary formats the counters as one line of key=value pairs: the
// totals always, every other counter (malformed lines, skipped and dropped
// points, unsendable rollups, by reason) only when it is not zero.
func (c *Counters) Summary() string {
	var b strings.Builder
	for i, kv := range c.SummaryPairs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", kv.Key, kv.Value)
	}
	return b.String()
}

// SummaryPair is one counter of a summary.
type SummaryPair struct {
	Key   string
	Value uint64
}

// SummaryPairs returns what Summary prints, as pairs (for structured logs).
func (c *Counters) SummaryPairs() []SummaryPair {
	out := []SummaryPair{{"lines", c.Lines}, {"points", c.Points}, {"aggregated", c.Aggregated}, {"series", c.Series}, {"rollups", c.Rollups}}
	add := func(key string, v uint64) {
		if v != 0 {
			out = append(out, SummaryPair{key, v})
		}
	}
	for _, r := range fastparse.AllReasons {
		add("malformed_"+r.String(), c.Malformed[r])
	}
	add("malformed_line_too_long", c.LineTooLong)
	add("skipped_string_field", c.StringField)
	add("rejected_non_finite", c.NonFinite)
	add("rejected_future", c.Future)
	add("dropped_late", c.Late)
	add("dropped_closed_early", c.ClosedEarly)
	add("dropped_key_too_long", c.KeyTooLong)
	add("dropped_series_limit", c.SeriesLimit)
	for _, r := range emit.AllDropReasons {
		add("unemitted_"+r.String(), c.Dropped[r])
	}
	return out
}
