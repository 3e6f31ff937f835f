package fastparse

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzInflux decodes arbitrary input and checks that the decoder does not
// panic, makes progress, reports positions inside the buffer, returns
// well-formed results, and that the bytes of every accepted line decode
// alone to the same result. Seeds live in testdata/fuzz/FuzzInflux.
func FuzzInflux(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		const deflt = 1700000000123456789
		var d, one InfluxDecoder
		for _, prec := range []Precision{Nanosecond, Second} {
			d.Reset(in, deflt, prec)
			prevEnd, prevLines := 0, 0
			for d.Next() {
				start, end := d.LineOffset(), d.pos
				if start < prevEnd || end <= start || end > len(in) {
					t.Fatalf("line [%d:%d] after previous end %d in %d bytes", start, end, prevEnd, len(in))
				}
				if d.LineNumber() < 1 || d.LineNumber() > d.Lines() || d.Lines() < prevLines {
					t.Fatalf("line number %d, lines %d (before %d)", d.LineNumber(), d.Lines(), prevLines)
				}
				prevEnd, prevLines = end, d.Lines()

				if e := d.Err(); e != nil {
					if e.Offset < start || e.Offset > len(in) || e.Line < d.LineNumber() || e.Col < 1 || e.Col > e.Offset+1 {
						t.Fatalf("error %v at offset %d outside line starting at %d", e, e.Offset, start)
					}
					if e.Reason < ReasonSyntax || e.Reason > ReasonEncoding || e.Msg == "" {
						t.Fatalf("bad error %+v", e)
					}
					_ = e.Error()
					if d.Measurement() != nil || len(d.Tags()) != 0 || len(d.Fields()) != 0 || d.HasTime() {
						t.Fatalf("rejected line yields data")
					}
					continue
				}
				checkLine(t, &d, prec, deflt)

				// The line's own bytes decode alone to the same result.
				want := render(&d)
				one.Reset(in[start:end], deflt, prec)
				if !one.Next() {
					t.Fatalf("line %q alone: no line", in[start:end])
				}
				if got := render(&one); got != want {
					t.Fatalf("line %q alone:\n got %s\nwant %s", in[start:end], got, want)
				}
				if one.Next() {
					t.Fatalf("line %q alone: more than one line", in[start:end])
				}
			}
			if d.pos != len(in) {
				t.Fatalf("stopped at %d of %d bytes", d.pos, len(in))
			}
		}
	})
}

// checkLine checks the invariants of an accepted line.
func checkLine(t *testing.T, d *InfluxDecoder, prec Precision, deflt int64) {
	t.Helper()
	name := func(what string, b []byte) {
		if len(b) == 0 || !utf8.Valid(b) {
			t.Fatalf("%s %q is empty or not UTF-8", what, b)
		}
		for _, c := range b {
			if nonPrintable[c] {
				t.Fatalf("%s %q has a control byte", what, b)
			}
		}
	}
	name("measurement", d.Measurement())
	tags := d.Tags()
	for i, tag := range tags {
		name("tag key", tag.Key)
		name("tag value", tag.Value)
		if i > 0 && bytes.Compare(tags[i-1].Key, tag.Key) >= 0 {
			t.Fatalf("tags not sorted and unique: %q", tags)
		}
	}
	if len(d.Fields()) == 0 {
		t.Fatalf("no fields")
	}
	for _, f := range d.Fields() {
		name("field key", f.Key)
		if f.Kind < FieldFloat || f.Kind > FieldString {
			t.Fatalf("field kind %d", f.Kind)
		}
		if f.Kind == FieldString && !utf8.Valid(AppendUnescapedString(nil, f.Str)) {
			t.Fatalf("string %q not UTF-8", f.Str)
		}
	}
	if !d.HasTime() && d.Time() != prec.truncate(deflt) {
		t.Fatalf("default time %d", d.Time())
	}
	if d.HasTime() && d.Time()%precisionNanos[prec] != 0 {
		t.Fatalf("time %d not a multiple of %v", d.Time(), prec)
	}
}
