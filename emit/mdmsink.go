package emit

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/tinylib/msgp/msgp"

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
// out (Unix seconds of the sink's coarse clock).
type mdmSeries struct {
	key       [16]byte
	partition int32
	parts     int32
	announced int64
}

// mdmState is one shard sink's memory of the series it sent:
// series[archive][Window.Series] holds one mdmSeries per aggregator, made
// at the series' first window and cleared when the series is deleted.
type mdmState struct {
	series [][][]mdmSeries
	now    int64 // a coarse clock (Unix seconds): set at each flush
	def    mdmDef
}

// mdmDef builds a rollup series' MetricData straight from its window into
// reused buffers: announcing allocates nothing but the record, and the
// key (an MD5) is computed once per series.
type mdmDef struct {
	name, unit, mtype []byte
	tagBytes          []byte
	tags              [][]byte // "key=value", sorted bytewise as metrictank sorts them
	buf               []byte
}

// define fills d with the rollup series of v in w.
func (d *mdmDef) define(w *Window, v *AggValue) {
	w.Split()
	d.name = append(append(append(d.name[:0], w.Metric...), '.'), v.Aggregator...)
	d.unit = append(d.unit[:0], "unknown"...)
	d.mtype = append(d.mtype[:0], "gauge"...)
	if v.Aggregator == "count" {
		d.mtype = append(d.mtype[:0], "count"...)
	}
	d.tagBytes = d.tagBytes[:0]
	for _, t := range w.Tags {
		d.tagBytes = append(append(append(d.tagBytes, t.Key...), '='), t.Value...)
	}
	d.tags = d.tags[:0]
	off := 0
	for _, t := range w.Tags {
		n := len(t.Key) + 1 + len(t.Value)
		d.tags = append(d.tags, d.tagBytes[off:off+n:off+n])
		off += n
	}
	// Sorted by key is sorted by "key=value" unless a key is a prefix of
	// another followed by a byte below '='.
	if !slices.IsSortedFunc(d.tags, bytes.Compare) {
		slices.SortFunc(d.tags, bytes.Compare)
	}
}

// key is the definition's MD5 as MetricData.SetId computes it (see
// MetricData.MetricKey); tags must be sorted.
func (d *mdmDef) key(interval int64) [16]byte {
	b := append(append(d.buf[:0], d.name...), 0)
	b = append(append(b, d.unit...), 0)
	b = append(append(b, d.mtype...), 0)
	b = strconv.AppendInt(b, interval, 10)
	for _, t := range d.tags {
		b = append(append(b, 0), t...)
	}
	d.buf = b
	return md5.Sum(b)
}

// partition is MetrictankOptions.partition of the definition.
func (d *mdmDef) partition(m *MetrictankOptions, n int32) int32 {
	switch m.Scheme {
	case "byOrg":
		return PartitionByOrg(m.OrgID, n)
	case "bySeriesWithTags", "bySeriesWithTagsFnv":
		b := append(d.buf[:0], d.name...)
		for _, t := range d.tags {
			if !bytes.HasPrefix(t, []byte("name=")) {
				b = append(append(b, ';'), t...)
			}
		}
		d.buf = b
		if m.Scheme == "bySeriesWithTags" {
			return jumpHash(xxhash.Sum64(b), n)
		}
		return fnvPartition(b, n)
	}
	return fnvPartition(d.name, n)
}

// appendData appends the definition's MetricData in msgpack, keys in
// metrictank's order (Id, OrgId, Name, Interval, Value, Unit, Time, Mtype,
// Tags), integers in their smallest signed form, as tinylib/msgp writes
// them and metrictank's generated code does.
func (d *mdmDef) appendData(dst []byte, org uint32, key [16]byte, interval int64, value float64, t int64) []byte {
	dst = msgp.AppendMapHeader(dst, 9)
	dst = msgp.AppendString(dst, "Id")
	id := strconv.AppendUint(d.buf[:0], uint64(org), 10)
	id = hex.AppendEncode(append(id, '.'), key[:])
	d.buf = id
	dst = msgp.AppendStringFromBytes(dst, id)
	dst = msgp.AppendString(dst, "OrgId")
	dst = msgp.AppendInt64(dst, int64(org))
	dst = msgp.AppendString(dst, "Name")
	dst = msgp.AppendStringFromBytes(dst, d.name)
	dst = msgp.AppendString(dst, "Interval")
	dst = msgp.AppendInt64(dst, interval)
	dst = msgp.AppendString(dst, "Value")
	dst = msgp.AppendFloat64(dst, value)
	dst = msgp.AppendString(dst, "Unit")
	dst = msgp.AppendStringFromBytes(dst, d.unit)
	dst = msgp.AppendString(dst, "Time")
	dst = msgp.AppendInt64(dst, t)
	dst = msgp.AppendString(dst, "Mtype")
	dst = msgp.AppendStringFromBytes(dst, d.mtype)
	dst = msgp.AppendString(dst, "Tags")
	dst = msgp.AppendArrayHeader(dst, uint32(len(d.tags)))
	for _, t := range d.tags {
		dst = msgp.AppendStringFromBytes(dst, t)
	}
	return dst
}

func (m *mdmState) flushed() { m.now = time.Now().Unix() }

func (m *mdmState) deleted(series uint32) {
	for _, a := range m.series {
		if int(series) < len(a) {
			a[series] = nil
		}
	}
}

// windowMDM sends one window's rollups in the metrictank format: each
// aggregator is a series of its own, named <metric>.<aggregator>, with the
// series' tags and the archive's step as its interval. A series' first
// value goes out as its MetricData (which carries a point), and again every
// announce interval; the others as points in the MetricPointArray record
// of its partition.
func (s *KafkaSink) windowMDM(archive, t int, w *Window, drops []uint64) int {
	o := s.o
	m := &s.mdm
	if m.now == 0 {
		m.flushed()
	}
	n := o.partitions[t].Load()
	if n <= 0 {
		n = 1
	}
	if w.Start <= 0 || w.Start >= 1<<31-1 {
		drops[DropMetrictankTime] += uint64(len(w.Values))
		return 0
	}
	if archive >= len(m.series) {
		m.series = append(m.series, make([][][]mdmSeries, archive+1-len(m.series))...)
	}
	byIdx := m.series[archive]
	if int(w.Series) >= len(byIdx) {
		byIdx = append(byIdx, make([][]mdmSeries, int(w.Series)+1-len(byIdx))...)
		byIdx = byIdx[:cap(byIdx)]
		m.series[archive] = byIdx
	}
	sers := byIdx[w.Series]
	if len(sers) != len(w.Values) {
		sers = make([]mdmSeries, len(w.Values))
		byIdx[w.Series] = sers
	}
	if int(n) > len(s.open[t]) {
		s.open[t] = append(s.open[t], make([]pendingRecord, int(n)-len(s.open[t]))...)
	}
	announceEvery := int64(o.mt.Announce / time.Second)
	written := 0
	for i := range w.Values {
		v := &w.Values[i]
		if !isFinite(v.Value) {
			drops[DropNonFinite]++
			continue
		}
		ser := &sers[i]
		if ser.parts != n || m.now-ser.announced >= announceEvery {
			m.def.define(w, v)
			if ser.parts == 0 { // a series' definition, and so its key, lasts as long as its number
				ser.key = m.def.key(w.StepSeconds)
			}
			if ser.parts != n {
				ser.partition = m.def.partition(&o.mt, n)
			}
			ser.parts = n
			ser.announced = m.now
			buf := bytebufferpool.Get()
			buf.B = m.def.appendData(buf.B, o.mt.OrgID, ser.key, w.StepSeconds, v.Value, w.Start)
			s.produce(t, ser.partition, &pendingRecord{buf: buf, encoded: time.Now()})
			written++
			continue
		}
		r := &s.open[t][ser.partition]
		if r.buf != nil && len(r.buf.B)+mdmPointBytes > o.maxRec {
			s.produce(t, ser.partition, r)
		}
		if r.buf == nil {
			r.buf = o.bufs.Get()
			r.encoded, r.count = time.Now(), 0
			if cap(r.buf.B) < o.maxRec {
				// Full size at once: growing by doubling copied
				// every point about once more.
				r.buf.B = make([]byte, 0, o.maxRec)
			}
			r.buf.B = append(r.buf.B, MetricPointArray, MetricPointWithoutOrg)
		}
		r.buf.B = AppendMetricPoint(r.buf.B, ser.key, v.Value, uint32(w.Start))
		r.count++
		written++
	}
	return written
}

// mdmPointBytes is the size of a point without its org in a MetricPointArray.
const mdmPointBytes = 28
