package emit

import (
	"encoding/json"
	"testing"
)

func TestOpenTSDBRollupConfig(t *testing.T) {
	got, err := OpenTSDBRollupConfig([]OpenTSDBArchive{
		{"10s", []string{"sum", "count", "avg"}}, {"15m", []string{"sum", "count", "max"}}, {"1h", []string{"min"}}, {"1d", []string{"last"}},
	}, OpenTSDBConfigOptions{RawInterval: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "aggregationIds": {
    "count": 1,
    "last": 4,
    "max": 3,
    "min": 2,
    "sum": 0
  },
  "intervals": [
    {
      "table": "tsdb",
      "preAggregationTable": "tsdb-preagg",
      "interval": "1s",
      "rowSpan": "1h",
      "defaultInterval": true
    },
    {
      "table": "tsdb-rollup-10s",
      "preAggregationTable": "tsdb-rollup-preagg-10s",
      "interval": "10s",
      "rowSpan": "1h"
    },
    {
      "table": "tsdb-rollup-15m",
      "preAggregationTable": "tsdb-rollup-preagg-15m",
      "interval": "15m",
      "rowSpan": "1d"
    },
    {
      "table": "tsdb-rollup-1h",
      "preAggregationTable": "tsdb-rollup-preagg-1h",
      "interval": "1h",
      "rowSpan": "1d"
    },
    {
      "table": "tsdb-rollup-1d",
      "preAggregationTable": "tsdb-rollup-preagg-1d",
      "interval": "1d",
      "rowSpan": "1n"
    }
  ]
}`
	if string(got) != want {
		t.Fatalf("got\n%s", got)
	}
	// OpenTSDB's checks (RollupConfig, RollupInterval): ids unique in
	// 0..127, exactly one default, interval < row span, 12..7774 per row.
	var cfg struct {
		AggregationIDs map[string]int `json:"aggregationIds"`
		Intervals      []struct {
			Interval, RowSpan string
			DefaultInterval   bool
		} `json:"intervals"`
	}
	if err := json.Unmarshal(got, &cfg); err != nil {
		t.Fatal(err)
	}
	ids, defaults := map[int]bool{}, 0
	for _, id := range cfg.AggregationIDs {
		if id < 0 || id > 127 || ids[id] {
			t.Fatalf("bad or repeated id %d", id)
		}
		ids[id] = true
	}
	spans := map[string]int64{"1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "12h": 43200, "1d": 86400, "1n": 2592000, "1y": 31536000}
	for _, iv := range cfg.Intervals {
		if iv.DefaultInterval {
			defaults++
		}
		n := spans[iv.RowSpan] / openTSDBSeconds(iv.Interval)
		if n < 12 || n > 7774 {
			t.Fatalf("%s in %s: %d per row", iv.Interval, iv.RowSpan, n)
		}
	}
	if defaults != 1 {
		t.Fatalf("%d default intervals", defaults)
	}
	for _, bad := range [][]OpenTSDBArchive{
		{{"1m", []string{"sum"}}},    // same as the raw interval
		{{"1h30m", []string{"sum"}}}, // not an OpenTSDB interval
		{{"1y", []string{"sum"}}},    // no row span holds 12
		{{"5m", []string{"avg"}}},    // nothing stored
	} {
		if _, err := OpenTSDBRollupConfig(bad, OpenTSDBConfigOptions{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
