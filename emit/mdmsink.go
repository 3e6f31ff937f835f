package emit

import (
	"fmt"
	"time"

	"github.com/valyala/bytebufferpool"
)

// MetrictankOptions configure the metrictank output format.
type MetrictankOptions struct {
	// OrgID of every series. Default 1.
	OrgID uint32
	// Scheme partitions the series as the metrictank cluster expects
	// (its metrics-partition-scheme): bySeries (default), byOrg,
	// bySeriesWithTags or bySeriesWithTagsFnv.
	Scheme string
	// Announce is how often a series' MetricData is sent again, so that
	// a metrictank node that lost its index (a restart) learns it anew.
	// Default 1h, as metrictank's publisher.
	Announce time.Duration
}

// MetrictankSchemes lists the partitioning schemes.
var MetrictankSchemes = []string{"bySeries", "byOrg", "bySeriesWithTags", "bySeriesWithTagsFnv"}

func (m MetrictankOptions) withDefaults() (MetrictankOptions, error) {
	if m.OrgID == 0 {
		m.OrgID = 1
	}
	if m.Scheme == "" {
		m.Scheme = "bySeries"
	}
	ok := false
	for _, s := range MetrictankSchemes {
		ok = ok || s == m.Scheme
	}
	if !ok {
		return m, fmt.Errorf("unknown metrictank partition scheme %q (valid: bySeries, byOrg, bySeriesWithTags, bySeriesWithTagsFnv)", m.Scheme)
	}
	if m.Announce == 0 {
		m.Announce = time.Hour
	}
	if m.Announce < 0 {
		return m, fmt.Errorf("metrictank announce interval %s is negative", m.Announce)
	}
	return m, nil
}

// mdmSeries is what the metrictank format remembers of one rollup series
// (a series, archive and aggregator): its key, its partition (for the
// partition count it was computed for) and when its MetricData last went
// out.
type mdmSeries struct {
	key       [16]byte
	partition int32
	parts     int32
	announced time.Time
}

// mdmState is one shard sink's memory of the series it sent.
type mdmState struct {
	series    map[string]*mdmSeries // by series key, archive and aggregator
	scratch   []byte
	now       time.Time // a coarse clock: set at each flush
	lastPrune time.Time
}

func (m *mdmState) flushed() {
	m.now = time.Now()
}

// prune forgets series not announced for two intervals (gone series: a
// live one is announced every interval), so the map follows the live
// series rather than every series ever seen.
func (m *mdmState) prune(every time.Duration) {
	if m.now.Sub(m.lastPrune) < every {
		return
	}
	m.lastPrune = m.now
	for k, s := range m.series {
		if m.now.Sub(s.announced) > 2*every {
			delete(m.series, k)
		}
	}
}

// windowMDM sends one window's rollups in the metrictank format: each
// aggregator is a series of its own, named <metric>.<aggregator>, with the
// series' tags and the archive's step as its interval. A series' first
// value goes out as its MetricData (which carries a point), later ones as
// points in the MetricPointArray record of its partition.
func (s *KafkaSink) windowMDM(archive, t int, key []byte, w *Window, drops []uint64) int {
	o := s.o
	m := &s.mdm
	if m.series == nil {
		m.series = map[string]*mdmSeries{}
		m.now, m.lastPrune = time.Now(), time.Now()
	}
	m.prune(o.mt.Announce)
	n := o.partitions[t].Load()
	if n <= 0 {
		n = 1
	}
	if w.Start <= 0 || w.Start >= 1<<31-1 {
		drops[DropMetrictankTime] += uint64(len(w.Values))
		return 0
	}
	written := 0
	for _, v := range w.Values {
		if !isFinite(v.Value) {
			drops[DropNonFinite]++
			continue
		}
		m.scratch = append(append(append(m.scratch[:0], key...), 0, byte(archive)), v.Aggregator...)
		ser := m.series[string(m.scratch)]
		if ser == nil || ser.parts != n || m.now.Sub(ser.announced) >= o.mt.Announce {
			md := s.metricData(archive, w, v)
			if ser == nil {
				ser = &mdmSeries{}
				m.series[string(m.scratch)] = ser
			}
			ser.key = md.MetricKey()
			ser.parts = n
			ser.partition = o.mt.partition(&md, n)
			ser.announced = m.now
			buf := bytebufferpool.Get()
			buf.B = AppendMetricData(buf.B, &md, ser.key)
			s.produce(t, ser.partition, &pendingRecord{buf: buf, encoded: time.Now()})
			written++
			continue
		}
		if int(n) > len(s.open[t]) {
			s.open[t] = append(s.open[t], make([]pendingRecord, int(n)-len(s.open[t]))...)
		}
		r := &s.open[t][ser.partition]
		if r.buf != nil && len(r.buf.B)+28 > o.maxRec {
			s.produce(t, ser.partition, r)
		}
		if r.buf == nil {
			r.buf = bytebufferpool.Get()
			r.encoded, r.count = time.Now(), 0
			r.buf.B = append(r.buf.B, MetricPointArray, MetricPointWithoutOrg)
		}
		r.buf.B = AppendMetricPoint(r.buf.B, ser.key, v.Value, uint32(w.Start))
		r.count++
		written++
	}
	return written
}

// metricData describes one rollup series, with v as its point.
func (s *KafkaSink) metricData(archive int, w *Window, v AggValue) MetricData {
	md := MetricData{
		OrgID: s.o.mt.OrgID, Name: string(w.Metric) + "." + v.Aggregator, Interval: int(s.o.steps[archive]),
		Value: v.Value, Unit: "unknown", Time: w.Start, Mtype: "gauge",
	}
	if v.Aggregator == "count" {
		md.Mtype = "count"
	}
	for _, tg := range w.Tags {
		md.Tags = append(md.Tags, string(tg.Key)+"="+string(tg.Value))
	}
	return md
}

// partition picks a series' partition by the configured scheme.
func (m MetrictankOptions) partition(md *MetricData, n int32) int32 {
	switch m.Scheme {
	case "byOrg":
		return PartitionByOrg(md.OrgID, n)
	case "bySeriesWithTags":
		return PartitionBySeriesWithTags(md.Name, md.Tags, n)
	case "bySeriesWithTagsFnv":
		return PartitionBySeriesWithTagsFnv(md.Name, md.Tags, n)
	}
	return PartitionBySeries(md.Name, n)
}
