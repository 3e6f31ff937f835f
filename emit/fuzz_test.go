package emit

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

// fuzzRollup builds a rollup from fuzz arguments: up to 11 tags, the first
// two taken from the arguments and the rest generated, so that counts on
// both sides of the default limit of 8 are reached. ok is false when two tags
// share a key (the API forbids it, and a JSON object cannot carry it).
func fuzzRollup(metric, k1, v1, k2, v2 []byte, ntags uint8, start int64, bits uint64, agg, step string) (r Rollup, ok bool) {
	r = Rollup{Metric: metric, Start: start, Value: math.Float64frombits(bits), Aggregator: agg, Step: step}
	n := int(ntags % 12)
	seen := map[string]bool{}
	for i := range n {
		var tg Tag
		switch i {
		case 0:
			tg = Tag{k1, v1}
		case 1:
			tg = Tag{k2, v2}
		default:
			tg = Tag{[]byte("t" + strconv.Itoa(i)), v1}
		}
		// Keys that differ as bytes can still decode to the same string when
		// both hold invalid UTF-8 ("\xff" and "\xfe" both read as U+FFFD).
		if k := asDecoded(tg.Key); seen[k] {
			return r, false
		} else {
			seen[k] = true
		}
		r.Tags = append(r.Tags, tg)
	}
	return r, true
}

// wantOpenTSDBReason is the test's own statement of which rollups OpenTSDB
// rejects, built on javaValidName rather than on the encoder's tables.
func wantOpenTSDBReason(r *Rollup, maxTags int) DropReason {
	switch a := strings.ToLower(r.Aggregator); {
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return DropNonFinite
	case r.Start <= 0 || r.Start >= 1<<32:
		return DropTimestamp
	case a == "avg" || a == "dev":
		return DropDerivedAgg
	case len(r.Tags) == 0:
		return DropNoTags
	case len(r.Tags) > maxTags:
		return DropTooManyTags
	}
	if !javaValidName(r.Metric) {
		return DropBadChar
	}
	for _, tg := range r.Tags {
		if !javaValidName(tg.Key) || !javaValidName(tg.Value) {
			return DropBadChar
		}
	}
	for _, tg := range r.Tags {
		if string(tg.Key) == "_aggregate" {
			return DropAggTag
		}
	}
	return DropNone
}

func FuzzOpenTSDB(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzOpenTSDB.
	enc := mustEncoder(f, "opentsdb", Options{})
	f.Fuzz(func(t *testing.T, metric, k1, v1, k2, v2 []byte, ntags uint8, start int64, bits uint64, agg, step string) {
		r, ok := fuzzRollup(metric, k1, v1, k2, v2, ntags, start, bits, agg, step)
		if !ok {
			t.Skip("duplicate tag keys")
		}
		prefix := []byte("[{}")
		out, reason := enc.Append(prefix, &r)
		if want := wantOpenTSDBReason(&r, DefaultOpenTSDBMaxTags); reason != want {
			t.Fatalf("reason %v, want %v for %+v", reason, want, r)
		}
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("caller's bytes changed: %q", out)
		}
		if reason != DropNone {
			if len(out) != len(prefix) {
				t.Fatalf("dropped (%v) but wrote %q", reason, out[len(prefix):])
			}
			return
		}
		checkOpenTSDB(t, &r, DefaultOpenTSDBMaxTags, out[len(prefix):])
	})
}

// jsonlReference builds the expected line from encoding/json pieces.
func jsonlReference(t *testing.T, r *Rollup) []byte {
	var b []byte
	b = append(b, `{"metric":`...)
	b = append(b, encodingJSONString(t, string(r.Metric))...)
	b = append(b, `,"tags":{`...)
	for i, tg := range r.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, encodingJSONString(t, string(tg.Key))...)
		b = append(b, ':')
		b = append(b, encodingJSONString(t, string(tg.Value))...)
	}
	b = append(b, `},"step":`...)
	b = append(b, encodingJSONString(t, r.Step)...)
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, `,"aggregator":`...)
	b = append(b, encodingJSONString(t, r.Aggregator)...)
	b = append(b, `,"value":`...)
	v, err := json.Marshal(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, v...)
	return append(b, "}\n"...)
}

func FuzzJSONL(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzJSONL.
	enc := mustEncoder(f, "jsonl", Options{})
	f.Fuzz(func(t *testing.T, metric, k1, v1, k2, v2 []byte, ntags uint8, start int64, bits uint64, agg, step string) {
		r, ok := fuzzRollup(metric, k1, v1, k2, v2, ntags, start, bits, agg, step)
		if !ok {
			t.Skip("duplicate tag keys")
		}
		prefix := []byte("previous line\n")
		out, reason := enc.Append(prefix, &r)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("caller's bytes changed: %q", out)
		}
		if finite := !math.IsNaN(r.Value) && !math.IsInf(r.Value, 0); reason != DropNone || !finite {
			if reason != DropNonFinite || finite || len(out) != len(prefix) {
				t.Fatalf("value %v: reason %v, output %q", r.Value, reason, out[len(prefix):])
			}
			return
		}
		line := out[len(prefix):]
		checkJSONL(t, &r, line)
		if want := jsonlReference(t, &r); !bytes.Equal(line, want) {
			t.Fatalf("line differs from encoding/json pieces:\n got: %q\nwant: %q", line, want)
		}
	})
}
