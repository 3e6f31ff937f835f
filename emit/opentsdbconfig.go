package emit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// OpenTSDBArchive is one archive as the OpenTSDB rollup config sees it.
type OpenTSDBArchive struct {
	Interval    string   // the step as written ("1m"), the Aggregate's interval
	Aggregators []string // "sum", "count", ...
}

// OpenTSDBConfigOptions name the HBase tables of the config.
type OpenTSDBConfigOptions struct {
	// RawInterval is the interval of the raw data table (the one
	// defaultInterval entry). Default "1m".
	RawInterval string
	// RawTable and RawPreAggTable name the raw tables. Defaults "tsdb"
	// and "tsdb-preagg".
	RawTable, RawPreAggTable string
	// TablePrefix starts each archive's table names: <prefix><interval>
	// and <prefix>preagg-<interval>. Default "tsdb-rollup-".
	TablePrefix string
}

// openTSDBAggregatorOrder is the order aggregation ids are given in.
var openTSDBAggregatorOrder = []string{"sum", "count", "min", "max", "first", "last"}

// openTSDBRowSpans are the row spans the config uses, shortest first:
// OpenTSDB's own examples' 1h and 1d, then a month and a year. (Even
// multiples of h are allowed too but never needed: 1d holds 12 of up to
// 2h, 1n of up to 60h.)
var openTSDBRowSpans = []struct {
	span    string
	seconds int64
}{
	{"1h", 3600}, {"1d", 86400}, {"1n", 30 * 86400}, {"1y", 365 * 86400},
}

// OpenTSDBRollupConfig returns the tsd.rollups.config JSON (FORMATS.md
// section 2.3) under which OpenTSDB stores these archives' Aggregates and
// picks the right resolution at query time: the aggregation ids of every
// stored aggregator (avg is derived from sum and count at query time, not
// stored), the raw table as the default interval, and a table pair per
// archive with the shortest row span that OpenTSDB accepts for its
// interval (12 to 7774 intervals per row).
func OpenTSDBRollupConfig(archives []OpenTSDBArchive, o OpenTSDBConfigOptions) ([]byte, error) {
	if o.RawInterval == "" {
		o.RawInterval = "1m"
	}
	if o.RawTable == "" {
		o.RawTable = "tsdb"
	}
	if o.RawPreAggTable == "" {
		o.RawPreAggTable = "tsdb-preagg"
	}
	if o.TablePrefix == "" {
		o.TablePrefix = "tsdb-rollup-"
	}
	type interval struct {
		Table               string `json:"table"`
		PreAggregationTable string `json:"preAggregationTable"`
		Interval            string `json:"interval"`
		RowSpan             string `json:"rowSpan"`
		DefaultInterval     bool   `json:"defaultInterval,omitempty"`
	}
	var cfg struct {
		AggregationIDs map[string]int `json:"aggregationIds"`
		Intervals      []interval     `json:"intervals"`
	}
	used := map[string]bool{}
	for _, a := range archives {
		for _, g := range a.Aggregators {
			used[g] = true
		}
	}
	cfg.AggregationIDs = map[string]int{}
	for _, g := range openTSDBAggregatorOrder {
		if used[g] {
			cfg.AggregationIDs[g] = len(cfg.AggregationIDs)
		}
	}
	if len(cfg.AggregationIDs) == 0 {
		return nil, fmt.Errorf("no archive stores an aggregator OpenTSDB keeps (avg is derived from sum and count)")
	}
	add := func(table, preagg, iv string, def bool) error {
		if err := ValidateOpenTSDBInterval(iv); err != nil {
			return err
		}
		sec := openTSDBSeconds(iv)
		for _, rs := range openTSDBRowSpans {
			if n := rs.seconds / sec; sec < rs.seconds && n >= 12 && n <= 7774 {
				cfg.Intervals = append(cfg.Intervals, interval{table, preagg, iv, rs.span, def})
				return nil
			}
		}
		return fmt.Errorf("interval %s: no row span OpenTSDB accepts holds 12 to 7774 of it (1h .. 1y)", iv)
	}
	if err := add(o.RawTable, o.RawPreAggTable, o.RawInterval, true); err != nil {
		return nil, fmt.Errorf("raw interval: %w", err)
	}
	for _, a := range archives {
		if a.Interval == o.RawInterval {
			return nil, fmt.Errorf("archive %s has the raw table's interval; OpenTSDB needs one table per interval (change the raw interval)", a.Interval)
		}
		if err := add(o.TablePrefix+a.Interval, o.TablePrefix+"preagg-"+a.Interval, a.Interval, false); err != nil {
			return nil, fmt.Errorf("archive %s: %w", a.Interval, err)
		}
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// openTSDBSeconds converts a validated OpenTSDB interval to seconds.
func openTSDBSeconds(iv string) int64 {
	n, _ := strconv.ParseInt(strings.TrimRight(iv, "smhdwny"), 10, 64)
	return n * opentsdbUnitSeconds[iv[len(iv)-1]]
}
