package emit

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
)

// tags builds a tag list from alternating key, value strings.
func tags(kv ...string) []Tag {
	if len(kv)%2 != 0 {
		panic("tags: odd number of arguments")
	}
	t := make([]Tag, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		t = append(t, Tag{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return t
}

// base is a valid rollup for both formats; cases change one thing.
func base() Rollup {
	return Rollup{
		Metric:     []byte("cpu_usage_idle"),
		Tags:       tags("cpu", "cpu0", "host", "h1"),
		Step:       "1m",
		Start:      1700000040,
		Aggregator: "sum",
		Value:      12.5,
	}
}

func with(f func(r *Rollup)) Rollup {
	r := base()
	f(&r)
	return r
}

func mustEncoder(t testing.TB, format string, opts Options) Encoder {
	t.Helper()
	enc, err := NewEncoder(format, opts)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// asDecoded is what a conforming JSON decoder (encoding/json, Jackson) reads
// back for the bytes s: each byte that does not start valid UTF-8 becomes
// U+FFFD. Go's []rune conversion does exactly that.
func asDecoded(s []byte) string { return string([]rune(string(s))) }

// javaValidName is an independent model of OpenTSDB's Tags.validateString
// (2.4) plus the non-empty check: Jackson decodes the UTF-8 into a Java
// String, which is then walked one UTF-16 code unit at a time. It shares no
// code with validOpenTSDBName, so the fuzz tests compare the two.
func javaValidName(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, u := range utf16.Encode([]rune(asDecoded(s))) {
		c := rune(u)
		ok := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '/' ||
			// Character.isLetter(char): a surrogate code unit is category Cs,
			// never a letter; unicode.IsLetter agrees for 0xD800..0xDFFF.
			unicode.IsLetter(c)
		if !ok {
			return false
		}
	}
	return true
}

// javaParseValue models how opentsdb-rpc-kafka reads the "value" string of
// an Aggregate: Tags.looksLikeInteger (no '.', 'e', 'E') decides between
// Long.parseLong and Double.parseDouble. It reports the value read and
// whether Java would have thrown.
func javaParseValue(s string) (float64, bool) {
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64) // Long.parseLong: same grammar and range for decimal
		return float64(i), err == nil
	}
	if strings.ContainsAny(s, "xXpP_") || strings.Contains(s, "Inf") || strings.Contains(s, "NaN") {
		return 0, false // Go accepts these spellings, we never want to write them
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil && !math.IsInf(v, 0) && !math.IsNaN(v)
}

type jsonlRecord struct {
	Metric     string            `json:"metric"`
	Tags       map[string]string `json:"tags"`
	Step       string            `json:"step"`
	Start      int64             `json:"start"`
	Aggregator string            `json:"aggregator"`
	Value      float64           `json:"value"`
}

var jsonlKeys = []string{"metric", "tags", "step", "start", "aggregator", "value"}

type opentsdbRecord struct {
	Type       string            `json:"type"`
	Metric     string            `json:"metric"`
	Timestamp  int64             `json:"timestamp"`
	Value      string            `json:"value"`
	Tags       map[string]string `json:"tags"`
	Interval   string            `json:"interval"`
	Aggregator string            `json:"aggregator"`
}

var opentsdbKeys = []string{"type", "metric", "timestamp", "value", "tags", "interval", "aggregator"}

// topLevelKeys returns the keys of the JSON object in b in order.
func topLevelKeys(t testing.TB, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q (%v)", b, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("reading key of %q: %v", b, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("reading value of %q: %v", b, err)
		}
	}
	return keys
}

func decodeStrict(t testing.TB, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after object in %q", b)
	}
}

func wantTags(r *Rollup) map[string]string {
	m := make(map[string]string, len(r.Tags))
	for _, tg := range r.Tags {
		m[asDecoded(tg.Key)] = asDecoded(tg.Value)
	}
	return m
}

func equalTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkJSONL checks one jsonl line against the rollup it came from: valid
// JSON, one line, keys in order, and every field reads back the same.
func checkJSONL(t testing.TB, r *Rollup, out []byte) {
	t.Helper()
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Fatalf("jsonl output not newline-terminated: %q", out)
	}
	if bytes.IndexByte(out[:len(out)-1], '\n') >= 0 {
		t.Fatalf("jsonl output has an inner newline: %q", out)
	}
	if !json.Valid(out) {
		t.Fatalf("jsonl output is not valid JSON: %q", out)
	}
	if keys := topLevelKeys(t, out); !equalStrings(keys, jsonlKeys) {
		t.Fatalf("jsonl keys %q, want %q in %q", keys, jsonlKeys, out)
	}
	var got jsonlRecord
	decodeStrict(t, out, &got)
	switch {
	case got.Metric != asDecoded(r.Metric):
		t.Fatalf("metric %q, want %q", got.Metric, asDecoded(r.Metric))
	case !equalTags(got.Tags, wantTags(r)):
		t.Fatalf("tags %q, want %q", got.Tags, wantTags(r))
	case got.Step != asDecoded([]byte(r.Step)):
		t.Fatalf("step %q, want %q", got.Step, r.Step)
	case got.Start != r.Start:
		t.Fatalf("start %d, want %d", got.Start, r.Start)
	case got.Aggregator != asDecoded([]byte(r.Aggregator)):
		t.Fatalf("aggregator %q, want %q", got.Aggregator, r.Aggregator)
	case math.Float64bits(got.Value) != math.Float64bits(r.Value):
		t.Fatalf("value %v (%#x), want %v (%#x) in %q",
			got.Value, math.Float64bits(got.Value), r.Value, math.Float64bits(r.Value), out)
	}
}

// checkOpenTSDB checks one Aggregate object against its rollup: valid JSON,
// keys in order, fields read back the same (value as Java would parse it),
// and every name acceptable to the TSD.
func checkOpenTSDB(t testing.TB, r *Rollup, maxTags int, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("opentsdb output is not valid JSON: %q", out)
	}
	if out[0] != '{' || out[len(out)-1] != '}' {
		t.Fatalf("opentsdb output must be exactly one object (the TSD dispatches on the first byte): %q", out)
	}
	if keys := topLevelKeys(t, out); !equalStrings(keys, opentsdbKeys) {
		t.Fatalf("opentsdb keys %q, want %q in %q", keys, opentsdbKeys, out)
	}
	var got opentsdbRecord
	decodeStrict(t, out, &got)
	if got.Type != "Aggregate" {
		t.Fatalf("type %q", got.Type)
	}
	if got.Metric != string(r.Metric) || !javaValidName([]byte(got.Metric)) {
		t.Fatalf("metric %q (from %q) not valid for OpenTSDB", got.Metric, r.Metric)
	}
	if len(got.Tags) == 0 || len(got.Tags) > maxTags {
		t.Fatalf("%d tags, want 1..%d", len(got.Tags), maxTags)
	}
	for k, v := range got.Tags {
		if !javaValidName([]byte(k)) || !javaValidName([]byte(v)) {
			t.Fatalf("tag %q=%q not valid for OpenTSDB", k, v)
		}
	}
	if !equalTags(got.Tags, wantTags(r)) {
		t.Fatalf("tags %q, want %q", got.Tags, wantTags(r))
	}
	if got.Timestamp != r.Start || got.Timestamp <= 0 || got.Timestamp >= 1<<32 {
		t.Fatalf("timestamp %d, want %d in (0, 2^32)", got.Timestamp, r.Start)
	}
	v, ok := javaParseValue(got.Value)
	if !ok {
		t.Fatalf("value %q would make OpenTSDB throw", got.Value)
	}
	if v != r.Value { // -0 may come back as 0: both are stored as integer 0
		t.Fatalf("value %q reads as %v, want %v", got.Value, v, r.Value)
	}
	if got.Interval != asDecoded([]byte(r.Step)) || got.Aggregator != asDecoded([]byte(r.Aggregator)) {
		t.Fatalf("interval/aggregator %q/%q, want %q/%q", got.Interval, got.Aggregator, r.Step, r.Aggregator)
	}
	if strings.EqualFold(got.Aggregator, "avg") || strings.EqualFold(got.Aggregator, "dev") {
		t.Fatalf("derived aggregator %q written", got.Aggregator)
	}
}
