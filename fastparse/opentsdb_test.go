package fastparse

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// otsdbResult is a decoded line as text: "metric t=ns v=value k=v,k=v" or
// "error line:col reason: message".
func otsdbResult(d *OpenTSDBDecoder) string {
	if e := d.Err(); e != nil {
		return fmt.Sprintf("error %d:%d %s: %s", e.Line, e.Col, e.Reason, e.Error())
	}
	var tags []string
	for _, t := range d.Tags() {
		tags = append(tags, string(t.Key)+"="+string(t.Value))
	}
	f := d.Fields()
	if len(f) != 1 || len(f[0].Key) != 0 || f[0].Kind != FieldFloat {
		return "bad fields"
	}
	return fmt.Sprintf("%s t=%d v=%v %s", d.Measurement(), d.Time(), f[0].Float, strings.Join(tags, ","))
}

func decodeOpenTSDB(d *OpenTSDBDecoder, in string) []string {
	d.Reset([]byte(in), 0)
	var out []string
	for d.Next() {
		out = append(out, otsdbResult(d))
	}
	return out
}

func TestOpenTSDB(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"FORMATS example", "put sys.cpu.user 1700000000 42.5 host=web01 dc=lga\n",
			[]string{"sys.cpu.user t=1700000000000000000 v=42.5 dc=lga,host=web01"}},
		{"crlf, blank lines, no final newline", "\r\nput m 1700000000 1 a=b\r\n\nput m 1700000001 -2 a=b",
			[]string{"m t=1700000000000000000 v=1 a=b", "m t=1700000001000000000 v=-2 a=b"}},
		{"milliseconds beyond 32 bits", "put m 1700000000123 1 a=b\n",
			[]string{"m t=1700000000123000000 v=1 a=b"}},
		{"a dot is deleted: three decimals are milliseconds", "put m 1700000000.123 1 a=b\n",
			[]string{"m t=1700000000123000000 v=1 a=b"}},
		{"one decimal is misread as ms, as OpenTSDB does", "put m 1700000000.5 1 a=b\n",
			[]string{"m t=17000000005000000 v=1 a=b"}},
		{"largest seconds", "put m 4294967295 1 a=b\n", []string{"m t=4294967295000000000 v=1 a=b"}},
		{"int64 and floats", "put m 1 +7 a=b\nput m 1 1e3 a=b\nput m 1 -0.25 a=b\nput m 1 9223372036854775807 a=b\n",
			[]string{"m t=1000000000 v=7 a=b", "m t=1000000000 v=1000 a=b", "m t=1000000000 v=-0.25 a=b",
				"m t=1000000000 v=9.223372036854776e+18 a=b"}},
		{"doubled spaces among tags are skipped", "put m 1 1 a=b  c=d \n", []string{"m t=1000000000 v=1 a=b,c=d"}},
		{"same tag twice with the same value counts once", "put m 1 1 a=b a=b\n", []string{"m t=1000000000 v=1 a=b"}},
		{"letters and /", "put prod/sys.Übung-1_x 1 1 höst=wéb\n", []string{"prod/sys.Übung-1_x t=1000000000 v=1 höst=wéb"}},
		{"errors do not stop the next line", "put m 1 1 a=b=c\nput m 1 2 a=b\n",
			[]string{`error 1:11 syntax: line 1:11: invalid tag: want key=value, both non-empty, found "a=b=c"`, "m t=1000000000 v=2 a=b"}},
		{"not put", "rollup 1h-sum m 1 1 a=b\n", []string{`error 1:1 syntax: line 1:1: expected "put" at the start of the line, found "rollup"`}},
		{"doubled space before the metric", "put  m 1 1 a=b\n", []string{"error 1:5 syntax: line 1:5: empty metric name (a doubled space?)"}},
		{"doubled space before the value", "put m 1  1 a=b\n", []string{`error 1:9 syntax: line 1:9: invalid value: want an integer or a finite float, found ""`}},
		{"no tag", "put m 1 1\n", []string{"error 1:10 syntax: line 1:10: no tag: OpenTSDB needs at least one tagk=tagv"}},
		{"bad character", "put m 1 1 host=a:b\n", []string{`error 1:17 syntax: line 1:17: invalid character in tag value (allowed: a-z A-Z 0-9 - _ . / and letters) "a:b", found ':'`}},
		{"symbol, not a letter", "put m€ 1 1 a=b\n", []string{`error 1:6 invalid_encoding: line 1:6: invalid UTF-8 or a character that is not a letter in metric name "m€"`}},
		{"duplicate key", "put m 1 1 a=b a=c\n", []string{`error 1:15 duplicate_tag: line 1:15: duplicate tag key with another value "a"`}},
		{"zero time", "put m 0 1 a=b\n", []string{`error 1:7 bad_timestamp: line 1:7: invalid timestamp: want seconds or milliseconds (at most 13 digits), found "0"`}},
		{"14 digits", "put m 17000000001234 1 a=b\n", []string{`error 1:7 bad_timestamp: line 1:7: invalid timestamp: want seconds or milliseconds (at most 13 digits), found "17000000001234"`}},
		{"NaN", "put m 1 NaN a=b\nput m 1 1e999 a=b\nput m 1 0x10 a=b\n", []string{
			`error 1:9 syntax: line 1:9: invalid value: want an integer or a finite float, found "NaN"`,
			`error 2:9 syntax: line 2:9: invalid value: want an integer or a finite float, found "1e999"`,
			`error 3:9 syntax: line 3:9: invalid value: want an integer or a finite float, found "0x10"`}},
		{"nine tags", "put m 1 1 a=1 b=1 c=1 d=1 e=1 f=1 g=1 h=1 i=1\n", []string{"error 1:1 syntax: line 1:1: more tags than tsd.storage.max_tags allows"}},
		{"longer than 1024 bytes", "put m 1 1 a=" + strings.Repeat("x", 1013) + "\nput m 1 1 a=b\n", []string{
			"error 1:1025 syntax: line 1:1025: line longer than OpenTSDB's 1024-byte limit", "m t=1000000000 v=1 a=b"}},
		{"exactly 1024 bytes", "put m 1 1 a=" + strings.Repeat("x", 1012) + "\n", []string{"m t=1000000000 v=1 a=" + strings.Repeat("x", 1012)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d OpenTSDBDecoder
			got := decodeOpenTSDB(&d, c.in)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestOpenTSDBOptions(t *testing.T) {
	d := OpenTSDBDecoder{MaxTags: 9, AllowSpecialChars: ":"}
	got := decodeOpenTSDB(&d, "put m 1 1 a=1 b=1 c=1 d=1 e=1 f=1 g=1 h=1 i=1\nput m 1 1 host=a:b\n")
	want := []string{"m t=1000000000 v=1 a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1", "m t=1000000000 v=1 host=a:b"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q", got)
	}
	// The special characters are rebuilt when the option changes.
	d.AllowSpecialChars = ""
	if got := decodeOpenTSDB(&d, "put m 1 1 host=a:b\n"); !strings.HasPrefix(got[0], "error") {
		t.Fatalf("':' still allowed: %q", got)
	}
}

func TestOpenTSDBNoAllocs(t *testing.T) {
	buf := []byte("put sys.cpu.user 1700000000 42.5 host=web01 dc=lga rack=r1\nput sys.cpu.user 1700000000.123 7 dc=lga host=web02\nput bad 1 1\n")
	var d OpenTSDBDecoder
	n := testing.AllocsPerRun(100, func() {
		d.Reset(buf, 0)
		for d.Next() {
			_ = d.Fields()
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per buffer", n)
	}
}

func FuzzOpenTSDB(f *testing.F) {
	f.Add("put sys.cpu.user 1700000000 42.5 host=web01 dc=lga\n")
	f.Add("put m 1700000000.123 -1e3 a=b  c=d\r\nput m 1 1\n")
	f.Add("")
	f.Add("put m 1 1 a=b=c\x00\n\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var d OpenTSDBDecoder
		d.Reset([]byte(in), 0)
		for d.Next() {
			if off := d.LineOffset(); off < 0 || off > len(in) {
				t.Fatalf("line offset %d of %d", off, len(in))
			}
			if e := d.Err(); e != nil {
				if e.Offset < 0 || e.Offset > len(in) || e.Col < 1 || e.Line < 1 {
					t.Fatalf("error position %+v", e)
				}
				continue
			}
			v := d.Fields()[0].Float
			if math.IsNaN(v) || math.IsInf(v, 0) || d.Time() <= 0 || len(d.Tags()) == 0 || len(d.Measurement()) == 0 {
				t.Fatalf("accepted %q: %s", in, otsdbResult(&d))
			}
			for i := 1; i < len(d.Tags()); i++ {
				if string(d.Tags()[i-1].Key) >= string(d.Tags()[i].Key) {
					t.Fatalf("tags not sorted or duplicated: %s", otsdbResult(&d))
				}
			}
		}
	})
}

func TestNewDecoder(t *testing.T) {
	for _, f := range InputFormats {
		if d, err := NewDecoder(f.Name, DecoderOptions{}); err != nil || d == nil {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
	if _, err := NewDecoder("graphite", DecoderOptions{}); err == nil || err.Error() != `unknown input format "graphite" (valid: influx, opentsdb, opentsdb-keyed, carbon, metrictank, auto)` {
		t.Fatalf("unknown format: %v", err)
	}
}
