package emit

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// The example of FORMATS.md section 3.5, byte for byte.
func TestMetricDataExample(t *testing.T) {
	m := MetricData{OrgID: 1, Name: "some.metric", Interval: 10, Value: 1.5, Unit: "unknown", Time: 1700000000, Mtype: "gauge",
		Tags: []string{"host=a", "dc=x"}}
	key := m.MetricKey()
	if id := MetricID(m.OrgID, key); id != "1.878eba0e415cdef6eda5954e78f08acc" {
		t.Fatalf("id %s", id)
	}
	want := strings.Join([]string{
		"89",
		"a24964", "d922", hex.EncodeToString([]byte("1.878eba0e415cdef6eda5954e78f08acc")),
		"a54f72674964", "01",
		"a44e616d65", "ab736f6d652e6d6574726963",
		"a8496e74657276616c", "0a",
		"a556616c7565", "cb3ff8000000000000",
		"a4556e6974", "a7756e6b6e6f776e",
		"a454696d65", "d26553f100",
		"a54d74797065", "a56761756765",
		"a454616773", "92", "a464633d78", "a6686f73743d61",
	}, "")
	got := hex.EncodeToString(AppendMetricData(nil, &m, key))
	if got != want {
		t.Fatalf("MetricData bytes\n got %s\nwant %s", got, want)
	}
	if n := len(want) / 2; n != 142 {
		t.Fatalf("%d bytes, FORMATS says 142", n)
	}
	// The same point as a MetricPoint (0x03 layout, inside an array).
	p := hex.EncodeToString(AppendMetricPoint([]byte{MetricPointWithoutOrg}, key, 1.5, 1700000000))
	if p != "03"+"878eba0e415cdef6eda5954e78f08acc"+"000000000000f83f"+"00f15365" {
		t.Fatalf("MetricPoint %s", p)
	}
	// FORMATS.md section 3.7: the partitions of this series among 8.
	tags := []string{"dc=x", "host=a"}
	for name, got := range map[string]int32{
		"byOrg":               PartitionByOrg(1, 8),
		"bySeries":            PartitionBySeries("some.metric", 8),
		"bySeriesWithTags":    PartitionBySeriesWithTags("some.metric", tags, 8),
		"bySeriesWithTagsFnv": PartitionBySeriesWithTagsFnv("some.metric", tags, 8),
	} {
		want := map[string]int32{"byOrg": 4, "bySeries": 1, "bySeriesWithTags": 4, "bySeriesWithTagsFnv": 3}[name]
		if got != want {
			t.Errorf("%s: partition %d, want %d", name, got, want)
		}
	}
}

// msgp.AppendInt64 writes the forms metrictank's generated code writes
// (the smallest signed one), which the MetricData bytes depend on.
func TestMsgpIntForms(t *testing.T) {
	for i, want := range map[int64]string{
		0: "00", 127: "7f", 128: "d10080", -1: "ff", -32: "e0", -33: "d0df", 32767: "d17fff", 32768: "d200008000",
		-2147483648: "d280000000", 1 << 31: "d30000000080000000",
	} {
		if got := hex.EncodeToString(msgp.AppendInt64(nil, i)); got != want {
			t.Errorf("msgp.AppendInt64(%d) = %s, want %s", i, got, want)
		}
	}
}

// refPartition picks a series' partition from its MetricData, as the
// schemes of FORMATS.md 3.7 say.
func refPartition(m MetrictankOptions, md *MetricData, n int32) int32 {
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

// The definition the sink builds from a window (name, unit, mtype, sorted
// "key=value" tags) is the one of the MetricData a reader would expect:
// same key, same bytes, same partition under every scheme, also where
// sorting by tag key and sorting "key=value" strings differ.
func TestMdmDefMatchesMetricData(t *testing.T) {
	wins := []Window{
		{Metric: []byte("cpu"), Tags: []Tag{{[]byte("dc"), []byte("x")}, {[]byte("host"), []byte("a")}}},
		{Metric: []byte("cpu"), Tags: []Tag{{[]byte("a"), []byte("1")}, {[]byte("a.b"), []byte("2")}, {[]byte("name"), []byte("n")}}},
		{Metric: []byte("disk.used")},
	}
	var d mdmDef
	for _, w := range wins {
		w.StepSeconds, w.Start = 60, 1700000040
		for _, v := range []AggValue{{"sum", 1.5}, {"count", 7}} {
			md := MetricData{OrgID: 3, Name: string(w.Metric) + "." + v.Aggregator, Interval: 60, Value: v.Value, Unit: "unknown",
				Time: w.Start, Mtype: map[string]string{"sum": "gauge", "count": "count"}[v.Aggregator]}
			for _, tg := range w.Tags {
				md.Tags = append(md.Tags, string(tg.Key)+"="+string(tg.Value))
			}
			key := md.MetricKey()
			d.define(&w, &v)
			if got := d.key(60); got != key {
				t.Fatalf("%s: key %x, want %x", md.Name, got, key)
			}
			if got, want := d.appendData(nil, 3, key, 60, v.Value, w.Start), AppendMetricData(nil, &md, key); string(got) != string(want) {
				t.Fatalf("%s:\n got %x\nwant %x", md.Name, got, want)
			}
			for _, scheme := range MetrictankSchemes {
				o := MetrictankOptions{OrgID: 3, Scheme: scheme}
				for _, n := range []int32{1, 7, 64} {
					if got, want := d.partition(&o, n), refPartition(o, &md, n); got != want {
						t.Fatalf("%s %s/%d: partition %d, want %d", md.Name, scheme, n, got, want)
					}
				}
			}
		}
	}
}
