package emit

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenCases covers escaping, Unicode, empty tags, value shapes, every
// aggregator and every drop reason. Names are stable: they appear in the
// golden files.
var goldenCases = []struct {
	name string
	r    Rollup
}{
	{"basic", base()},
	{"agg_count", with(func(r *Rollup) { r.Aggregator, r.Value = "count", 60 })},
	{"agg_min", with(func(r *Rollup) { r.Aggregator, r.Value = "min", -3.25 })},
	{"agg_max", with(func(r *Rollup) { r.Aggregator, r.Value = "max", 99.99 })},
	{"agg_first", with(func(r *Rollup) { r.Aggregator, r.Value = "first", 0.1 })},
	{"agg_last", with(func(r *Rollup) { r.Aggregator, r.Value = "last", 7 })},
	{"agg_avg", with(func(r *Rollup) { r.Aggregator, r.Value = "avg", 2.5 })},
	{"agg_dev_upper", with(func(r *Rollup) { r.Aggregator = "DEV" })},
	{"step_1d", with(func(r *Rollup) { r.Step, r.Start = "1d", 1699920000 })},
	{"one_tag", with(func(r *Rollup) { r.Tags = tags("host", "web01") })},
	{"empty_tags", with(func(r *Rollup) { r.Tags = nil })},
	{"max_tags_8", with(func(r *Rollup) {
		r.Tags = tags("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8")
	})},
	{"too_many_tags_9", with(func(r *Rollup) {
		r.Tags = tags("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9")
	})},
	{"allowed_ascii_punct", with(func(r *Rollup) {
		r.Metric, r.Tags = []byte("sys.cpu/user-time_ns"), tags("mount/point", "/var/log.d-1_x")
	})},
	{"unicode_letters", with(func(r *Rollup) {
		r.Metric, r.Tags = []byte("température"), tags("région", "Île-de-France", "主机", "東京")
	})},
	{"escape_quote_backslash", with(func(r *Rollup) { r.Metric = []byte(`say "hi" \o/`) })},
	{"escape_controls", with(func(r *Rollup) { r.Metric = []byte("a\tb\nc\rd\be\ff\x00g\x1fh\x7fi") })},
	{"escape_html_kept", with(func(r *Rollup) { r.Tags = tags("q", "<a href='x'>&amp;</a>") })},
	{"escape_line_separators", with(func(r *Rollup) { r.Metric = []byte("line\u2028para\u2029end") })},
	{"invalid_utf8", with(func(r *Rollup) { r.Metric, r.Tags = []byte("bad\xffutf8\xc3"), tags("k\xed\xa0\x80", "v") })},
	{"bad_char_space", with(func(r *Rollup) { r.Tags = tags("host", "web 01") })},
	{"bad_char_colon_key", with(func(r *Rollup) { r.Tags = tags("host:name", "web01") })},
	{"bad_char_empty_value", with(func(r *Rollup) { r.Tags = tags("host", "") })},
	{"bad_char_empty_metric", with(func(r *Rollup) { r.Metric = nil })},
	{"aggregate_tag", with(func(r *Rollup) { r.Tags = tags("_aggregate", "SUM", "host", "h1") })},
	{"value_zero", with(func(r *Rollup) { r.Value = 0 })},
	{"value_neg_zero", with(func(r *Rollup) { r.Value = math.Copysign(0, -1) })},
	{"value_negative", with(func(r *Rollup) { r.Value = -1234.5678 })},
	{"value_integral_big", with(func(r *Rollup) { r.Value = 1e15 })},
	{"value_2p53_plus", with(func(r *Rollup) { r.Value = 9007199254740993 })}, // rounds to 2^53
	{"value_max_int64_float", with(func(r *Rollup) { r.Value = 9223372036854774784 })},
	{"value_2p63", with(func(r *Rollup) { r.Value = 9223372036854775808 })},
	{"value_min_int64", with(func(r *Rollup) { r.Value = -9223372036854775808 })},
	{"value_1e20", with(func(r *Rollup) { r.Value = 1e20 })},
	{"value_1e21", with(func(r *Rollup) { r.Value = 1e21 })},
	{"value_max_float", with(func(r *Rollup) { r.Value = math.MaxFloat64 })},
	{"value_1e-6", with(func(r *Rollup) { r.Value = 1e-6 })},
	{"value_1e-7", with(func(r *Rollup) { r.Value = 1e-7 })},
	{"value_tiny_neg", with(func(r *Rollup) { r.Value = -1.5e-300 })},
	{"value_denormal_min", with(func(r *Rollup) { r.Value = math.SmallestNonzeroFloat64 })},
	{"value_third", with(func(r *Rollup) { r.Value = 1.0 / 3 })},
	{"value_nan", with(func(r *Rollup) { r.Value = math.NaN() })},
	{"value_pos_inf", with(func(r *Rollup) { r.Value = math.Inf(1) })},
	{"value_neg_inf", with(func(r *Rollup) { r.Value = math.Inf(-1) })},
	{"start_zero", with(func(r *Rollup) { r.Start = 0 })},
	{"start_one", with(func(r *Rollup) { r.Start = 1 })},
	{"start_negative_pre1970", with(func(r *Rollup) { r.Start = -86400 })},
	{"start_max_uint32", with(func(r *Rollup) { r.Start = 1<<32 - 1 })},
	{"start_2p32", with(func(r *Rollup) { r.Start = 1 << 32 })},
	{"start_millis", with(func(r *Rollup) { r.Start = 1700000040000 })},
	{"step_needs_escape", with(func(r *Rollup) { r.Step = `1"m` })},
}

// renderGolden encodes every case: a "# name" line, then the output (with a
// newline added for opentsdb, whose objects have none), or
// "# name: dropped reason".
func renderGolden(t *testing.T, enc Encoder, newline bool) []byte {
	var out []byte
	for _, tc := range goldenCases {
		r := tc.r
		line, reason := enc.Append(nil, &r)
		if reason != DropNone {
			out = append(out, "# "+tc.name+": dropped "+reason.String()+"\n"...)
			continue
		}
		out = append(out, "# "+tc.name+"\n"...)
		out = append(out, line...)
		if newline {
			out = append(out, '\n')
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, g := range []struct {
		format  string
		newline bool
	}{
		{"jsonl", false},
		{"opentsdb", true},
	} {
		t.Run(g.format, func(t *testing.T) {
			got := renderGolden(t, mustEncoder(t, g.format, Options{}), g.newline)
			path := filepath.Join("testdata", g.format+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./emit -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("%s line %d differs:\n got: %s\nwant: %s\n(rerun with -update if the change is intended)", path, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%s: got %d lines, want %d (rerun with -update if intended)", path, len(gl), len(wl))
			}
		})
	}
}

// TestRoundTrip decodes every line the golden cases produce with
// encoding/json and compares it field by field with its rollup.
func TestRoundTrip(t *testing.T) {
	jl := mustEncoder(t, "jsonl", Options{})
	ot := mustEncoder(t, "opentsdb", Options{})
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if out, reason := jl.Append(nil, &r); reason == DropNone {
				checkJSONL(t, &r, out)
			} else if isFinite(r.Value) {
				t.Fatalf("jsonl dropped a finite value: %v", reason)
			}
			if out, reason := ot.Append(nil, &r); reason == DropNone {
				checkOpenTSDB(t, &r, DefaultOpenTSDBMaxTags, out)
			}
		})
	}
}

func TestDropReasons(t *testing.T) {
	tests := []struct {
		name   string
		format string
		opts   Options
		r      Rollup
		want   DropReason
	}{
		{"jsonl_nan", "jsonl", Options{}, with(func(r *Rollup) { r.Value = math.NaN() }), DropNonFinite},
		{"jsonl_inf", "jsonl", Options{}, with(func(r *Rollup) { r.Value = math.Inf(1) }), DropNonFinite},
		{"jsonl_neg_inf", "jsonl", Options{}, with(func(r *Rollup) { r.Value = math.Inf(-1) }), DropNonFinite},
		{"jsonl_ok_no_tags_negative_start_avg", "jsonl", Options{}, with(func(r *Rollup) {
			r.Tags, r.Start, r.Aggregator, r.Metric = nil, -1, "avg", []byte("a b")
		}), DropNone},
		{"opentsdb_nan", "opentsdb", Options{}, with(func(r *Rollup) { r.Value = math.NaN() }), DropNonFinite},
		{"opentsdb_inf", "opentsdb", Options{}, with(func(r *Rollup) { r.Value = math.Inf(-1) }), DropNonFinite},
		{"opentsdb_no_tags", "opentsdb", Options{}, with(func(r *Rollup) { r.Tags = nil }), DropNoTags},
		{"opentsdb_too_many_default", "opentsdb", Options{}, with(func(r *Rollup) {
			r.Tags = tags("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9")
		}), DropTooManyTags},
		{"opentsdb_too_many_custom", "opentsdb", Options{OpenTSDBMaxTags: 1}, base(), DropTooManyTags},
		{"opentsdb_max_custom_ok", "opentsdb", Options{OpenTSDBMaxTags: 2}, base(), DropNone},
		{"opentsdb_bad_metric", "opentsdb", Options{}, with(func(r *Rollup) { r.Metric = []byte("cpu:idle") }), DropBadChar},
		{"opentsdb_bad_key", "opentsdb", Options{}, with(func(r *Rollup) { r.Tags = tags("a", "1", "b=c", "2") }), DropBadChar},
		{"opentsdb_bad_value", "opentsdb", Options{}, with(func(r *Rollup) { r.Tags = tags("a", "1", "b", "x,y") }), DropBadChar},
		{"opentsdb_empty_metric", "opentsdb", Options{}, with(func(r *Rollup) { r.Metric = []byte{} }), DropBadChar},
		{"opentsdb_empty_key", "opentsdb", Options{}, with(func(r *Rollup) { r.Tags = tags("", "1") }), DropBadChar},
		{"opentsdb_avg", "opentsdb", Options{}, with(func(r *Rollup) { r.Aggregator = "avg" }), DropDerivedAgg},
		{"opentsdb_avg_upper", "opentsdb", Options{}, with(func(r *Rollup) { r.Aggregator = "AVG" }), DropDerivedAgg},
		{"opentsdb_dev", "opentsdb", Options{}, with(func(r *Rollup) { r.Aggregator = "dev" }), DropDerivedAgg},
		{"opentsdb_start_zero", "opentsdb", Options{}, with(func(r *Rollup) { r.Start = 0 }), DropTimestamp},
		{"opentsdb_start_negative", "opentsdb", Options{}, with(func(r *Rollup) { r.Start = -1 }), DropTimestamp},
		{"opentsdb_start_2p32", "opentsdb", Options{}, with(func(r *Rollup) { r.Start = 1 << 32 }), DropTimestamp},
		{"opentsdb_start_ms", "opentsdb", Options{}, with(func(r *Rollup) { r.Start = 1700000040000 }), DropTimestamp},
		{"opentsdb_aggregate_tag", "opentsdb", Options{}, with(func(r *Rollup) { r.Tags = tags("_aggregate", "SUM", "host", "h1") }), DropAggTag},
		{"opentsdb_start_max_ok", "opentsdb", Options{}, with(func(r *Rollup) { r.Start = 1<<32 - 1 }), DropNone},
		{"influx_nan", "influx", Options{}, with(func(r *Rollup) { r.Value = math.NaN() }), DropNonFinite},
		{"influx_comment", "influx", Options{}, with(func(r *Rollup) { r.Metric = []byte("#cpu") }), DropInfluxBadName},
		{"influx_ok", "influx", Options{}, with(func(r *Rollup) { r.Metric = []byte("cpu load,x") }), DropNone},
		{"carbon_space", "carbon", Options{}, with(func(r *Rollup) { r.Metric = []byte("cpu load") }), DropCarbonBadName},
		{"carbon_ok", "carbon", Options{}, base(), DropNone},
	}
	covered := map[DropReason]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustEncoder(t, tc.format, tc.opts)
			dst := []byte("prefix")
			r := tc.r
			out, got := enc.Append(dst, &r)
			if got != tc.want {
				t.Fatalf("reason %v, want %v", got, tc.want)
			}
			if got != DropNone && (string(out) != "prefix" || &out[0] != &dst[0]) {
				t.Fatalf("dropped rollup changed dst: %q", out)
			}
			if got == DropNone && !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("output lost the caller's prefix: %q", out)
			}
			covered[got] = true
		})
	}
	covered[DropMetrictankTime] = true // a sink's reason: see TestKafkaMetrictank
	for _, reason := range AllDropReasons {
		if !covered[reason] {
			t.Errorf("no test case triggers %v", reason)
		}
	}
}

func TestDropReasonString(t *testing.T) {
	want := map[DropReason]string{
		DropNone:           "none",
		DropNonFinite:      "non_finite",
		DropNoTags:         "opentsdb_no_tags",
		DropTooManyTags:    "opentsdb_too_many_tags",
		DropBadChar:        "opentsdb_bad_char",
		DropDerivedAgg:     "opentsdb_derived_aggregator",
		DropTimestamp:      "opentsdb_timestamp",
		DropAggTag:         "opentsdb_aggregate_tag",
		DropInfluxBadName:  "influx_bad_name",
		DropCarbonBadName:  "carbon_bad_name",
		DropMetrictankTime: "metrictank_time",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d.String() = %q, want %q", r, r.String(), s)
		}
	}
	if len(AllDropReasons) != len(want)-1 {
		t.Errorf("AllDropReasons has %d entries, want %d", len(AllDropReasons), len(want)-1)
	}
	for i, r := range AllDropReasons {
		if r == DropNone || (i > 0 && r <= AllDropReasons[i-1]) {
			t.Errorf("AllDropReasons must list every reason but DropNone in order: %v", AllDropReasons)
		}
	}
	if s := DropReason(200).String(); s != "drop_reason_200" {
		t.Errorf("unknown reason prints %q", s)
	}
}

// TestOpenTSDBCharClasses has one case per character class Tags.validateString
// distinguishes, tried as metric, tag key and tag value.
func TestOpenTSDBCharClasses(t *testing.T) {
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"lower", "abcxyz", true},
		{"upper", "ABCXYZ", true},
		{"digits", "0123456789", true},
		{"dash", "-", true},
		{"underscore", "_", true},
		{"dot", ".", true},
		{"slash", "/", true},
		{"latin1_letter_e_acute", "caf\u00e9", true},
		{"cyrillic", "\u0416\u0443\u043a", true},
		{"cjk", "\u6771\u4eac", true},
		{"titlecase_dz", "\u01c5", true},      // Lt
		{"modifier_letter_h", "\u02b0", true}, // Lm
		{"feminine_ordinal", "\u00aa", true},  // Lo
		{"micro_sign", "\u00b5", true},        // Ll
		{"hangul_syllable", "\ud55c", true},   // Lo
		{"space", "a b", false},
		{"colon", "a:b", false},
		{"comma", "a,b", false},
		{"equals", "a=b", false},
		{"quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"plus", "a+b", false},
		{"at", "a@b", false},
		{"tab", "a\tb", false},
		{"nul", "a\x00b", false},
		{"del", "a\x7fb", false},
		{"empty", "", false},
		{"combining_acute", "e\u0301", false},        // Mn, not a letter: NFD "é" is rejected
		{"arabic_indic_digit", "\u0663", false},      // Nd: only ASCII digits are allowed
		{"superscript_two", "\u00b2", false},         // No
		{"nbsp", "a\u00a0b", false},                  // Zs
		{"line_separator", "a\u2028b", false},        // Zl
		{"replacement_char", "\ufffd", false},        // So
		{"non_bmp_letter", "\U0001d400", false},      // Lu, but two surrogates in Java
		{"emoji", "\U0001f600", false},               // So, non-BMP
		{"invalid_utf8", "a\xffb", false},            // U+FFFD after decoding
		{"truncated_utf8", "caf\xc3", false},         // U+FFFD after decoding
		{"encoded_surrogate", "\xed\xa0\x80", false}, // not valid UTF-8
		{"overlong_slash", "\xc0\xaf", false},        // overlong '/', not valid UTF-8
	}
	enc := mustEncoder(t, "opentsdb", Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := validOpenTSDBName([]byte(tc.s)); got != tc.ok {
				t.Fatalf("validOpenTSDBName(%q) = %v, want %v", tc.s, got, tc.ok)
			}
			if got := javaValidName([]byte(tc.s)); got != tc.ok {
				t.Fatalf("test model javaValidName(%q) = %v, want %v", tc.s, got, tc.ok)
			}
			want := DropNone
			if !tc.ok {
				want = DropBadChar
			}
			for _, r := range []Rollup{
				with(func(r *Rollup) { r.Metric = []byte(tc.s) }),
				with(func(r *Rollup) { r.Tags = tags(tc.s, "v") }),
				with(func(r *Rollup) { r.Tags = tags("k", tc.s) }),
			} {
				out, reason := enc.Append(nil, &r)
				if reason != want {
					t.Fatalf("Append(%q) = %v, want %v", tc.s, reason, want)
				}
				if reason == DropNone {
					checkOpenTSDB(t, &r, DefaultOpenTSDBMaxTags, out)
				}
			}
		})
	}
}

func TestNewEncoder(t *testing.T) {
	for _, f := range OutputFormats {
		if _, err := NewEncoder(f.Name, Options{}); (err != nil) != f.KafkaOnly {
			t.Errorf("NewEncoder(%q): %v", f.Name, err)
		}
	}
	_, err := NewEncoder("graphite", Options{})
	if !errors.Is(err, ErrUnknownFormat) || !strings.HasSuffix(err.Error(), "valid formats are opentsdb, jsonl, influx, carbon") {
		t.Errorf("unknown format error %v should wrap ErrUnknownFormat and list the formats", err)
	}
	if _, err := NewEncoder("opentsdb", Options{OpenTSDBMaxTags: -1}); err == nil {
		t.Error("negative max tags accepted")
	}
}

func TestValidateOpenTSDBInterval(t *testing.T) {
	tests := []struct {
		step    string
		wantErr string // substring; "" means valid
	}{
		{"1s", ""}, {"1m", ""}, {"10m", ""}, {"1h", ""}, {"6h", ""}, {"1d", ""}, {"1w", ""}, {"1n", ""}, {"1y", ""},
		{"01m", ""}, // parseDuration reads 1; the string still has to match the TSD config exactly
		{"68y", ""}, // 2144448000 s, just under 2^31-1
		{"69y", "longer than"},
		{"99999999999999999999999s", "longer than"},
		{"", "empty"},
		{"m", "does not start with a number"},
		{"-1m", "does not start with a number"},
		{" 1m", "does not start with a number"},
		{"1", "no unit"},
		{"0m", "must be positive"},
		{"1ms", "milliseconds"},
		{"1h30m", "compound"},
		{"90s ", "compound"},
		{"1x", "unknown unit"},
		{"1M", "lower case"},
		{"1H", "lower case"},
		{"1.5h", "compound or unknown unit"},
		{"\u0661m", "does not start with a number"}, // Arabic-Indic 1: Java takes it, we do not
	}
	for _, tc := range tests {
		err := ValidateOpenTSDBInterval(tc.step)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateOpenTSDBInterval(%q) = %v, want nil", tc.step, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ValidateOpenTSDBInterval(%q) = %v, want error containing %q", tc.step, err, tc.wantErr)
		}
	}
}

func TestArrayWriter(t *testing.T) {
	enc := mustEncoder(t, "opentsdb", Options{})
	rs := []Rollup{
		with(func(r *Rollup) { r.Aggregator = "avg" }), // dropped first: no leading comma
		base(),
		with(func(r *Rollup) { r.Aggregator, r.Value = "count", 3 }),
		with(func(r *Rollup) { r.Value = math.NaN() }), // dropped in the middle
		with(func(r *Rollup) { r.Tags = nil }),         // and again
		with(func(r *Rollup) { r.Aggregator, r.Value = "max", 9 }),
		with(func(r *Rollup) { r.Start = 0 }), // dropped last: no trailing comma
	}
	var w ArrayWriter
	dst := w.Begin([]byte("x"))
	var drops int
	for i := range rs {
		var reason DropReason
		dst, reason = w.Append(dst, enc, &rs[i])
		if reason != DropNone {
			drops++
		}
	}
	dst = w.End(dst)
	if w.Len() != 3 || drops != 4 {
		t.Fatalf("Len %d drops %d, want 3 and 4", w.Len(), drops)
	}
	if dst[0] != 'x' || dst[1] != '[' {
		t.Fatalf("prefix lost: %q", dst)
	}
	var objs []opentsdbRecord
	if err := json.Unmarshal(dst[1:], &objs); err != nil {
		t.Fatalf("array %q: %v", dst[1:], err)
	}
	if len(objs) != 3 || objs[0].Aggregator != "sum" || objs[1].Value != "3" || objs[2].Value != "9" {
		t.Fatalf("array decoded to %+v", objs)
	}

	// Reuse: Begin resets the count.
	dst = w.End(w.Begin(dst[:0]))
	if string(dst) != "[]" || w.Len() != 0 {
		t.Fatalf("empty array %q, Len %d", dst, w.Len())
	}
}

// TestZeroAllocs checks the steady state: a reused dst and a rollup that
// takes the slow paths (escapes, multi-byte UTF-8, invalid UTF-8, exponent
// values) as well as the fast ones.
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	rs := []Rollup{
		base(),
		with(func(r *Rollup) {
			r.Metric = []byte("temp\u00e9rature.\u6771\u4eac")
			r.Tags = tags("r\u00e9gion", "\u00cele-de-France", "host", "h1")
			r.Value = 1.5e-300
		}),
		with(func(r *Rollup) { r.Value = 1e20 }),
		with(func(r *Rollup) { r.Value = -9223372036854775808 }),
	}
	jsonlOnly := with(func(r *Rollup) {
		r.Metric = []byte("say \"hi\"\t\\\x01\u2028\xff\xc3")
		r.Tags = tags("k\x00", "v\u2029\xed\xa0\x80")
		r.Step = "1\"m"
	})
	for _, format := range []string{"jsonl", "opentsdb"} {
		enc := mustEncoder(t, format, Options{})
		all := append(append([]Rollup(nil), rs...), jsonlOnly, with(func(r *Rollup) { r.Value = math.NaN() }))
		dst := make([]byte, 0, 4096)
		var w ArrayWriter
		allocs := testing.AllocsPerRun(200, func() {
			dst = w.Begin(dst[:0])
			for i := range all {
				dst, _ = w.Append(dst, enc, &all[i])
			}
			dst = w.End(dst)
			for i := range all {
				dst, _ = enc.Append(dst, &all[i])
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per run, want 0", format, allocs)
		}
	}
}
