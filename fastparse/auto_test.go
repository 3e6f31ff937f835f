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
		{"hello world\n", `error unknown_format: line 1:1: cannot tell the input format (influx, opentsdb or carbon) from the first line "hello world"`},
		{"\x02\x87\x8e\xba", `error unknown_format: line 1:1: cannot tell the input format (influx, opentsdb or carbon) from the first line "\x02\x87\x8e\xba"`},
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
