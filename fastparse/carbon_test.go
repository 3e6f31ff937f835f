package fastparse

import (
	"fmt"
	"strings"
	"testing"
)

func carbonResult(d *CarbonDecoder) string {
	if e := d.Err(); e != nil {
		return fmt.Sprintf("error %s: %s", e.Reason, e.Error())
	}
	var tags []string
	for _, t := range d.Tags() {
		tags = append(tags, string(t.Key)+"="+string(t.Value))
	}
	return fmt.Sprintf("%s t=%d v=%v %s", d.Measurement(), d.Time(), d.Fields()[0].Float, strings.Join(tags, ","))
}

func TestCarbon(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "servers.web01.cpu.user 42.5 1700000000\n", []string{"servers.web01.cpu.user t=1700000000000000000 v=42.5 "}},
		{"whitespace runs, crlf, tab, no final newline", "  a.b\t 1e3   1700000000.9\r\n\n\t\r\nc -2 17",
			[]string{"a.b t=1700000000000000000 v=1000 ", "c t=17000000000 v=-2 "}},
		{"leading dot dropped once", "..a.b 1 1\n", []string{".a.b t=1000000000 v=1 "}},
		{"tagged", "disk.used;host=web01;dc=lga 7 1700000000\n", []string{"disk.used t=1700000000000000000 v=7 dc=lga,host=web01"}},
		{"non-finite values pass (the pipeline counts them)", "a NaN 1\nb -Inf 1\n", []string{"a t=1000000000 v=NaN ", "b t=1000000000 v=-Inf "}},
		{"two fields", "a.b 1\n", []string{`error syntax: line 1:1: want 3 fields: path value timestamp, found "a.b 1"`}},
		{"four fields", "a.b 1 2 3\n", []string{`error syntax: line 1:1: want 3 fields: path value timestamp, found "a.b 1 2 3"`}},
		{"non-ASCII", "a.é 1 2\n", []string{`error invalid_encoding: line 1:3: NUL or non-ASCII byte in metric path "a.é", found '\xc3'`}},
		{"bad value", "a x 2\n", []string{`error syntax: line 1:3: invalid value, found "x"`}},
		{"negative time", "a 1 -5\n", []string{`error bad_timestamp: line 1:5: invalid timestamp: want Unix seconds within 0..4294967295, found "-5"`}},
		{"time beyond uint32", "a 1 4294967296\n", []string{`error bad_timestamp: line 1:5: invalid timestamp: want Unix seconds within 0..4294967295, found "4294967296"`}},
		{"bad tag", "a;host 1 2\nb; 1 2\n", []string{
			`error syntax: line 1:3: invalid tag of a tagged series: want key=value, both non-empty, found "host"`,
			`error syntax: line 2:3: invalid tag of a tagged series: want key=value, both non-empty, found ""`}},
		{"duplicate tag", "a;k=1;k=2 1 2\n", []string{`error duplicate_tag: line 1:7: duplicate tag key "k"`}},
		{"too long", strings.Repeat("a", 4100) + " 1 2\nb 1 2\n", []string{
			"error syntax: line 1:4097: line longer than metrictank's 4096-byte carbon limit", "b t=2000000000 v=1 "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d CarbonDecoder
			d.Reset([]byte(c.in), 0)
			var got []string
			for d.Next() {
				got = append(got, carbonResult(&d))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestCarbonNoAllocs(t *testing.T) {
	buf := []byte("servers.web01.cpu.user 42.5 1700000000\ndisk.used;host=web01;dc=lga 7 1700000000\nbad\n")
	var d CarbonDecoder
	if n := testing.AllocsPerRun(100, func() {
		d.Reset(buf, 0)
		for d.Next() {
			_ = d.Fields()
		}
	}); n != 0 {
		t.Fatalf("%v allocations per buffer", n)
	}
}

func FuzzCarbon(f *testing.F) {
	f.Add("servers.web01.cpu.user 42.5 1700000000\n")
	f.Add("disk.used;host=web01;dc=lga 7 1700000000.5\r\n.x NaN 0\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		var d CarbonDecoder
		d.Reset([]byte(in), 0)
		for d.Next() {
			if e := d.Err(); e != nil {
				if e.Offset < 0 || e.Offset > len(in) || e.Col < 1 {
					t.Fatalf("error position %+v", e)
				}
				continue
			}
			if len(d.Measurement()) == 0 || d.Time() < 0 || d.Time() >= (1<<32)*1e9 {
				t.Fatalf("accepted %q: %s", in, carbonResult(&d))
			}
			for i := 1; i < len(d.Tags()); i++ {
				if string(d.Tags()[i-1].Key) >= string(d.Tags()[i].Key) {
					t.Fatalf("tags not sorted: %s", carbonResult(&d))
				}
			}
		}
	})
}
