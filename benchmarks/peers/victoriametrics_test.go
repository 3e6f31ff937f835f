package peers

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/VictoriaMetrics/VictoriaMetrics/lib/bytesutil"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/influx"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/streamaggr"
)

// vmConfig is one 1m aggregation with the five outputs, as vmagent's
// -streamAggr.config would hold it.
//
// streamaggr flushes on a wall-clock ticker and puts every sample into the
// window that is open when it arrives, whatever its timestamp. To cut the
// windows at event-time minutes (as rollup and the Telegraf driver do),
// the driver stops the Aggregators at each minute boundary of the input -
// flush_on_shutdown makes MustStop flush the open window - and loads a new
// one. no_align_flush_to_interval starts the ticker at load time, so an
// Aggregators that lives less than a minute of wall time never ticks.
// The cost of this: every window starts with an empty series map, where a
// long-running vmagent keeps its entries from one flush to the next.
const vmConfig = `
- interval: 1m
  outputs: [sum_samples, count_samples, min, max, last]
  flush_on_shutdown: true
  no_align_flush_to_interval: true
`

// vmOutputs maps streamaggr's output names to rollup's aggregator names.
var vmOutputs = map[string]string{"sum_samples": "sum", "count_samples": "count", "min": "min", "max": "max", "last": "last"}

// vmDriver converts parsed influx rows into prompb time series as
// vmagent's influx handler (app/vmagent/influx/request_handler.go) does -
// __name__ is measurement_field, the tags are labels, one sample per field
// with the timestamp in ms - and pushes them a block at a time.
type vmDriver struct {
	rows      influx.Rows
	tss       []prompb.TimeSeries
	labels    []prompb.Label
	samples   []prompb.Sample
	buf       []byte
	matchIdxs []uint32

	aggr      *streamaggr.Aggregators
	windowEnd int64 // ms; samples at or after it go to the next window
	window    int64 // start of the open window, Unix s (for rec)
	outputs   atomic.Int64
	rec       recorder
}

// runVictoriaMetrics aggregates buf and returns the number of output
// samples streamaggr pushed.
func runVictoriaMetrics(buf []byte, rec recorder) (int, error) {
	d := &vmDriver{rec: rec, windowEnd: -1}
	var err error
	forEachBlock(buf, blockSize, func(block []byte) {
		if err != nil {
			return
		}
		err = d.block(block)
	})
	if err != nil {
		return 0, err
	}
	d.push()
	d.aggr.MustStop()
	return int(d.outputs.Load()), nil
}

func (d *vmDriver) block(block []byte) error {
	// The stream parser hands the parser an unsafe string over its read
	// buffer; block outlives this call, so that is safe here too.
	if err := d.rows.Unmarshal(bytesutil.ToUnsafeString(block), false); err != nil {
		return err
	}
	for i := range d.rows.Rows {
		r := &d.rows.Rows[i]
		ts := r.Timestamp / 1e6 // ns -> ms, as the stream parser does for precision ns
		if ts >= d.windowEnd {
			if err := d.nextWindow(ts); err != nil {
				return err
			}
		}
		nameLen := len(d.buf)
		d.buf = append(d.buf, r.Measurement...)
		d.buf = append(d.buf, '_')
		prefix := len(d.buf) - nameLen
		for j := range r.Fields {
			f := &r.Fields[j]
			start := len(d.buf)
			d.buf = append(d.buf, d.buf[nameLen:nameLen+prefix]...)
			d.buf = append(d.buf, f.Key...)
			lstart := len(d.labels)
			d.labels = append(d.labels, prompb.Label{Name: "__name__", Value: bytesutil.ToUnsafeString(d.buf[start:])})
			for _, t := range r.Tags {
				d.labels = append(d.labels, prompb.Label{Name: t.Key, Value: t.Value})
			}
			d.samples = append(d.samples, prompb.Sample{Timestamp: ts, Value: f.Value})
			d.tss = append(d.tss, prompb.TimeSeries{Labels: d.labels[lstart:], Samples: d.samples[len(d.samples)-1:]})
		}
	}
	d.push()
	return nil
}

// push hands the pending series to the aggregator, which copies what it
// keeps of them (compressed labels), so the buffers are reused after.
// Label values made before an append moved d.buf still point into its
// old array, which nothing writes to any more.
func (d *vmDriver) push() {
	if len(d.tss) > 0 {
		d.matchIdxs = d.aggr.Push(d.tss, d.matchIdxs)
	}
	d.tss, d.labels, d.samples, d.buf = d.tss[:0], d.labels[:0], d.samples[:0], d.buf[:0]
}

// nextWindow flushes the open window and opens the one of ts (ms).
func (d *vmDriver) nextWindow(ts int64) error {
	if d.aggr != nil {
		d.push()
		d.aggr.MustStop() // flushes: pushFunc runs before this returns
	}
	ws := windowStart(ts*1e6) / 1e9
	d.window, d.windowEnd = ws, (ws+int64(step.Seconds()))*1e3
	a, err := streamaggr.LoadFromData([]byte(vmConfig), d.pushFunc, nil, "peers")
	if err != nil {
		return fmt.Errorf("cannot load stream aggregation config: %w", err)
	}
	d.aggr = a
	return nil
}

// pushFunc is where vmagent would encode and send the aggregates; here it
// counts them (and records them for the agreement test).
func (d *vmDriver) pushFunc(tss []prompb.TimeSeries) {
	n := 0
	for _, ts := range tss {
		n += len(ts.Samples)
	}
	d.outputs.Add(int64(n))
	if d.rec == nil {
		return
	}
	for _, ts := range tss {
		var name string
		var tags []string
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
			} else {
				tags = append(tags, ","+l.Name+"="+l.Value)
			}
		}
		// name is input_name:1m_<output>
		i := strings.LastIndex(name, ":1m_")
		agg, ok := vmOutputs[name[i+len(":1m_"):]]
		if i < 0 || !ok {
			panic(fmt.Sprintf("unexpected streamaggr output %q", name))
		}
		sort.Strings(tags)
		for _, s := range ts.Samples {
			d.rec(d.window, agg, name[:i]+strings.Join(tags, ""), s.Value)
		}
	}
}
