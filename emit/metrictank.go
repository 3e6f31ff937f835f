package emit

// Grafana metrictank's kafka-mdm building blocks (FORMATS.md section 3):
// the series id, MetricData in MessagePack as metrictank's tinylib/msgp
// code writes it, MetricPoints and the publisher's partitioning schemes.
// The output that uses them (announcing each rollup series, then batching
// its points into MetricPointArray records) builds on these.

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/tinylib/msgp/msgp"
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
	h := md5.New()
	var buf [256]byte
	b := append(buf[:0], m.Name...)
	b = append(b, 0)
	b = append(b, m.Unit...)
	b = append(b, 0)
	b = append(b, m.Mtype...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(m.Interval), 10)
	h.Write(b)
	for _, t := range m.Tags {
		h.Write([]byte{0})
		h.Write([]byte(t))
	}
	var key [16]byte
	h.Sum(key[:0])
	return key
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
	// msgp's appenders write what metrictank's generated code writes:
	// the smallest signed int form, float64 as 0xcb.
	dst = msgp.AppendMapHeader(dst, 9)
	dst = msgp.AppendString(dst, "Id")
	dst = msgp.AppendString(dst, MetricID(m.OrgID, key))
	dst = msgp.AppendString(dst, "OrgId")
	dst = msgp.AppendInt64(dst, int64(m.OrgID))
	dst = msgp.AppendString(dst, "Name")
	dst = msgp.AppendString(dst, m.Name)
	dst = msgp.AppendString(dst, "Interval")
	dst = msgp.AppendInt64(dst, int64(m.Interval))
	dst = msgp.AppendString(dst, "Value")
	dst = msgp.AppendFloat64(dst, m.Value)
	dst = msgp.AppendString(dst, "Unit")
	dst = msgp.AppendString(dst, m.Unit)
	dst = msgp.AppendString(dst, "Time")
	dst = msgp.AppendInt64(dst, m.Time)
	dst = msgp.AppendString(dst, "Mtype")
	dst = msgp.AppendString(dst, m.Mtype)
	dst = msgp.AppendString(dst, "Tags")
	dst = msgp.AppendArrayHeader(dst, uint32(len(m.Tags)))
	for _, t := range m.Tags {
		dst = msgp.AppendString(dst, t)
	}
	return dst
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
