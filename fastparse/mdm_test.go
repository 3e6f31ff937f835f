package fastparse

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// The MetricData example of FORMATS.md section 3.5, byte for byte.
const mdmExampleHex = "89" +
	"a24964" + "d922" + "312e3837386562613065343135636465663665646135393534653738663038616363" +
	"a54f72674964" + "01" +
	"a44e616d65" + "ab736f6d652e6d6574726963" +
	"a8496e74657276616c" + "0a" +
	"a556616c7565" + "cb3ff8000000000000" +
	"a4556e6974" + "a7756e6b6e6f776e" +
	"a454696d65" + "d26553f100" +
	"a54d74797065" + "a56761756765" +
	"a454616773" + "92" + "a464633d78" + "a6686f73743d61"

// And the same point as MetricPoints (section 3.5).
const (
	mdmPoint02Hex = "02" + "878eba0e415cdef6eda5954e78f08acc" + "000000000000f83f" + "00f15365" + "01000000"
	mdmPoint03Hex = "03" + "878eba0e415cdef6eda5954e78f08acc" + "000000000000f83f" + "00f15365"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mdmResult renders the decoder's current point or error.
func mdmResult(d *MdmDecoder) string {
	if e := d.Err(); e != nil {
		return fmt.Sprintf("error %s [%s] at %d", e.Error(), e.Reason, e.Offset)
	}
	var b strings.Builder
	b.Write(d.Measurement())
	for _, tg := range d.Tags() {
		fmt.Fprintf(&b, ",%s=%s", tg.Key, tg.Value)
	}
	fmt.Fprintf(&b, " %v %d", d.Fields()[0].Float, d.Time())
	return b.String()
}

func mdmDecodeAll(d *MdmDecoder, rec []byte) []string {
	var out []string
	d.Reset(rec, 0)
	for d.Next() {
		out = append(out, mdmResult(d))
	}
	return out
}

func TestMdmGoldenExample(t *testing.T) {
	var d MdmDecoder
	md := unhex(t, mdmExampleHex)
	if len(md) != 142 {
		t.Fatalf("example is %d bytes, FORMATS says 142", len(md))
	}
	const want = "some.metric,dc=x,host=a 1.5 1700000000000000000"
	if got := mdmDecodeAll(&d, md); len(got) != 1 || got[0] != want {
		t.Fatalf("MetricData: %q, want %q", got, want)
	}
	key := MKey{Org: 1}
	copy(key.Key[:], unhex(t, "878eba0e415cdef6eda5954e78f08acc"))
	if d.Index.lookup(key.key()) == nil || d.Index.Len() != 1 {
		t.Fatalf("index does not hold id 1.878eba0e415cdef6eda5954e78f08acc")
	}
	for _, rec := range []string{mdmPoint02Hex, mdmPoint03Hex} {
		if got := mdmDecodeAll(&d, unhex(t, rec)); len(got) != 1 || got[0] != want {
			t.Fatalf("point %s: %q, want %q", rec[:2], got, want)
		}
	}
	// A MetricPointArray of both sub-formats, three points each, at
	// successive times and values.
	for _, sub := range []string{mdmPoint02Hex, mdmPoint03Hex} {
		rec := []byte{MdmMetricPointArray, unhex(t, sub[:2])[0]}
		var wantAll []string
		for i := range 3 {
			p := unhex(t, sub[2:])
			binary.LittleEndian.PutUint64(p[16:], math.Float64bits(float64(i)+0.25))
			binary.LittleEndian.PutUint32(p[24:], uint32(1700000000+10*i))
			rec = append(rec, p...)
			wantAll = append(wantAll, fmt.Sprintf("some.metric,dc=x,host=a %v %d", float64(i)+0.25, int64(1700000000+10*i)*1e9))
		}
		if got := mdmDecodeAll(&d, rec); strings.Join(got, "\n") != strings.Join(wantAll, "\n") {
			t.Fatalf("array of %s:\n%s\nwant\n%s", sub[:2], strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
		}
	}
}

// mdBuilder writes MetricData maps the way a test needs them.
type mdField struct {
	key string
	val func(b []byte) []byte
}

func str(s string) func([]byte) []byte {
	return func(b []byte) []byte { return msgp.AppendString(b, s) }
}
func i64(v int64) func([]byte) []byte { return func(b []byte) []byte { return msgp.AppendInt64(b, v) } }
func raw(h string) func([]byte) []byte {
	return func(b []byte) []byte { x, _ := hex.DecodeString(h); return append(b, x...) }
}
func tagList(tags ...string) func([]byte) []byte {
	return func(b []byte) []byte {
		b = msgp.AppendArrayHeader(b, uint32(len(tags)))
		for _, s := range tags {
			b = msgp.AppendString(b, s)
		}
		return b
	}
}

func metricData(fields ...mdField) []byte {
	b := msgp.AppendMapHeader(nil, uint32(len(fields)))
	for _, f := range fields {
		b = msgp.AppendString(b, f.key)
		b = f.val(b)
	}
	return b
}

// exampleFields is the section 3.5 example as fields, to vary.
func exampleFields() []mdField {
	return []mdField{
		{"Id", str("1.878eba0e415cdef6eda5954e78f08acc")},
		{"OrgId", i64(1)},
		{"Name", str("some.metric")},
		{"Interval", i64(10)},
		{"Value", func(b []byte) []byte { return msgp.AppendFloat64(b, 1.5) }},
		{"Unit", str("unknown")},
		{"Time", i64(1700000000)},
		{"Mtype", str("gauge")},
		{"Tags", tagList("dc=x", "host=a")},
	}
}

func with(fields []mdField, key string, val func([]byte) []byte) []mdField {
	out := []mdField{}
	found := false
	for _, f := range fields {
		if f.key == key {
			found = true
			if val == nil {
				continue
			}
			f.val = val
		}
		out = append(out, f)
	}
	if !found && val != nil {
		out = append(out, mdField{key, val})
	}
	return out
}

func TestMdmMetricDataVariants(t *testing.T) {
	const want = "some.metric,dc=x,host=a 1.5 1700000000000000000"
	reversed := exampleFields()
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	cases := []struct {
		name   string
		fields []mdField
		want   string
	}{
		{"keys reversed", reversed, want},
		{"int widths", with(with(with(exampleFields(),
			"OrgId", raw("cc01")), // uint8
			"Interval", raw("d3000000000000000a")), // int64
			"Time", raw("ce6553f100")), // uint32
			want},
		{"float32 value", with(exampleFields(), "Value", raw("ca3fc00000")), want},
		{"unknown keys skipped", with(with(exampleFields(),
			"Extra", raw("82a161c0a16293010203")), // {"a": nil, "b": [1,2,3]}
			"Meta", raw("c403010203")), // bin8
			want},
		{"tags unsorted and repeated", with(exampleFields(), "Tags", tagList("host=a", "dc=x", "host=a")), want},
		{"tags nil", with(exampleFields(), "Tags", raw("c0")), "some.metric 1.5 1700000000000000000"},
		{"tags absent", with(exampleFields(), "Tags", nil), "some.metric 1.5 1700000000000000000"},
		{"value in the tag may hold =", with(exampleFields(), "Tags", tagList("q=a=b")), "some.metric,q=a=b 1.5 1700000000000000000"},
		{"dots eaten", with(exampleFields(), "Name", str("..some..metric.")), want},
		{"uppercase hex id", with(exampleFields(), "Id", str("1.878EBA0E415CDEF6EDA5954E78F08ACC")), want},

		{"org 0", with(exampleFields(), "OrgId", i64(0)), "error line 1:1: MetricData OrgId missing, 0 or out of range [syntax] at 0"},
		{"no id", with(exampleFields(), "Id", nil), `error line 1:1: MetricData Id is not <org>.<32 hex digits>, found [syntax] at 0`},
		{"bad id", with(exampleFields(), "Id", str("1.878eba0e415cdef6eda5954e78f08acz")), `error line 1:1: MetricData Id is not <org>.<32 hex digits>, found "1.878eba0e415cdef6eda5954e78f08acz" [syntax] at 0`},
		{"only dots", with(exampleFields(), "Name", str("...")), "error line 1:1: MetricData Name is empty [syntax] at 0"},
		{"bad mtype", with(exampleFields(), "Mtype", str("histogram")), `error line 1:1: MetricData Mtype is not gauge, rate, count, counter or timestamp, found "histogram" [syntax] at 0`},
		{"interval 0", with(exampleFields(), "Interval", i64(0)), "error line 1:1: MetricData Interval missing or out of range 1..2^31-2 [syntax] at 0"},
		{"time too big", with(exampleFields(), "Time", i64(1<<31-1)), "error line 1:1: MetricData Time missing or out of metrictank's range 1..2^31-2 seconds [bad_timestamp] at 0"},
		{"time as string", with(exampleFields(), "Time", str("1700000000")), `error line 1:108: MetricData: wrong msgpack type for field "Time" [syntax] at 107`},
		{"value as int", with(exampleFields(), "Value", i64(2)), `error line 1:81: MetricData: wrong msgpack type for field "Value" [syntax] at 80`},
		{"tag without value", with(exampleFields(), "Tags", tagList("dc=")), `error line 1:131: MetricData tag is not key=value with both non-empty, found "dc=" [syntax] at 130`},
		{"tag without =", with(exampleFields(), "Tags", tagList("dc")), `error line 1:131: MetricData tag is not key=value with both non-empty, found "dc" [syntax] at 130`},
		{"tag value ~", with(exampleFields(), "Tags", tagList("dc=~x")), `error line 1:131: MetricData tag key holds one of ;!^ or its value holds ; or starts with ~, found "dc=~x" [syntax] at 130`},
		{"tag key ;", with(exampleFields(), "Tags", tagList("d;c=x")), `error line 1:131: MetricData tag key holds one of ;!^ or its value holds ; or starts with ~, found "d;c=x" [syntax] at 130`},
		{"duplicate tag", with(exampleFields(), "Tags", tagList("dc=x", "dc=y")), `error line 1:136: MetricData tag key given twice with different values, found "dc=y" [duplicate_tag] at 135`},
		{"name not UTF-8", with(exampleFields(), "Name", str("a\xffb")), "error line 1:1: invalid UTF-8 in MetricData Name [invalid_encoding] at 0"},
	}
	for _, c := range cases {
		var d MdmDecoder
		got := mdmDecodeAll(&d, metricData(c.fields...))
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestMdmBadRecords(t *testing.T) {
	var d MdmDecoder
	d.Reset(unhex(t, mdmExampleHex), 0)
	for d.Next() {
	}
	p03 := unhex(t, mdmPoint03Hex)
	cases := []struct {
		name string
		rec  []byte
		want []string
	}{
		{"0x02 too short is a bad MetricData", unhex(t, mdmPoint02Hex)[:32],
			[]string{"error line 1:1: not a metrictank record: want a msgpack MetricData map or format byte 0x02, 0x03, 0x04 or 0x05 with its length [syntax] at 0"}},
		{"0x03 too long", append(append([]byte{}, p03...), 0),
			[]string{"error line 1:1: not a metrictank record: want a msgpack MetricData map or format byte 0x02, 0x03, 0x04 or 0x05 with its length [syntax] at 0"}},
		{"unknown id", append([]byte{3, 0xaa}, p03[2:]...),
			[]string{`error line 1:2: point of a metrictank id that no MetricData on this partition has described (yet) "1.aa8eba0e415cdef6eda5954e78f08acc" [unknown_id] at 1`}},
		{"time 0", append(append([]byte{}, p03[:25]...), 0, 0, 0, 0),
			[]string{"error line 1:26: point time out of metrictank's range 1..2^31-2 seconds [bad_timestamp] at 25"}},
		{"array with a trailing fragment", append(append([]byte{5, 3}, p03[1:]...), p03[1:20]...),
			[]string{"some.metric,dc=x,host=a 1.5 1700000000000000000",
				"error line 2:1: MetricPointArray ends with a fragment shorter than a point [syntax] at 30"}},
		{"array of an unknown sub-format", append([]byte{5, 4}, p03[1:]...),
			[]string{"error line 1:1: not a metrictank record: want a msgpack MetricData map or format byte 0x02, 0x03, 0x04 or 0x05 with its length [syntax] at 0"}},
		{"index control message", []byte{4, 0x81, 0xa1, 'x', 1}, nil},
		{"empty", nil, nil},
		{"truncated MetricData", unhex(t, mdmExampleHex)[:100],
			[]string{`error line 1:95: MetricData: msgpack value cut off or out of range for field "Unit" [syntax] at 94`}},
		{"bytes after MetricData (ignored, as metrictank does)", append(unhex(t, mdmExampleHex), 0xc0),
			[]string{"some.metric,dc=x,host=a 1.5 1700000000000000000"}},
		{"text", []byte("cpu,host=a usage=1 1\n"),
			[]string{"error line 1:1: not a metrictank record: want a msgpack MetricData map or format byte 0x02, 0x03, 0x04 or 0x05 with its length [syntax] at 0"}},
	}
	for _, c := range cases {
		if got := mdmDecodeAll(&d, c.rec); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestMdmOrgOfPointsWithoutOrg(t *testing.T) {
	// An id of org 5: a 0x03 point resolves only with Org 5.
	md := metricData(with(exampleFields(), "Id", str("5.878eba0e415cdef6eda5954e78f08acc"))...)
	d := MdmDecoder{}
	mdmDecodeAll(&d, md)
	p := unhex(t, mdmPoint03Hex)
	if got := mdmDecodeAll(&d, p); !strings.Contains(got[0], "[unknown_id]") {
		t.Fatalf("org 1 point resolved an org 5 id: %q", got)
	}
	d.Org = 5
	if got := mdmDecodeAll(&d, p); got[0] != "some.metric,dc=x,host=a 1.5 1700000000000000000" {
		t.Fatalf("org 5: %q", got)
	}
}

func TestMKeyIndexBoundAndExpiry(t *testing.T) {
	idOf := func(i int) string { return fmt.Sprintf("1.%032x", i+1) }
	mdAt := func(i int, ts int64) []byte {
		return metricData(with(with(with(exampleFields(), "Id", str(idOf(i))), "Time", i64(ts)), "Name", str(fmt.Sprintf("m%d", i)))...)
	}
	pointAt := func(i int, ts uint32) []byte {
		p := make([]byte, 29)
		p[0] = MdmMetricPointNoOrg
		k, _ := parseMKey([]byte(idOf(i)))
		copy(p[1:], k.Key[:])
		binary.LittleEndian.PutUint64(p[17:], math.Float64bits(2))
		binary.LittleEndian.PutUint32(p[25:], ts)
		return p
	}
	x := NewMKeyIndex(2, 3600)
	d := MdmDecoder{Index: x}
	const t0 = 1700000000
	for i := range 3 {
		got := mdmDecodeAll(&d, mdAt(i, t0))
		if want := fmt.Sprintf("m%d,dc=x,host=a 1.5 %d", i, int64(t0)*1e9); got[0] != want {
			t.Fatalf("MetricData %d: %q (a full index still passes the point on)", i, got)
		}
	}
	if x.Len() != 2 || x.Refused() != 1 {
		t.Fatalf("len %d refused %d, want 2 and 1", x.Len(), x.Refused())
	}
	if got := mdmDecodeAll(&d, pointAt(2, t0+1)); !strings.Contains(got[0], "[unknown_id]") {
		t.Fatalf("refused id resolved: %q", got)
	}
	// Series 1 keeps sending points for two hours; series 0 goes quiet.
	for ts := t0 + 10; ts <= t0+7200; ts += 10 {
		if got := mdmDecodeAll(&d, pointAt(1, uint32(ts))); strings.HasPrefix(got[0], "error") {
			t.Fatalf("at %d: %q", ts, got)
		}
	}
	if x.Len() != 1 || x.lookup(MKey{Key: [16]byte{15: 2}, Org: 1}.key()) == nil {
		t.Fatalf("after 2h: %d ids, want only id 2 kept", x.Len())
	}
	// A point far in the future of the record's read time does not age
	// the index.
	d.Reset(pointAt(1, t0+50*3600), int64(t0+7200)*1e9)
	for d.Next() {
	}
	if x.newest != t0+7200 {
		t.Fatalf("clock moved to %d by a point 48h ahead", x.newest)
	}
}

func TestMKeyIndexCheckpointRoundTrip(t *testing.T) {
	x := NewMKeyIndex(0, 0)
	d := MdmDecoder{Index: x}
	mdmDecodeAll(&d, unhex(t, mdmExampleHex))
	mdmDecodeAll(&d, metricData(with(with(exampleFields(), "Id", str("7.00000000000000000000000000000001")), "Tags", nil)...))
	payload, n := x.AppendIndex(nil)
	if n != 2 {
		t.Fatalf("%d entries", n)
	}
	y := NewMKeyIndex(0, 0)
	if err := y.ReadIndex(payload, uint64(n)); err != nil {
		t.Fatal(err)
	}
	d2 := MdmDecoder{Index: y}
	if got := mdmDecodeAll(&d2, unhex(t, mdmPoint02Hex)); got[0] != "some.metric,dc=x,host=a 1.5 1700000000000000000" {
		t.Fatalf("after restore: %q", got)
	}
	if y.newest != 1700000000 {
		t.Fatalf("restored clock %d", y.newest)
	}
	// Damage: every truncation fails, so does a count too high, a tag out
	// of order and a duplicate.
	for cut := range len(payload) {
		if err := NewMKeyIndex(0, 0).ReadIndex(payload[:cut], 2); err == nil {
			t.Fatalf("payload cut at %d read without error", cut)
		}
	}
	if err := NewMKeyIndex(0, 0).ReadIndex(payload, 3); err == nil {
		t.Fatal("count 3 of 2 entries read")
	}
	one, _ := NewMKeyIndex(0, 0), 0
	single := append([]byte{}, payload...)
	if err := one.ReadIndex(append(single, single...), 4); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("duplicate ids: %v", err)
	}
	def := appendDef(nil, []byte("m"), []Tag{{[]byte("b"), []byte("1")}, {[]byte("a"), []byte("2")}})
	var bad []byte
	bad = append(bad, make([]byte, 16)...)
	bad = binary.LittleEndian.AppendUint32(bad, 1)
	bad = binary.LittleEndian.AppendUint32(bad, 1)
	bad = binary.LittleEndian.AppendUint32(bad, uint32(len(def)))
	bad = append(bad, def...)
	if err := NewMKeyIndex(0, 0).ReadIndex(bad, 1); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("unsorted tags: %v", err)
	}
}

func TestMdmNoAllocs(t *testing.T) {
	var d MdmDecoder
	md := unhex(t, mdmExampleHex)
	arr := []byte{MdmMetricPointArray, MdmMetricPoint}
	for range 100 {
		arr = append(arr, unhex(t, mdmPoint02Hex)[1:]...)
	}
	unknown := append([]byte{3, 0xaa}, unhex(t, mdmPoint03Hex)[2:]...)
	bad := metricData(with(exampleFields(), "Mtype", str("histogram"))...)
	mdmDecodeAll(&d, md)
	for _, rec := range [][]byte{md, arr, unknown, bad} {
		if n := testing.AllocsPerRun(100, func() {
			d.Reset(rec, 1)
			for d.Next() {
				_ = d.Fields()
			}
		}); n != 0 {
			t.Fatalf("record %x...: %v allocations", rec[:2], n)
		}
	}
}

func FuzzMdm(f *testing.F) {
	md, _ := hex.DecodeString(mdmExampleHex)
	p2, _ := hex.DecodeString(mdmPoint02Hex)
	p3, _ := hex.DecodeString(mdmPoint03Hex)
	f.Add(md, p2)
	f.Add(md, append([]byte{5, 3}, append(p3[1:], p3[1:]...)...))
	f.Add(md, p3)
	f.Add([]byte{0x80}, []byte{4})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var d MdmDecoder
		for _, rec := range [][]byte{first, second} {
			d.Reset(rec, 1700000000e9)
			for d.Next() {
				if e := d.Err(); e != nil {
					if e.Offset < 0 || e.Offset > len(rec) || e.Col < 1 || e.Line < 1 {
						t.Fatalf("error position %+v", e)
					}
					_ = e.Error()
					continue
				}
				if len(d.Measurement()) == 0 || d.Time() <= 0 || d.Time() >= mdmMaxTime*1e9 || len(d.Fields()) != 1 {
					t.Fatalf("accepted %x: %s", rec, mdmResult(&d))
				}
				e := mkeyEntry{name: d.Measurement(), tags: d.Tags()}
				if err := e.check(); err != nil {
					t.Fatalf("accepted %x: %s: %v", rec, mdmResult(&d), err)
				}
			}
		}
		// Whatever was learnt survives a checkpoint round trip.
		payload, n := d.Index.AppendIndex(nil)
		if err := NewMKeyIndex(0, 0).ReadIndex(payload, uint64(n)); err != nil {
			t.Fatalf("index of %x / %x does not read back: %v", first, second, err)
		}
	})
}

// BenchmarkMdmPointArray decodes MetricPointArray records of 10k known
// ids, 100 points a record (about what metrictank's publisher batches).
func BenchmarkMdmPointArray(b *testing.B) {
	const ids = 10000
	x := NewMKeyIndex(0, 0)
	d := MdmDecoder{Index: x}
	for i := range ids {
		mdmDecodeAll(&d, metricData(with(with(exampleFields(), "Id", str(fmt.Sprintf("1.%032x", i*7919+1))), "Name", str(fmt.Sprintf("host%d.cpu.user", i)))...))
	}
	var recs [][]byte
	for r := range ids / 100 {
		rec := []byte{MdmMetricPointArray, MdmMetricPointNoOrg}
		for j := range 100 {
			k, _ := parseMKey([]byte(fmt.Sprintf("1.%032x", ((j*97+r)%ids)*7919+1)))
			rec = append(rec, k.Key[:]...)
			rec = binary.LittleEndian.AppendUint64(rec, math.Float64bits(float64(j)))
			rec = binary.LittleEndian.AppendUint32(rec, uint32(1700000000+r))
		}
		recs = append(recs, rec)
	}
	b.ReportAllocs()
	b.ResetTimer()
	points := 0
	for i := 0; i < b.N; i++ {
		d.Reset(recs[i%len(recs)], 1700000000e9)
		for d.Next() {
			if d.Err() != nil {
				b.Fatal(d.Err())
			}
			points++
		}
	}
	b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(points), "ns/point")
}

// BenchmarkMdmMetricData decodes full MetricData messages of known ids
// (what producers that send no MetricPoints write for every point).
func BenchmarkMdmMetricData(b *testing.B) {
	var d MdmDecoder
	md, _ := hex.DecodeString(mdmExampleHex)
	b.ReportAllocs()
	b.SetBytes(int64(len(md)))
	for i := 0; i < b.N; i++ {
		d.Reset(md, 1700000000e9)
		for d.Next() {
		}
	}
}
