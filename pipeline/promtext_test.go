package pipeline

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestPromWriterExact(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *PromWriter)
		want  string
	}{
		{
			name:  "family",
			write: func(w *PromWriter) { w.Family("rollup_points_total", "Points decoded.", "counter") },
			want:  "# HELP rollup_points_total Points decoded.\n# TYPE rollup_points_total counter\n",
		},
		{
			// The client_python escaping test: backslash and newline are
			// escaped, a double quote is not (that is only for label values).
			name:  "help escaping",
			write: func(w *PromWriter) { w.Family("cc", "A\ncount\\er \"q\"", "gauge") },
			want:  "# HELP cc A\\ncount\\\\er \"q\"\n# TYPE cc gauge\n",
		},
		{
			name:  "empty help",
			write: func(w *PromWriter) { w.Family("up", "", "gauge") },
			want:  "# HELP up \n# TYPE up gauge\n",
		},
		{
			name:  "no labels",
			write: func(w *PromWriter) { w.Sample("metric_without_timestamp_and_labels", 12.47) },
			want:  "metric_without_timestamp_and_labels 12.47\n",
		},
		{
			// The escaping example of the exposition format spec; the value
			// differs only in spelling (strconv 'g' writes "e+09").
			name: "spec escaping example",
			write: func(w *PromWriter) {
				w.Sample("msdos_file_access_time_seconds", 1.458255915e9,
					"path", `C:\DIR\FILE.TXT`, "error", "Cannot find file:\n\"FILE.TXT\"")
			},
			want: `msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e+09` + "\n",
		},
		{
			name:  "label value without escapes, utf-8, tab and CR pass through",
			write: func(w *PromWriter) { w.Sample("m", 1, "a", "", "b", "caf\u00e9\t\r") },
			want:  "m{a=\"\",b=\"caf\u00e9\t\r\"} 1\n",
		},
		{
			name:  "odd label count drops the dangling key",
			write: func(w *PromWriter) { w.Sample("m", 1, "a", "x", "dangling") },
			want:  "m{a=\"x\"} 1\n",
		},
		{
			name:  "single dangling key writes no braces",
			write: func(w *PromWriter) { w.SampleUint("m", 1, "dangling") },
			want:  "m 1\n",
		},
		{
			name: "special floats",
			write: func(w *PromWriter) {
				w.Sample("m", math.Inf(1), "v", "+inf")
				w.Sample("m", math.Inf(-1), "v", "-inf")
				w.Sample("m", math.NaN(), "v", "nan")
			},
			want: "m{v=\"+inf\"} +Inf\nm{v=\"-inf\"} -Inf\nm{v=\"nan\"} NaN\n",
		},
		{
			// 'g' shortest: exponent form from 1e21 up and below 1e-4, and
			// (as with fmt's %v) from 1e6 up when there are few digits.
			name: "float spelling",
			write: func(w *PromWriter) {
				for _, v := range []float64{0, math.Copysign(0, -1), 0.1, -2.5, 1e-4, 1e-5,
					123456, 1e6, 1234567, 1 << 53, math.MaxFloat64, math.SmallestNonzeroFloat64} {
					w.Sample("m", v)
				}
			},
			want: "m 0\nm -0\nm 0.1\nm -2.5\nm 0.0001\nm 1e-05\n" +
				"m 123456\nm 1e+06\nm 1.234567e+06\nm 9.007199254740992e+15\n" +
				"m 1.7976931348623157e+308\nm 5e-324\n",
		},
		{
			// The reason for SampleUint: 2^53+1 and MaxUint64 as floats
			// would print as 9.007199254740992e+15 and 1.8446744073709552e+19.
			name: "exact integers",
			write: func(w *PromWriter) {
				w.SampleUint("c", 0)
				w.SampleUint("c", 1<<53+1, "k", "v")
				w.SampleUint("c", math.MaxUint64)
			},
			want: "c 0\nc{k=\"v\"} 9007199254740993\nc 18446744073709551615\n",
		},
		{
			name: "family then samples",
			write: func(w *PromWriter) {
				w.Family("rollup_points_invalid_total", "Points rejected, by input format and reason.", "counter")
				w.SampleUint("rollup_points_invalid_total", 3, "format", "influx", "reason", "syntax")
				w.SampleUint("rollup_points_invalid_total", 0, "format", "influx", "reason", "too_long")
				w.Family("rollup_watermark_seconds", "Event-time watermark.", "gauge")
				w.Sample("rollup_watermark_seconds", 1.7000036e9)
			},
			want: "# HELP rollup_points_invalid_total Points rejected, by input format and reason.\n" +
				"# TYPE rollup_points_invalid_total counter\n" +
				"rollup_points_invalid_total{format=\"influx\",reason=\"syntax\"} 3\n" +
				"rollup_points_invalid_total{format=\"influx\",reason=\"too_long\"} 0\n" +
				"# HELP rollup_watermark_seconds Event-time watermark.\n" +
				"# TYPE rollup_watermark_seconds gauge\n" +
				"rollup_watermark_seconds 1.7000036e+09\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w PromWriter
			tt.write(&w)
			if got := string(w.Bytes()); got != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestPromWriterReset(t *testing.T) {
	var w PromWriter
	w.SampleUint("a", 1)
	first := w.Bytes()
	w.Reset(first)
	w.SampleUint("b", 2)
	if got := string(w.Bytes()); got != "b 2\n" {
		t.Fatalf("after Reset: %q", got)
	}
	// Reset reuses the memory, which is the point of passing it back.
	if &first[0] != &w.Bytes()[0] {
		t.Error("Reset did not reuse the buffer it was given")
	}
}

func TestPromWriterAllocs(t *testing.T) {
	var w PromWriter
	write := func() {
		w.Reset(w.Bytes())
		w.Family("rollup_points_total", "Points\\decoded\n.", "counter")
		w.SampleUint("rollup_points_total", 1<<60, "format", "influx", "topic", "tele\"graf")
		w.Sample("rollup_lag_seconds", 0.25, "partition", "3")
		w.Sample("rollup_lag_seconds", math.NaN())
	}
	write() // grow the buffer once, as the first scrape would
	if n := testing.AllocsPerRun(100, write); n != 0 {
		t.Errorf("%v allocations per scrape with a grown buffer, want 0", n)
	}
}

func TestPromWriterValidNames(t *testing.T) {
	metric := map[string]bool{
		"rollup_points_total": true,
		"a":                   true,
		"_x":                  true,
		":recording:rule":     true,
		"A9_:":                true,
		"":                    false,
		"9lives":              false,
		"has-dash":            false,
		"has space":           false,
		"caf\u00e9":           false,
		"dot.ted":             false,
	}
	for s, want := range metric {
		if got := ValidMetricName(s); got != want {
			t.Errorf("ValidMetricName(%q) = %v, want %v", s, got, want)
		}
	}
	label := map[string]bool{
		"format":   true,
		"_x":       true,
		"le":       true,
		"a:b":      false,
		"__name__": false,
		"":         false,
		"1a":       false,
	}
	for s, want := range label {
		if got := validPromLabelName(s); got != want {
			t.Errorf("validPromLabelName(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzPromWriter writes a family and one sample from arbitrary help text,
// label value and float, then parses the output back with a minimal reader
// of the format: it must be exactly three lines and give back the same
// help, label value and value. That checks escaping is complete (nothing
// can end a line or a quoted value early) and reversible.
func FuzzPromWriter(f *testing.F) {
	f.Add("", "", 0.0)
	f.Add("plain help", "plain", 1.5)
	f.Add("a\\b\nc\"", "C:\\DIR\n\"x\"", math.Inf(-1))
	f.Add("\\", "\\", math.NaN())
	f.Add("\n\n", "\"\"", math.MaxFloat64)
	f.Add("\xff\r\t", "\xff\x00", math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, help, value string, v float64) {
		var w PromWriter
		w.Family("m", help, "gauge")
		w.Sample("m", v, "k", value, "dangling")
		out := string(w.Bytes())
		lines := strings.Split(out, "\n")
		if len(lines) != 4 || lines[3] != "" {
			t.Fatalf("want 3 newline-terminated lines, got %q", out)
		}
		gotHelp, ok := strings.CutPrefix(lines[0], "# HELP m ")
		if !ok {
			t.Fatalf("bad HELP line %q", lines[0])
		}
		if u, ok := unescapeProm(gotHelp, false); !ok || u != help {
			t.Fatalf("help %q came back as %q (ok=%v)", help, u, ok)
		}
		if lines[1] != "# TYPE m gauge" {
			t.Fatalf("bad TYPE line %q", lines[1])
		}
		rest, ok := strings.CutPrefix(lines[2], `m{k="`)
		if !ok {
			t.Fatalf("bad sample line %q", lines[2])
		}
		end := closingQuote(rest)
		if end < 0 {
			t.Fatalf("unterminated label value in %q", lines[2])
		}
		if u, ok := unescapeProm(rest[:end], true); !ok || u != value {
			t.Fatalf("label value %q came back as %q (ok=%v)", value, u, ok)
		}
		num, ok := strings.CutPrefix(rest[end:], `"} `)
		if !ok {
			t.Fatalf("bad label set end in %q", lines[2])
		}
		back, err := strconv.ParseFloat(num, 64)
		if err != nil {
			t.Fatalf("value %q does not parse: %v", num, err)
		}
		if math.Float64bits(back) != math.Float64bits(v) && !(math.IsNaN(v) && math.IsNaN(back)) {
			t.Fatalf("value %v came back as %v", v, back)
		}
	})
}

// closingQuote returns the index of the first '"' in s not preceded by an
// escaping backslash, or -1.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescapeProm reverses the format's escaping; quote says whether \" is an
// escape (label values) or not (HELP text). ok is false for an escape the
// writer should never produce.
func unescapeProm(s string, quote bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i++; i == len(s) {
			return b.String(), false
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !quote {
				return b.String(), false
			}
			b.WriteByte('"')
		default:
			return b.String(), false
		}
	}
	return b.String(), true
}
