package peers

import (
	"sort"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/aggregators"
	"github.com/influxdata/telegraf/plugins/aggregators/basicstats"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
)

// telegrafStats are basicstats' names for the five aggregates, in the
// order of aggNames.
var telegrafStats = []string{"sum", "count", "min", "max", "last"}

// runTelegraf parses buf with Telegraf's influx parser a block at a time
// and adds every metric to a basicstats aggregator; at each minute
// boundary of event time it pushes the aggregates into an accumulator
// that counts them, and resets, as Telegraf's RunningAggregator does at
// the end of each period. It returns the number of aggregate field values
// pushed.
//
// Not included: RunningAggregator itself (its metric filters, the copy
// of each metric, its lock), which is wall-clock driven.
func runTelegraf(buf []byte, rec recorder) (int, error) {
	p := &influx.Parser{}
	if err := p.Init(); err != nil {
		return 0, err
	}
	bs := aggregators.Aggregators["basicstats"]().(*basicstats.BasicStats)
	bs.Stats = telegrafStats
	if err := bs.Init(); err != nil {
		return 0, err
	}
	acc := &countingAccumulator{rec: rec}
	windowEnd := int64(-1)
	var err error
	forEachBlock(buf, blockSize, func(block []byte) {
		if err != nil {
			return
		}
		var ms []telegraf.Metric
		ms, err = p.Parse(block)
		for _, m := range ms {
			if ts := m.Time().UnixNano(); ts >= windowEnd {
				if windowEnd >= 0 {
					bs.Push(acc)
					bs.Reset()
				}
				acc.window = windowStart(ts) / 1e9
				windowEnd = windowStart(ts) + int64(step)
			}
			bs.Add(m)
		}
	})
	if err != nil {
		return 0, err
	}
	bs.Push(acc)
	bs.Reset()
	return acc.outputs, nil
}

// countingAccumulator counts the fields pushed to it (and records them for
// the agreement test). Only AddFields is used by basicstats.
type countingAccumulator struct {
	outputs int
	window  int64 // Unix s
	rec     recorder
}

func (a *countingAccumulator) AddFields(name string, fields map[string]any, tags map[string]string, _ ...time.Time) {
	a.outputs += len(fields)
	if a.rec == nil {
		return
	}
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		keys = append(keys, ","+k+"="+v)
	}
	sort.Strings(keys)
	for k, v := range fields {
		// field_stat; the stat names have no underscore.
		i := strings.LastIndexByte(k, '_')
		var f float64
		switch v := v.(type) {
		case float64:
			f = v
		case int64:
			f = float64(v)
		}
		a.rec(a.window, k[i+1:], name+"_"+k[:i]+strings.Join(keys, ""), f)
	}
}

func (a *countingAccumulator) AddGauge(name string, f map[string]any, t map[string]string, ts ...time.Time) {
	a.AddFields(name, f, t, ts...)
}

func (a *countingAccumulator) AddCounter(name string, f map[string]any, t map[string]string, ts ...time.Time) {
	a.AddFields(name, f, t, ts...)
}

func (a *countingAccumulator) AddSummary(name string, f map[string]any, t map[string]string, ts ...time.Time) {
	a.AddFields(name, f, t, ts...)
}

func (a *countingAccumulator) AddHistogram(name string, f map[string]any, t map[string]string, ts ...time.Time) {
	a.AddFields(name, f, t, ts...)
}

func (a *countingAccumulator) AddMetric(m telegraf.Metric) {
	a.AddFields(m.Name(), m.Fields(), m.Tags(), m.Time())
}

func (*countingAccumulator) SetPrecision(time.Duration) {}

func (*countingAccumulator) AddError(error) {}

func (*countingAccumulator) WithTracking(int) telegraf.TrackingAccumulator { return nil }
