package fastparse

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// Grafana metrictank's kafka-mdm records (FORMATS.md section 3), read as
// metrictank's kafka-mdm input reads them. The first byte of a record
// says what it holds:
//
//	0x02 and exactly 33 bytes    one MetricPoint with its org
//	0x03 and exactly 29 bytes    one MetricPoint; org from MdmDecoder.Org
//	0x05, >= 30 bytes, then 0x02 or 0x03   a MetricPointArray of such points
//	0x04                         an index control message: not a point, skipped
//	anything else                one msgpack MetricData
//
// A MetricData is a point that also describes its series (name, tags, an
// id); a MetricPoint carries only the id, so it is only as good as the
// MetricData sent before it: the decoder keeps an MKeyIndex of the ids it
// has seen described, and a point of an id it does not know is an error of
// ReasonUnknownID, never a guess.
//
// Each point is one "line": Line in a ParseError is the point's number in
// its record (1-based) and Offset the byte where it was found.

// The first byte of a kafka-mdm record.
const (
	MdmMetricPoint        = 0x02
	MdmMetricPointNoOrg   = 0x03
	MdmIndexControl       = 0x04
	MdmMetricPointArray   = 0x05
	mdmPointSize          = 32 // with its org
	mdmPointNoOrgSize     = 28
	mdmMaxTime            = 1<<31 - 1 // metrictank's bound on times and intervals
	mdmIndexClockSlackSec = 3600      // see Reset
)

// MdmDecoder decodes metrictank kafka-mdm records; it implements Decoder.
// Measurement is the series name, Tags its tags ("key=value" strings
// split at the first '='), Fields one Field with an empty Key.
type MdmDecoder struct {
	onePointLines
	// Org is the org of 0x03 points, which carry none (metrictank's
	// kafka-mdm org-id). 0 is taken as 1.
	Org uint32
	// Index resolves point ids; the pipeline gives each input partition
	// its own (see UseIndex). Nil: the decoder makes one without bounds.
	Index *MKeyIndex

	kind   byte  // the record's format byte, or 0 for MetricData
	size   int   // of one point, in a point record
	limit  int64 // newest time (seconds) the index's clock may take
	cur    []Tag // tags of the current point
	name   []byte
	idText [48]byte // an unknown id, formatted for the error
}

var _ Decoder = (*MdmDecoder)(nil)

// UseIndex makes the decoder resolve ids through x (one index per input
// partition).
func (d *MdmDecoder) UseIndex(x *MKeyIndex) { d.Index = x }

// Reset starts decoding one record. defaultTime (Unix ns, the time the
// record was read) bounds the index's clock: a point more than an hour
// ahead of it does not age the index, so one bad timestamp cannot expire
// every id.
func (d *MdmDecoder) Reset(buf []byte, defaultTime int64) {
	d.reset(buf)
	if d.Index == nil {
		d.Index = NewMKeyIndex(0, 0)
	}
	d.limit = math.MaxInt64
	if defaultTime > 0 {
		d.limit = defaultTime/1e9 + mdmIndexClockSlackSec
	}
	d.kind, d.size = mdmKind(buf)
	switch d.kind {
	case MdmMetricPointArray:
		d.pos = 2
	case MdmIndexControl:
		d.pos = len(buf)
	}
}

// mdmKind tells a record's format as FORMATS.md section 3.1 says: a
// point format byte with the wrong length is a (bad) MetricData.
func mdmKind(buf []byte) (kind byte, pointSize int) {
	if len(buf) == 0 {
		return 0, 0
	}
	switch buf[0] {
	case MdmMetricPoint:
		if len(buf) == 1+mdmPointSize {
			return MdmMetricPoint, mdmPointSize
		}
	case MdmMetricPointNoOrg:
		if len(buf) == 1+mdmPointNoOrgSize {
			return MdmMetricPointNoOrg, mdmPointNoOrgSize
		}
	case MdmMetricPointArray:
		if len(buf) >= 2+mdmPointNoOrgSize {
			switch buf[1] {
			case MdmMetricPoint:
				return MdmMetricPointArray, mdmPointSize
			case MdmMetricPointNoOrg:
				return MdmMetricPointArray, mdmPointNoOrgSize
			}
		}
	case MdmIndexControl:
		return MdmIndexControl, 0
	}
	return 0, 0
}

// Next decodes the next point; false at the end of the record.
func (d *MdmDecoder) Next() bool {
	if d.pos >= len(d.buf) {
		return false
	}
	d.clear()
	d.cur = nil
	d.start, d.line = d.pos, d.nextLine
	d.nextLine++
	switch d.kind {
	case 0:
		d.pos = len(d.buf)
		d.metricData(d.buf)
	case MdmMetricPoint, MdmMetricPointNoOrg:
		d.pos = len(d.buf)
		d.point(d.buf[1:], 1, d.kind == MdmMetricPoint)
	case MdmMetricPointArray:
		p := d.buf[d.pos:]
		if len(p) < d.size {
			d.pos = len(d.buf)
			d.fail(d.start, ReasonSyntax, "MetricPointArray ends with a fragment shorter than a point", nil)
			return true
		}
		d.pos += d.size
		d.point(p[:d.size], d.start, d.buf[1] == MdmMetricPoint)
	}
	return true
}

// Tags returns the current point's tags, sorted by key.
func (d *MdmDecoder) Tags() []Tag { return d.cur }

// point decodes one MetricPoint (without its format byte), found at byte
// at of the record.
func (d *MdmDecoder) point(p []byte, at int, withOrg bool) {
	v := math.Float64frombits(binary.LittleEndian.Uint64(p[16:]))
	t := binary.LittleEndian.Uint32(p[24:])
	org := max(d.Org, 1)
	if withOrg {
		org = binary.LittleEndian.Uint32(p[28:])
	}
	k := keyOf(p, org)
	if t == 0 || t >= mdmMaxTime {
		d.fail(at+24, ReasonTimestamp, "point time out of metrictank's range 1..2^31-2 seconds", nil)
		return
	}
	e := d.Index.lookup(k)
	if e == nil {
		id := strconv.AppendUint(d.idText[:0], uint64(org), 10)
		id = append(id, '.')
		id = hex.AppendEncode(id, p[:16])
		d.fail(at, ReasonUnknownID, "point of a metrictank id that no MetricData on this partition has described (yet)", id)
		return
	}
	e.seen(t)
	d.Index.observe(int64(t), d.limit)
	d.set(e.name, int64(t)*1e9, v)
	d.cur = e.tags
}

// metricData decodes one msgpack MetricData: keys in any order, integers
// of any width, unknown keys skipped, then metrictank's validation.
func (d *MdmDecoder) metricData(b []byte) {
	if msgp.NextType(b) != msgp.MapType {
		d.fail(0, ReasonSyntax, "not a metrictank record: want a msgpack MetricData map or format byte 0x02, 0x03, 0x04 or 0x05 with its length", nil)
		return
	}
	n, o, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		d.fail(0, ReasonSyntax, "MetricData map header cut off", nil)
		return
	}
	var (
		id, name, mtype []byte
		org, interval   int64
		tm              int64
		value           float64
	)
	for range n {
		at := len(b) - len(o)
		if t := msgp.NextType(o); t != msgp.StrType && t != msgp.BinType {
			d.fail(at, ReasonSyntax, "MetricData: want a string key", nil)
			return
		}
		var key []byte
		if key, o, err = msgp.ReadMapKeyZC(o); err != nil {
			d.fail(at, ReasonSyntax, "MetricData key cut off", nil)
			return
		}
		at = len(b) - len(o)
		want := msgp.InvalidType
		switch string(key) {
		case "Id", "Name", "Unit", "Mtype":
			want = msgp.StrType
		case "OrgId", "Interval", "Time":
			want = msgp.IntType
		case "Value":
			want = msgp.Float64Type
		case "Tags":
			want = msgp.ArrayType
		}
		got := msgp.NextType(o)
		switch {
		case want == msgp.InvalidType:
			o, err = msgp.Skip(o)
		case want == msgp.IntType && got == msgp.UintType, want == msgp.Float64Type && got == msgp.Float32Type,
			want == msgp.ArrayType && got == msgp.NilType:
		case got != want:
			d.fail(at, ReasonSyntax, "MetricData: wrong msgpack type for field", key)
			return
		}
		if err != nil {
			d.fail(at, ReasonSyntax, "MetricData: msgpack value cut off or invalid after key", key)
			return
		}
		switch string(key) {
		case "Id":
			id, o, err = msgp.ReadStringZC(o)
		case "Name":
			name, o, err = msgp.ReadStringZC(o)
		case "Mtype":
			mtype, o, err = msgp.ReadStringZC(o)
		case "Unit":
			_, o, err = msgp.ReadStringZC(o)
		case "OrgId":
			org, o, err = msgp.ReadInt64Bytes(o)
		case "Interval":
			interval, o, err = msgp.ReadInt64Bytes(o)
		case "Time":
			tm, o, err = msgp.ReadInt64Bytes(o)
		case "Value":
			value, o, err = msgp.ReadFloat64Bytes(o)
		case "Tags":
			if o, err = d.metricDataTags(b, o); d.failed {
				return
			}
		}
		if err != nil {
			d.fail(at, ReasonSyntax, "MetricData: msgpack value cut off or out of range for field", key)
			return
		}
	}
	// Bytes after the map are ignored, as metrictank's kafka-mdm input
	// ignores what UnmarshalMsg leaves.
	k, ok := parseMKey(id)
	if !ok {
		d.fail(0, ReasonSyntax, "MetricData Id is not <org>.<32 hex digits>, found", id)
		return
	}
	if org <= 0 || org > math.MaxUint32 {
		d.fail(0, ReasonSyntax, "MetricData OrgId missing, 0 or out of range", nil)
		return
	}
	name = d.eatDots(name)
	if len(name) == 0 {
		d.fail(0, ReasonSyntax, "MetricData Name is empty", nil)
		return
	}
	if !utf8.Valid(name) {
		d.fail(0, ReasonEncoding, "invalid UTF-8 in MetricData Name", nil)
		return
	}
	if len(name) > maxDefPart {
		d.fail(0, ReasonSyntax, "MetricData Name longer than 65535 bytes", nil)
		return
	}
	switch string(mtype) {
	case "gauge", "rate", "count", "counter", "timestamp":
	default:
		d.fail(0, ReasonSyntax, "MetricData Mtype is not gauge, rate, count, counter or timestamp, found", mtype)
		return
	}
	if interval <= 0 || interval >= mdmMaxTime {
		d.fail(0, ReasonSyntax, "MetricData Interval missing or out of range 1..2^31-2", nil)
		return
	}
	if tm <= 0 || tm >= mdmMaxTime {
		d.fail(0, ReasonTimestamp, "MetricData Time missing or out of metrictank's range 1..2^31-2 seconds", nil)
		return
	}
	if e := d.Index.learn(k.key(), name, d.tags, uint32(tm)); e != nil {
		name = e.name // the index's copy outlives the record
	}
	d.Index.observe(tm, d.limit)
	d.set(name, tm*1e9, value)
	d.cur = d.tags
}

// metricDataTags reads the Tags array of a MetricData into d.tags, sorted,
// checking each as metrictank does. It reports errors through d.fail.
func (d *MdmDecoder) metricDataTags(b, o []byte) ([]byte, error) {
	d.tags = d.tags[:0]
	if msgp.IsNil(o) {
		return o[1:], nil
	}
	n, o, err := msgp.ReadArrayHeaderBytes(o)
	if err != nil {
		return o, err
	}
	for range n {
		at := len(b) - len(o)
		if msgp.NextType(o) != msgp.StrType {
			d.fail(at, ReasonSyntax, "MetricData Tags: want strings", nil)
			return o, nil
		}
		var tag []byte
		if tag, o, err = msgp.ReadStringZC(o); err != nil {
			return o, err
		}
		eq := -1
		for i, c := range tag {
			if c == '=' {
				eq = i
				break
			}
		}
		if eq <= 0 || eq == len(tag)-1 {
			d.fail(at, ReasonSyntax, "MetricData tag is not key=value with both non-empty, found", tag)
			return o, nil
		}
		key, value := tag[:eq], tag[eq+1:]
		if !validMdmTag(key, value) {
			d.fail(at, ReasonSyntax, "MetricData tag key holds one of ;!^ or its value holds ; or starts with ~, found", tag)
			return o, nil
		}
		if !utf8.Valid(tag) {
			d.fail(at, ReasonEncoding, "invalid UTF-8 in MetricData tag", nil)
			return o, nil
		}
		if len(key) > maxDefPart || len(value) > maxDefPart || len(d.tags) == maxDefPart {
			d.fail(at, ReasonSyntax, "MetricData tag longer than 65535 bytes, or more than 65535 tags", nil)
			return o, nil
		}
		if inserted, same := d.insertTag(key, value); !inserted && !same {
			d.fail(at, ReasonDuplicateTag, "MetricData tag key given twice with different values, found", tag)
			return o, nil
		}
	}
	return o, nil
}

// validMdmTag applies metrictank's tag rules (besides non-empty sides).
func validMdmTag(key, value []byte) bool {
	for _, c := range key {
		if c == ';' || c == '!' || c == '^' {
			return false
		}
	}
	if value[0] == '~' {
		return false
	}
	for _, c := range value {
		if c == ';' {
			return false
		}
	}
	return true
}

// eatDots is metrictank's EatDots: runs of '.' become one, leading and
// trailing dots go. It copies only when there is something to remove.
func (d *MdmDecoder) eatDots(name []byte) []byte {
	clean := len(name) == 0 || (name[0] != '.' && name[len(name)-1] != '.')
	for i := 1; clean && i < len(name); i++ {
		clean = !(name[i] == '.' && name[i-1] == '.')
	}
	if clean {
		return name
	}
	d.name = d.name[:0]
	for i, c := range name {
		if c == '.' && (len(d.name) == 0 || d.name[len(d.name)-1] == '.' || i == len(name)-1) {
			continue
		}
		d.name = append(d.name, c)
	}
	if n := len(d.name); n > 0 && d.name[n-1] == '.' {
		d.name = d.name[:n-1]
	}
	return d.name
}

// parseMKey parses "<org>.<32 hex digits>" as metrictank's
// MKeyFromString does: the last 32 characters are the key, everything
// before the last 33 the org (the separator itself is not checked).
func parseMKey(id []byte) (MKey, bool) {
	var k MKey
	if len(id) < 34 {
		return k, false
	}
	if _, err := hex.Decode(k.Key[:], id[len(id)-32:]); err != nil {
		return k, false
	}
	org, ok := uint64(0), true
	for _, c := range id[:len(id)-33] {
		if c < '0' || c > '9' || org > math.MaxUint32/10 {
			ok = false
			break
		}
		org = org*10 + uint64(c-'0')
	}
	if !ok || org > math.MaxUint32 {
		return k, false
	}
	k.Org = uint32(org)
	return k, true
}
