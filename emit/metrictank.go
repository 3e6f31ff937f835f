package emit

// Grafana metrictank's kafka-mdm building blocks (FORMATS.md section 3):
// the series id, MetricData in MessagePack as metrictank's tinylib/msgp
// code writes it, MetricPoints and the publisher's partitioning schemes.
// The output that uses them (announcing each rollup series, then batching
// its points into MetricPointArray records) builds on these.

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// MetricData is metrictank's series description (schema.MetricData).
type MetricData struct {
	OrgID    uint32
	Name     string
	Interval int
	Value    float64
	Unit     string
	Time     int64
	Mtype    string   // gauge, rate, count, counter or timestamp
	Tags     []string // "key=value"; MetricKey sorts them in place
}

// MetricKey computes the series key as MetricData.SetId does: the MD5 of
// Name, Unit, Mtype, the decimal Interval and each tag (sorted bytewise),
// separated by NUL bytes. It sorts m.Tags in place.
func (m *MetricData) MetricKey() [16]byte {
	slices.Sort(m.Tags)
	return m.def().key(int64(m.Interval))
}

// def is m as the sink's definition, which holds the one encoding of
// keys and MetricData.
func (m *MetricData) def() *mdmDef {
	d := &mdmDef{name: []byte(m.Name), unit: []byte(m.Unit), mtype: []byte(m.Mtype)}
	for _, t := range m.Tags {
		d.tags = append(d.tags, []byte(t))
	}
	return d
}

// MetricID is the id string of a key: "<org>.<32 lowercase hex>".
func MetricID(org uint32, key [16]byte) string {
	return strconv.FormatUint(uint64(org), 10) + "." + hex.EncodeToString(key[:])
}

// AppendMetricData appends m in MessagePack, keys in metrictank's order
// (Id, OrgId, Name, Interval, Value, Unit, Time, Mtype, Tags), integers in
// their smallest signed form, as tinylib/msgp writes it. key is
// m.MetricKey() (computed once per series by the caller).
func AppendMetricData(dst []byte, m *MetricData, key [16]byte) []byte {
	return m.def().appendData(dst, m.OrgID, key, int64(m.Interval), m.Value, m.Time)
}

// Record formats of kafka-mdm (the first byte of a record value).
const (
	MetricPointWithOrg    = 0x02 // one point, 33 bytes
	MetricPointWithoutOrg = 0x03 // one point, 29 bytes
	MetricPointArray      = 0x05 // 0x05, a point format, then points
)

// AppendMetricPoint appends one point in the 0x03 layout without its
// format byte (28 bytes: key, value, time, little-endian), as it sits in a
// MetricPointArray of sub-format 0x03.
func AppendMetricPoint(dst []byte, key [16]byte, value float64, t uint32) []byte {
	dst = append(dst, key[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(value))
	return binary.LittleEndian.AppendUint32(dst, t)
}

// The publisher's partitioning schemes (metrics-partition-scheme). n is
// the partition count.

// PartitionByOrg hashes the org id (4 bytes, little-endian) with FNV-1a.
func PartitionByOrg(org uint32, n int32) int32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], org)
	return fnvPartition(b[:], n)
}

// PartitionBySeries hashes the name with FNV-1a.
func PartitionBySeries(name string, n int32) int32 {
	return fnvPartition([]byte(name), n)
}

// seriesWithTags is the name followed by ";tag" for each sorted tag,
// tags starting "name=" left out.
func seriesWithTags(name string, sortedTags []string) []byte {
	b := []byte(name)
	for _, t := range sortedTags {
		if len(t) >= 5 && t[:5] == "name=" {
			continue
		}
		b = append(b, ';')
		b = append(b, t...)
	}
	return b
}

// PartitionBySeriesWithTags hashes name and tags with xxhash64 and picks
// the partition by jump consistent hashing.
func PartitionBySeriesWithTags(name string, sortedTags []string, n int32) int32 {
	return jumpHash(xxhash.Sum64(seriesWithTags(name, sortedTags)), n)
}

// PartitionBySeriesWithTagsFnv hashes name and tags with FNV-1a.
func PartitionBySeriesWithTagsFnv(name string, sortedTags []string, n int32) int32 {
	return fnvPartition(seriesWithTags(name, sortedTags), n)
}

func fnvPartition(b []byte, n int32) int32 {
	h := fnv.New32a()
	h.Write(b)
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p
}

// jumpHash is Lamping and Veach's jump consistent hash.
func jumpHash(key uint64, n int32) int32 {
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int32(b)
}
