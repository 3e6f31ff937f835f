package fastparse

import (
	"fmt"
	"strings"
	"testing"
)

func TestAutoDecoder(t *testing.T) {
	d, _ := NewDecoder("auto", DecoderOptions{Precision: Second})
	for _, c := range []struct{ in, want string }{
		{"cpu,host=a idle=2 1700000000\n", "cpu idle 1700000000000000000 2"},
		{"\n# comment\ncpu idle=1,user=2 1700000000", "cpu idle 1700000000000000000 1; cpu user 1700000000000000000 2"},
		{"put sys.load 1700000000 5 host=b\nput sys.load 1700000010 6 host=b\n", "sys.load  1700000000000000000 5; sys.load  1700000010000000000 6"},
		{"a.b.c 1.5 1700000000\n", "a.b.c  1700000000000000000 1.5"},
		{"disk;host=a 7 1700000000\n", "disk  1700000000000000000 7"},
		{"hello world\n", `error unknown_format: line 1:1: cannot tell the input format (metrictank, influx, opentsdb or carbon) from the first line "hello world"`},
		{"\x02\x87\x8e\xba", "error syntax: line 1:1: not a metrictank record: want a msgpack MetricData map or format byte 0x02, 0x03, 0x04 or 0x05 with its length"},
		{"\x05\x03" + strings.Repeat("\x00", 24) + "\x00\xf1\x53\x65", "error unknown_id: line 1:1: point of a metrictank id that no MetricData on this partition has described (yet) \"1.00000000000000000000000000000000\""},
		{"\x04\x80", ""},
		{"\xde\x00\x00", "error syntax: line 1:1: MetricData Id is not <org>.<32 hex digits>, found"},
		{"\xdex,y=1 v=2 1700000000", "error unknown_format: line 1:1: cannot tell the input format (metrictank, influx, opentsdb or carbon) from the first line \"\\xdex,y=1 v=2 1700000000\""},
		{"# only a comment\n", ""},
		{"  \n\n", ""},
	} {
		d.Reset([]byte(c.in), 0)
		var got []string
		for d.Next() {
			if e := d.Err(); e != nil {
				got = append(got, fmt.Sprintf("error %s: %s", e.Reason, e.Error()))
				continue
			}
			for _, f := range d.Fields() {
				v, _ := f.Number()
				got = append(got, fmt.Sprintf("%s %s %d %v", d.Measurement(), f.Key, d.Time(), v))
			}
		}
		if strings.Join(got, "; ") != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, strings.Join(got, "; "), c.want)
		}
	}
}

func FuzzAuto(f *testing.F) {
	for _, s := range []string{"cpu,host=a idle=2 1700000000\n", "put m 1 1 a=b\n", "a.b 1 2\n", "x\n", "\x05\x03abc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, _ := NewDecoder("auto", DecoderOptions{})
		d.Reset([]byte(in), 0)
		for d.Next() {
			if off := d.LineOffset(); off < 0 || off > len(in) {
				t.Fatalf("line offset %d of %d", off, len(in))
			}
			if e := d.Err(); e != nil && (e.Offset < 0 || e.Offset > len(in)) {
				t.Fatalf("error offset %d of %d", e.Offset, len(in))
			}
		}
	})
}
