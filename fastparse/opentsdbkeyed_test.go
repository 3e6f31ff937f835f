package fastparse

import (
	"fmt"
	"strings"
	"testing"
)

func keyedResults(d *OpenTSDBKeyedDecoder, key, value string) []string {
	var out []string
	d.SetKey([]byte(key))
	d.Reset([]byte(value), 0)
	for d.Next() {
		if e := d.Err(); e != nil {
			out = append(out, fmt.Sprintf("error %s [%s] at %d", e.Error(), e.Reason, e.Offset))
			continue
		}
		var b strings.Builder
		b.Write(d.Measurement())
		for _, t := range d.Tags() {
			fmt.Fprintf(&b, ",%s=%s", t.Key, t.Value)
		}
		fmt.Fprintf(&b, " %v %d", d.Fields()[0].Float, d.Time())
		out = append(out, b.String())
	}
	return out
}

func TestOpenTSDBKeyed(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       []string
	}{
		{"sys.cpu.user", "1700000000 42.5 host=web01 dc=lga", []string{"sys.cpu.user,dc=lga,host=web01 42.5 1700000000000000000"}},
		{"sys.cpu.user", "1700000000 host=web01 dc=lga 42.5\r\n1700000010000 dc=lga 7 host=web01\n",
			[]string{"sys.cpu.user,dc=lga,host=web01 42.5 1700000000000000000", "sys.cpu.user,dc=lga,host=web01 7 1700000010000000000"}},
		{"sys.cpu.user", "1700000000 42.5 host=web01 x=", []string{`error line 1:28: invalid tag: want key=value, both non-empty, found "x=" [syntax] at 27`}},
		{"sys.cpu.user", "1700000000 host=web01 42.5 x=", []string{`error line 1:1: invalid tag: want key=value, both non-empty, found "x=" [syntax] at 0`}},
		{"sys.cpu.user", "1700000000 1 2 host=a", []string{`error line 1:14: a second word that is not a tag (want one value), found "2" [syntax] at 13`}},
		{"sys.cpu.user", "x 1 host=a\n1700000000 1 host=a", []string{
			`error line 1:1: invalid timestamp: want seconds or milliseconds (at most 13 digits), found "x" [bad_timestamp] at 0`,
			"sys.cpu.user,host=a 1 1700000000000000000"}},
		{"", "1700000000 1 host=a", []string{"error line 1:1: record has no key: the key must be the metric name [syntax] at 0"}},
		{"a b", "1700000000 1 host=a", []string{`error line 1:1: record key (the metric name) holds a space or line break: "a b" [syntax] at 0`}},
		{"cpu$", "1700000000 1 host=a", []string{`error line 1:1: invalid character in metric name (allowed: a-z A-Z 0-9 - _ . / and letters) "cpu$", found '$' [syntax] at 0`}},
		{"cpu", "1700000000 1", []string{"error line 1:13: no tag: OpenTSDB needs at least one tagk=tagv [syntax] at 12"}},
	} {
		var d OpenTSDBKeyedDecoder
		if got := keyedResults(&d, c.key, c.value); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%q %q:\n%s\nwant\n%s", c.key, c.value, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestOpenTSDBKeyedNoAllocs(t *testing.T) {
	var d OpenTSDBKeyedDecoder
	key, buf := []byte("sys.cpu.user"), []byte("1700000000 host=web01 dc=lga 42.5\n1700000001 1 host=a\n1 x\n")
	keyedResults(&d, string(key), string(buf))
	if n := testing.AllocsPerRun(100, func() {
		d.SetKey(key)
		d.Reset(buf, 0)
		for d.Next() {
			_ = d.Fields()
		}
	}); n != 0 {
		t.Fatalf("%v allocations per record", n)
	}
}

func FuzzOpenTSDBKeyed(f *testing.F) {
	f.Add("sys.cpu.user", "1700000000 42.5 host=web01 dc=lga\n1700000000 host=a 1\n")
	f.Add("m", "1 2 3 a=b\r\n")
	f.Fuzz(func(t *testing.T, key, value string) {
		var d OpenTSDBKeyedDecoder
		d.SetKey([]byte(key))
		d.Reset([]byte(value), 0)
		for d.Next() {
			if e := d.Err(); e != nil {
				if e.Offset < 0 || e.Offset > len(value) || e.Col < 1 {
					t.Fatalf("error position %+v", e)
				}
				continue
			}
			if string(d.Measurement()) != key || len(d.Tags()) == 0 {
				t.Fatalf("accepted %q %q as %q", key, value, d.Measurement())
			}
		}
	})
}
