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

// Summary formats the counters as one line of key=value pairs, every reason
// included even when zero so that scripts can rely on the keys.
func (c *Counters) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lines=%d points=%d aggregated=%d series=%d rollups=%d", c.Lines, c.Points, c.Aggregated, c.Series, c.Rollups)
	for _, r := range fastparse.AllReasons {
		fmt.Fprintf(&b, " malformed_%s=%d", r, c.Malformed[r])
	}
	fmt.Fprintf(&b, " malformed_line_too_long=%d", c.LineTooLong)
	fmt.Fprintf(&b, " skipped_string_field=%d rejected_non_finite=%d rejected_future=%d dropped_late=%d dropped_closed_early=%d dropped_key_too_long=%d dropped_series_limit=%d",
		c.StringField, c.NonFinite, c.Future, c.Late, c.ClosedEarly, c.KeyTooLong, c.SeriesLimit)
	for _, r := range emit.AllDropReasons {
		fmt.Fprintf(&b, " unemitted_%s=%d", r, c.Dropped[r])
	}
	return b.String()
}
