package fastparse

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// errMark marks, inside a test input, the position where an error is
// expected (line-protocol's makeErrPositions idea). Each rejected line
// consumes the next mark, in order.
const errMark = "∑"

// unmark removes the error marks from s and returns their byte offsets in
// the resulting text.
func unmark(s string) (string, []int) {
	var offs []int
	var b strings.Builder
	for {
		i := strings.Index(s, errMark)
		if i < 0 {
			b.WriteString(s)
			return b.String(), offs
		}
		b.WriteString(s[:i])
		offs = append(offs, b.Len())
		s = s[i+len(errMark):]
	}
}

// render describes the current line of d in one string, for comparing
// with the expectations of the table tests. Names and strings are quoted
// with %q; numbers carry their line-protocol suffix; the time is shown
// only when the line had a timestamp.
func render(d *InfluxDecoder) string {
	if e := d.Err(); e != nil {
		return "error: " + e.Reason.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q", d.Measurement())
	for _, t := range d.Tags() {
		fmt.Fprintf(&b, " %q=%q", t.Key, t.Value)
	}
	for i, f := range d.Fields() {
		sep := " "
		if i == 0 {
			sep = " | "
		}
		fmt.Fprintf(&b, "%s%q=", sep, f.Key)
		switch f.Kind {
		case FieldFloat:
			b.WriteString(strconv.FormatFloat(f.Float, 'g', -1, 64))
		case FieldInt:
			fmt.Fprintf(&b, "%di", f.Int)
		case FieldUint:
			fmt.Fprintf(&b, "%du", f.Uint)
		case FieldBool:
			fmt.Fprintf(&b, "%t", f.Bool)
		case FieldString:
			fmt.Fprintf(&b, "%q", AppendUnescapedString(nil, f.Str))
		default:
			fmt.Fprintf(&b, "kind(%d)", f.Kind)
		}
	}
	if d.HasTime() {
		fmt.Fprintf(&b, " | %d", d.Time())
	}
	return b.String()
}

var influxTests = []struct {
	name  string
	in    string // input with errMark where errors are expected
	prec  Precision
	deflt int64    // default time
	want  []string // one per line: render's output or "error: <reason>"
}{
	// Valid lines.
	{
		name: "telegraf cpu",
		in:   "cpu,cpu=cpu0,host=a usage_user=1.5,usage_idle=98.2345 1700000000000000000\n",
		want: []string{`"cpu" "cpu"="cpu0" "host"="a" | "usage_user"=1.5 "usage_idle"=98.2345 | 1700000000000000000`},
	},
	{
		name: "no tags, no timestamp, no final newline",
		in:   "m f=1",
		want: []string{`"m" | "f"=1`},
	},
	{
		name: "float spellings",
		in:   `m a=1,b=-1.5,c=1.,d=.5,e=1e3,f=-0,g=1E-3,h=0x1p-2,i=1_000.5,j=00012.50,k=1e-400,l=-.5e+2`,
		want: []string{`"m" | "a"=1 "b"=-1.5 "c"=1 "d"=0.5 "e"=1000 "f"=-0 "g"=0.001 "h"=0.25 "i"=1000.5 "j"=12.5 "k"=0 "l"=-50`},
	},
	{
		name: "integer and unsigned limits and leading zeros",
		in:   `m a=1i,b=-9223372036854775808i,c=9223372036854775807i,d=01i,e=18446744073709551615u,f=0u,g=-0i,h=000000000000000000000000042i`,
		want: []string{`"m" | "a"=1i "b"=-9223372036854775808i "c"=9223372036854775807i "d"=1i "e"=18446744073709551615u "f"=0u "g"=0i "h"=42i`},
	},
	{
		name: "the ten boolean spellings",
		in:   `m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE`,
		want: []string{`"m" | "a"=true "b"=true "c"=true "d"=true "e"=true "f"=false "g"=false "h"=false "i"=false "j"=false`},
	},
	{
		name: "string escapes",
		in:   `m s="a\"b\\c\nd\qe\tf\r",e="",t="true",c=",= "`,
		want: []string{`"m" | "s"="a\"b\\c\nd\\qe\tf\r" "e"="" "t"="true" "c"=",= "`},
	},
	{
		name: "raw newline inside a string continues the line",
		in:   "m s=\"a\nb\",f=1 5\nn f=2\n",
		want: []string{`"m" | "s"="a\nb" "f"=1 | 5`, `"n" | "f"=2`},
	},
	{
		name: "escapes in names",
		in:   `my\ cpu\,x,t\ k\=1=v\,a\ b f\=x=1`,
		want: []string{`"my cpu,x" "t k=1"="v,a b" | "f=x"=1`},
	},
	{
		name: "backslash before other bytes is verbatim",
		in:   `cpu,host=two\\\ words va\lue=42,x\=\y=1 1` + "\n" + `m\=\"q f=1`,
		want: []string{`"cpu" "host"="two\\\\ words" | "va\\lue"=42 "x=\\y"=1 | 1`, `"m\\=\\\"q" | "f"=1`},
	},
	{
		name: "trailing backslash at end of input stays",
		in:   `m s="x",f\∑`,
		want: []string{"error: syntax"},
	},
	{
		name: "unsorted tags with escapes are sorted unescaped",
		in:   `m,z\ z=1,a\,a=2\ x,m=3,a=0 f=1`,
		want: []string{`"m" "a"="0" "a,a"="2 x" "m"="3" "z z"="1" | "f"=1`},
	},
	{
		name: "measurement may hold = and quotes",
		in:   `a=b"c,t=x"y f=1`,
		want: []string{`"a=b\"c" "t"="x\"y" | "f"=1`},
	},
	{
		name: "duplicate field keys are kept",
		in:   `m f=1,f=2i`,
		want: []string{`"m" | "f"=1 "f"=2i`},
	},
	{
		name: "CRLF line endings",
		in:   "m f=1\r\nn f=2 3\r\n\r\n",
		want: []string{`"m" | "f"=1`, `"n" | "f"=2 | 3`},
	},
	{
		name: "CR at the very end counts as a line end",
		in:   "m f=1 2\r",
		want: []string{`"m" | "f"=1 | 2`},
	},
	{
		name: "comments, blank lines and leading spaces",
		in:   "# c\n\n   \n  # c2 \xff é\r\n   m f=1\n#last",
		want: []string{`"m" | "f"=1`},
	},
	{
		name: "several spaces as separators and trailing spaces",
		in:   "m,t=1   f=1   123   \nn f=2   ",
		want: []string{`"m" "t"="1" | "f"=1 | 123`, `"n" | "f"=2`},
	},
	{
		name: "negative timestamp and leading zeros beyond 19 digits",
		in:   "m f=1 -5\nm f=1 0000000000000000000000042\nm f=1 -9223372036854775808",
		want: []string{`"m" | "f"=1 | -5`, `"m" | "f"=1 | 42`, `"m" | "f"=1 | -9223372036854775808`},
	},
	{
		name: "second precision",
		in:   "m f=1 1700000000\nm f=1 -2\nm f=1 ∑9223372037",
		prec: Second,
		want: []string{`"m" | "f"=1 | 1700000000000000000`, `"m" | "f"=1 | -2000000000`, "error: bad_timestamp"},
	},
	{
		name: "millisecond and microsecond precision",
		in:   "m f=1 1700000000123",
		prec: Millisecond,
		want: []string{`"m" | "f"=1 | 1700000000123000000`},
	},
	{
		name:  "default time is truncated to the precision",
		in:    "m f=1\nm f=2 7",
		prec:  Microsecond,
		deflt: -1500,
		want:  []string{`"m" | "f"=1`, `"m" | "f"=2 | 7000`},
	},

	// Rejected lines; ∑ marks the reported position.
	{name: "measurement only", in: "m∑", want: []string{"error: syntax"}},
	{name: "measurement and newline", in: "m∑\nn f=1", want: []string{"error: syntax", `"n" | "f"=1`}},
	{name: "tab separator", in: "m∑\tf=1", want: []string{"error: syntax"}},
	{name: "tab inside tags", in: "m,t=v∑\tf=1", want: []string{"error: syntax"}},
	{name: "missing measurement", in: "∑,t=1 f=1", want: []string{"error: syntax"}},
	{name: "comma then space", in: "m,∑ f=1", want: []string{"error: syntax"}},
	{name: "comma at end", in: "m,∑", want: []string{"error: syntax"}},
	{name: "tag without value", in: "m,t∑ f=1", want: []string{"error: syntax"}},
	{name: "empty tag value", in: "m,t=∑ f=1", want: []string{"error: syntax"}},
	{name: "empty tag key", in: "m,∑=v f=1", want: []string{"error: syntax"}},
	{name: "double comma", in: "m,a=b,∑,c=d f=1", want: []string{"error: syntax"}},
	{name: "equals in tag value", in: "m,t=v∑=x f=1", want: []string{"error: syntax"}},
	{name: "no fields after tags", in: "m,t=1∑", want: []string{"error: syntax"}},
	{name: "no fields after space", in: "m ∑", want: []string{"error: syntax"}},
	{name: "escaped space swallows the separator", in: `m,t=v\ f∑=1`, want: []string{"error: syntax"}},
	{name: "field key without value", in: "m f∑", want: []string{"error: syntax"}},
	{name: "field value at end", in: "m f=∑", want: []string{"error: syntax"}},
	{name: "empty field value", in: "m f=∑,g=1", want: []string{"error: syntax"}},
	{name: "plus sign", in: "m f=∑+1", want: []string{"error: syntax"}},
	{name: "NaN", in: "m f=∑NaN", want: []string{"error: syntax"}},
	{name: "negative infinity", in: "m f=∑-Inf", want: []string{"error: syntax"}},
	{name: "lone minus", in: "m f=∑-", want: []string{"error: syntax"}},
	{name: "lone dot", in: "m f=∑.", want: []string{"error: syntax"}},
	{name: "float overflow", in: "m f=∑1e400", want: []string{"error: value_out_of_range"}},
	{name: "float overflow at the edge", in: "m f=∑179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792", want: []string{"error: value_out_of_range"}},
	{name: "float just below the edge", in: "m f=179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791", want: []string{`"m" | "f"=1.7976931348623157e+308`}},
	{name: "int overflow", in: "m f=∑9223372036854775808i", want: []string{"error: value_out_of_range"}},
	{name: "negative unsigned", in: "m f=∑-1u", want: []string{"error: syntax"}},
	{name: "unsigned overflow", in: "m f=∑18446744073709551616u", want: []string{"error: value_out_of_range"}},
	{name: "exponent on integer", in: "m f=∑1e5i", want: []string{"error: syntax"}},
	{name: "underscore in integer", in: "m f=∑1_000i", want: []string{"error: syntax"}},
	{name: "bad boolean", in: "m f=∑tRUE", want: []string{"error: syntax"}},
	{name: "control byte in value", in: "m f=∑1\x01", want: []string{"error: syntax"}},
	{name: "unterminated string", in: "m f=∑\"abc\nn f=1", want: []string{"error: syntax"}},
	{name: "text after string", in: `m f="x"∑y`, want: []string{"error: syntax"}},
	{name: "trailing comma after fields", in: "m f=1,∑", want: []string{"error: syntax"}},
	{name: "comma then space in fields", in: "m f=1,∑ g=2", want: []string{"error: syntax"}},
	{name: "field where timestamp expected", in: "m f=1 ∑g=2", want: []string{"error: syntax"}},
	{name: "bad timestamp characters", in: "m f=1 ∑12x", want: []string{"error: syntax"}},
	{name: "text after timestamp", in: "m f=1 12 ∑x", want: []string{"error: syntax"}},
	{name: "timestamp out of range", in: "m f=1 ∑12345678901234567890", want: []string{"error: bad_timestamp"}},
	{name: "timestamp with inner minus", in: "m f=1 ∑1-2", want: []string{"error: syntax"}},
	{name: "timestamp minus only", in: "m f=1 ∑-", want: []string{"error: syntax"}},
	{name: "timestamp with plus", in: "m f=1 ∑+1", want: []string{"error: syntax"}},
	{name: "duplicate tag adjacent", in: "m,a=1,∑a=2 f=1", want: []string{"error: duplicate_tag"}},
	{name: "duplicate tag after sorting", in: "m,b=1,a=2,∑b=3,a=4 f=1", want: []string{"error: duplicate_tag"}},
	{name: "duplicate tag via escapes", in: `m,a\ b=1,∑a\ b=2 f=1`, want: []string{"error: duplicate_tag"}},
	{name: "invalid UTF-8 in measurement", in: "∑m\xff f=1", want: []string{"error: invalid_encoding"}},
	{name: "invalid UTF-8 in tag value", in: "m,t=∑\xc3\x28 f=1", want: []string{"error: invalid_encoding"}},
	{name: "invalid UTF-8 in field key", in: "m ∑\xff=1", want: []string{"error: invalid_encoding"}},
	{name: "invalid UTF-8 in string", in: "m f=\"∑\xff\"", want: []string{"error: invalid_encoding"}},
	{name: "control byte in tag key", in: "m,t∑\x01=v f=1", want: []string{"error: invalid_encoding"}},
	{name: "control byte starts line", in: "∑\x00m f=1", want: []string{"error: invalid_encoding"}},
	{name: "control byte in comment", in: "# comment∑\x01\nm f=1", want: []string{"error: invalid_encoding", `"m" | "f"=1`}},
	{name: "tab in comment", in: "  # a∑\tb\nm f=1", want: []string{"error: syntax", `"m" | "f"=1`}},
	{name: "lone CR in comment", in: "# a∑\rb\nm f=1", want: []string{"error: syntax", `"m" | "f"=1`}},
	{name: "lone CR line", in: "m f=1\n∑\rx\nn f=2", want: []string{`"m" | "f"=1`, "error: syntax", `"n" | "f"=2`}},

	// Recovery.
	{
		name: "recovery continues with the next line",
		in:   "m1 f=1\nm2 f=∑2a.0\nm3 f=3\n",
		want: []string{`"m1" | "f"=1`, "error: syntax", `"m3" | "f"=3`},
	},
	{
		// As in v2, the rest of the line is dropped up to the next LF
		// after the error, even if a quoted string holds that LF: the
		// tail of the string is decoded (and rejected) as a line.
		name: "recovery does not see a later quoted newline",
		in:   "m,t=∑ s=\"a\nb f=∑2\"\nm3 f=3",
		want: []string{"error: syntax", "error: syntax", `"m3" | "f"=3`},
	},
	{
		name: "recovery after an error past a multi-line string",
		in:   "m s=\"a\nb\",f=∑x\nm3 f=3",
		want: []string{"error: syntax", `"m3" | "f"=3`},
	},
	{
		name: "invalid UTF-8 string with newline is skipped whole",
		in:   "m f=\"∑\xff\nx\" 1\nm3 f=3",
		want: []string{"error: invalid_encoding", `"m3" | "f"=3`},
	},
	{
		// v2 quirk: when no timestamp token follows the fields it
		// resumes at the next CR or LF, so a lone CR yields one more
		// rejected line.
		name: "lone CR after fields yields two errors",
		in:   "m f=1∑∑\r x\nn f=2",
		want: []string{"error: syntax", "error: syntax", `"n" | "f"=2`},
	},
	{
		name: "bad timestamp start then lone CR",
		in:   "m f=1 ∑x∑\ry\nn f=2",
		want: []string{"error: syntax", "error: syntax", `"n" | "f"=2`},
	},
	{
		name: "bad timestamp then lone CR is one error",
		in:   "m f=1 ∑5x\ry\nn f=2",
		want: []string{"error: syntax", `"n" | "f"=2`},
	},
	{
		name: "lone CR after timestamp",
		in:   "m f=1 5∑\rx\nn f=2",
		want: []string{"error: syntax", `"n" | "f"=2`},
	},
}

func TestInfluxDecoder(t *testing.T) {
	var d InfluxDecoder // one decoder for all rows: Reset must clear everything
	for _, tt := range influxTests {
		t.Run(tt.name, func(t *testing.T) {
			in, marks := unmark(tt.in)
			d.Reset([]byte(in), tt.deflt, tt.prec)
			var got []string
			for d.Next() {
				got = append(got, render(&d))
				if e := d.Err(); e != nil {
					if len(marks) == 0 {
						t.Errorf("line %d: unexpected error %v", len(got), e)
						continue
					}
					if e.Offset != marks[0] {
						t.Errorf("line %d: error %q at offset %d, want %d\n%s", len(got), e, e.Offset, marks[0], showOffset(in, e.Offset))
					}
					marks = marks[1:]
				} else {
					if !d.HasTime() && d.Time() != tt.prec.truncate(tt.deflt) {
						t.Errorf("line %d: default time %d, want %d", len(got), d.Time(), tt.prec.truncate(tt.deflt))
					}
				}
			}
			if len(marks) != 0 {
				t.Errorf("%d error marks left over", len(marks))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if d.Lines() != strings.Count(in, "\n")+boolInt(len(in) > 0 && in[len(in)-1] != '\n') {
				t.Errorf("Lines() = %d after the end", d.Lines())
			}
			if d.Next() {
				t.Errorf("Next returned true after the end")
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func showOffset(s string, off int) string {
	return fmt.Sprintf("%q\n%q", s[:off], s[off:])
}

// TestManyTags covers both sorting methods: insertion sort for a few tags
// and the general sort for many.
func TestManyTags(t *testing.T) {
	for _, n := range []int{2, 3, 16, 17, 40} {
		for _, dup := range []int{-1, 0, n / 2, n - 1} {
			// Keys t<n-1> .. t0 in reverse order, each with value v<i>;
			// if dup >= 0 the key at position dup is repeated at the end.
			var b strings.Builder
			b.WriteString("m")
			var keys []string
			for i := n - 1; i >= 0; i-- {
				keys = append(keys, fmt.Sprintf("t%02d", i))
			}
			for _, k := range keys {
				fmt.Fprintf(&b, ",%s=v", k)
			}
			dupOff := -1
			if dup >= 0 {
				dupOff = b.Len() + 1
				fmt.Fprintf(&b, ",%s=w", keys[dup])
			}
			b.WriteString(" f=1")
			var d InfluxDecoder
			d.Reset([]byte(b.String()), 0, Nanosecond)
			if !d.Next() {
				t.Fatalf("n=%d: no line", n)
			}
			if dup >= 0 {
				if e := d.Err(); e == nil || e.Reason != ReasonDuplicateTag || e.Offset != dupOff {
					t.Errorf("n=%d dup=%d: error %v, want duplicate_tag at %d", n, dup, e, dupOff)
				}
				continue
			}
			if d.Err() != nil || len(d.Tags()) != n {
				t.Fatalf("n=%d: error %v, %d tags", n, d.Err(), len(d.Tags()))
			}
			for i, tag := range d.Tags() {
				if want := fmt.Sprintf("t%02d", i); string(tag.Key) != want {
					t.Errorf("n=%d: tag %d is %q, want %q", n, i, tag.Key, want)
				}
			}
		}
	}
}

func TestDefaultTimeTruncation(t *testing.T) {
	for _, tt := range []struct {
		prec       Precision
		deflt, out int64
	}{
		{Nanosecond, 1234567891, 1234567891},
		{Microsecond, 1234567891, 1234567000},
		{Millisecond, 1234567891, 1234000000},
		{Second, 1234567891, 1000000000},
		{Second, -1, -1000000000}, // rounds down, not towards zero (time.Time.Truncate)
		{Millisecond, -1000000, -1000000},
	} {
		var d InfluxDecoder
		d.Reset([]byte("m f=1"), tt.deflt, tt.prec)
		if !d.Next() || d.Err() != nil || d.HasTime() || d.Time() != tt.out {
			t.Errorf("%v default %d: got time %d err %v, want %d", tt.prec, tt.deflt, d.Time(), d.Err(), tt.out)
		}
	}
}

func TestPositions(t *testing.T) {
	in := "# c\n\n  m f=1\r\nm s=\"a\nbc\",f=1,g=1x 1\n  n,t=1 s=\"x\n\",g=1\n"
	var d InfluxDecoder
	d.Reset([]byte(in), 0, Nanosecond)

	type pos struct{ num, off, lines int }
	var got []pos
	for d.Next() {
		got = append(got, pos{d.LineNumber(), d.LineOffset(), d.Lines()})
		if e := d.Err(); e != nil {
			want := `line 5:11: invalid float value "1x"`
			if e.Error() != want || e.Line != 5 || e.Col != 11 || e.Offset != strings.Index(in, "1x 1") {
				t.Errorf("error %q (line %d col %d offset %d), want %q", e, e.Line, e.Col, e.Offset, want)
			}
		}
	}
	want := []pos{{3, 7, 3}, {4, 14, 5}, {6, 38, 7}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("positions %v, want %v", got, want)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"cpu,host a=1", `line 1:9: expected '=' after tag key "host", found ' '`},
		{"\n\ncpu,host=a,host=b f=1", `line 3:12: duplicate tag key "host"`},
		{"m", `line 1:2: expected ',' or ' ' after measurement name, found end of input`},
		{"m\tf=1", `line 1:2: expected ',' or ' ' after measurement name, found '\t'`},
		{"m,t\x01=1 f=1", `line 1:4: expected '=' after tag key "t", found '\x01'`},
		{"m f=\"x\"\xe9", `line 1:8: expected ',' or ' ' after field value, found '\xe9'`},
		{"m f=" + strings.Repeat("9", 100) + "i", `line 1:5: integer value out of range "` + strings.Repeat("9", 64) + `"...`},
		{"m f=\"é" + strings.Repeat("x", 62) + "é\xff\"", `line 1:6: invalid UTF-8 in string field value "é` + strings.Repeat("x", 62) + `"...`},
	} {
		var d InfluxDecoder
		d.Reset([]byte(tt.in), 0, Nanosecond)
		if !d.Next() || d.Err() == nil {
			t.Errorf("%q: no error", tt.in)
			continue
		}
		if got := d.Err().Error(); got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.in, got, tt.want)
		}
		// A copy must survive the decoder moving on.
		e := *d.Err()
		d.Reset([]byte("other,x=y bad"), 0, Nanosecond)
		d.Next()
		if got := e.Error(); got != tt.want {
			t.Errorf("%q: copy changed to %s", tt.in, got)
		}
	}
}

func TestAppendUnescapedString(t *testing.T) {
	for raw, want := range map[string]string{
		``:              ``,
		`plain`:         `plain`,
		`a\"b`:          `a"b`,
		`a\\b`:          `a\b`,
		`\n\r\t`:        "\n\r\t",
		`\q\`:           `\q\`,
		`\\\"`:          `\"`,
		`\\n`:           `\n`,
		"x\\\ny":        "x\\\ny",
		`tail\`:         `tail\`,
		`\v\f\\\\\\\\q`: `\v\f\\\\q`,
	} {
		if got := string(AppendUnescapedString([]byte(">"), []byte(raw))); got != ">"+want {
			t.Errorf("AppendUnescapedString(%q) = %q, want %q", raw, got[1:], want)
		}
	}
}

func TestParsePrecision(t *testing.T) {
	for _, p := range []Precision{Nanosecond, Microsecond, Millisecond, Second} {
		got, err := ParsePrecision(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePrecision(%q) = %v, %v", p.String(), got, err)
		}
	}
	for _, s := range []string{"", "n", "u", "µs", "NS", "1s", "h"} {
		if _, err := ParsePrecision(s); err == nil || !strings.Contains(err.Error(), "ns, us, ms, s") {
			t.Errorf("ParsePrecision(%q) error = %v", s, err)
		}
	}
}

func TestReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range AllReasons {
		s := r.String()
		if seen[s] || strings.ToLower(s) != s || strings.Contains(s, "(") {
			t.Errorf("bad or repeated reason label %q", s)
		}
		seen[s] = true
	}
	if len(errInfos)-1 != int(errDuplicateTag) {
		t.Errorf("errInfos has %d entries for %d codes", len(errInfos)-1, errDuplicateTag)
	}
	for code, info := range errInfos[1:] {
		if info.msg == "" || info.reason == 0 {
			t.Errorf("error code %d has no message or reason", code+1)
		}
	}
}

func TestFieldNumber(t *testing.T) {
	for _, tt := range []struct {
		f    Field
		v    float64
		isOK bool
	}{
		{Field{Kind: FieldFloat, Float: 1.5}, 1.5, true},
		{Field{Kind: FieldInt, Int: -3}, -3, true},
		{Field{Kind: FieldUint, Uint: math.MaxUint64}, math.MaxUint64, true},
		{Field{Kind: FieldBool, Bool: true}, 1, true},
		{Field{Kind: FieldBool}, 0, true},
		{Field{Kind: FieldString, Str: []byte("1")}, 0, false},
	} {
		if v, ok := tt.f.Number(); v != tt.v || ok != tt.isOK {
			t.Errorf("%+v.Number() = %v, %v", tt.f, v, ok)
		}
	}
}

// TestZeroAllocs checks that a warmed-up decoder does not allocate, even
// for lines with escapes, unsorted tags, duplicate tags, string values and
// every kind of error.
func TestZeroAllocs(t *testing.T) {
	in := []byte(strings.Join([]string{
		`cpu,cpu=cpu0,host=server01 usage_user=1.5,usage_idle=98.2345,n=12345i,u=7u,ok=true 1700000000000000000`,
		`my\ cpu,z\ tag=a\,b,host=x,a\=b=c f\=x=1.5e-3,s="str \"q\" \\ \n",g=0x1p-2,h=1_0,big=12345678901234567890123 -5`,
		`# a comment`,
		``,
		`m,b=1,a=2,c=3 f=1`,
		`m,b=1,a=2,b=3 f=1`,
		`m,t= f=1`,
		`m f=2a.0`,
		`m f=NaN`,
		`m f=1e400`,
		`m f=1e99999`,
		`m f=99999999999999999999999i`,
		`m f=-1u`,
		`m f=tru`,
		`m f="multi` + "\n" + `line"`,
		`m f=1 12345678901234567890`,
		`m f=1 1-2`,
		`m f=1 x` + "\r" + `y`,
		"m\xff f=1",
		"m,t=\x01 f=1",
		"# bad \x01 comment",
		`m,host=` + strings.Repeat("x", 200) + `,a=b f=` + strings.Repeat("y", 100),
		"m f=1",
	}, "\n"))
	var d InfluxDecoder
	run := func() {
		d.Reset(in, 1700000000000000000, Millisecond)
		for d.Next() {
			if e := d.Err(); e != nil {
				_ = e.Reason
			}
			for i := range d.Fields() {
				d.Fields()[i].Number()
			}
		}
	}
	run() // grow the scratch buffers
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
	// The buffer does produce errors and results.
	d.Reset(in, 0, Nanosecond)
	var ok, bad int
	for d.Next() {
		if d.Err() != nil {
			bad++
		} else {
			ok++
		}
	}
	if ok != 5 || bad != 17 {
		t.Errorf("%d good and %d bad lines, want 5 and 17", ok, bad)
	}
}
