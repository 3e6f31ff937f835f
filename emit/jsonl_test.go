package emit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rollupd/rollup/shard"
)

// encodingJSONString is the reference: encoding/json without HTML escaping.
func encodingJSONString(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// stringPieces are the fragments random strings are built from: plain
// ASCII, every byte that needs an escape, valid multi-byte UTF-8 (2, 3 and
// 4 bytes, U+2028/U+2029, U+FFFD itself) and broken UTF-8 (stray
// continuation bytes, truncated sequences, encoded surrogates, overlong
// forms, bytes that never occur).
var stringPieces = []string{
	"a", "Z", "0", " ", "/", "<", ">", "&", "'", "\x7f", "abcdefgh",
	"\"", "\\", "\b", "\f", "\n", "\r", "\t", "\x00", "\x01", "\x1b", "\x1f",
	"\u00e9", "\u0416", "\u6771", "\U0001f600", "\u2028", "\u2029", "\ufffd", "\u0301",
	"\x80", "\xbf", "\xc3", "\xe2\x80", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\xf5\x80\x80\x80", "\xff", "\xfe",
}

func TestJSONStringMatchesEncodingJSON(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want := encodingJSONString(t, s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
		if got := appendJSONString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString([]byte(%q)) = %s, encoding/json writes %s", s, got, want)
		}
	}
	// Every single byte value, alone and between plain bytes.
	for c := 0; c < 256; c++ {
		check(string([]byte{byte(c)}))
		check("x" + string([]byte{byte(c)}) + "y")
		// At every position of a string the 8-byte scan covers.
		for pos := 0; pos < 20; pos++ {
			b := []byte("abcdefghijklmnopqrst")
			b[pos] = byte(c)
			check(string(b))
		}
	}
	for _, p := range stringPieces {
		check(p)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 200_000
	if testing.Short() {
		n = 10_000
	}
	var b []byte
	for range n {
		b = b[:0]
		for k := rng.IntN(8); k >= 0; k-- {
			if rng.IntN(4) == 0 {
				b = append(b, byte(rng.Uint32())) // any byte
			} else {
				b = append(b, stringPieces[rng.IntN(len(stringPieces))]...)
			}
		}
		check(string(b))
	}
}

func TestJSONLEmptyTags(t *testing.T) {
	enc := mustEncoder(t, "jsonl", Options{})
	for _, tg := range [][]Tag{nil, {}} {
		r := with(func(r *Rollup) { r.Tags = tg })
		out, reason := enc.Append(nil, &r)
		want := `{"metric":"cpu_usage_idle","tags":{},"step":"1m","start":1700000040,"aggregator":"sum","value":12.5}` + "\n"
		if reason != DropNone || string(out) != want {
			t.Fatalf("got %q %v, want %q", out, reason, want)
		}
	}
}

// jsonSpecial flags exactly the bytes jsonPlain does not mark plain, each
// byte value at each position, whatever its neighbours are.
func TestJSONSpecialMatchesTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for range 64 {
				var word [8]byte
				for i := range word {
					word[i] = byte(rng.Uint32())
				}
				word[pos] = byte(c)
				w := binary.LittleEndian.Uint64(word[:])
				m := jsonSpecial(w)
				for i, b := range word {
					if got, want := m>>(8*i+7)&1 == 1, !jsonPlain[b]; got != want {
						t.Fatalf("jsonSpecial(%x): byte %d (%#x) flagged %v, want %v", word, i, b, got, want)
					}
				}
				if m&^0x8080808080808080 != 0 {
					t.Fatalf("jsonSpecial(%x) = %#x: bits besides the high ones", word, m)
				}
			}
		}
	}
}

// The jsonl series written from a canonical key is byte for byte the one
// written from its metric and tags, for names with every kind of byte a
// key may hold (none below 0x20), empty tag keys and values included.
func TestJSONLSeriesFromKey(t *testing.T) {
	var pieces []string
	for _, p := range stringPieces {
		if !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 }) {
			pieces = append(pieces, p)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	name := func() []byte {
		var b []byte
		for k := rng.IntN(6); k > 0; k-- {
			if rng.IntN(5) == 0 {
				b = append(b, byte(0x20+rng.IntN(0xe0))) // any byte a key may hold
			} else {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
		}
		return b
	}
	// One window for all, as a shard worker has: the tail it caches must
	// follow the series, the step and the start.
	var w Window
	var tags []Tag
	var stags []shard.Tag
	for i := range 50_000 {
		metric := name()
		if rng.IntN(2) == 0 { // else the previous tags, as a line's fields have
			tags, stags = nil, nil
			for range rng.IntN(6) {
				tg := Tag{Key: name(), Value: name()}
				tags, stags = append(tags, tg), append(stags, shard.Tag(tg))
			}
		}
		step := "1m"
		if rng.IntN(10) == 0 {
			step = "1h"
		}
		start := int64(i/3) - 7 // runs of windows closed together
		key := shard.AppendKey(nil, metric, stags)
		want := appendJSONLSeries(nil, metric, tags, step, start)
		w.SetKey(key)
		w.Step, w.Start, w.Values = step, start, []AggValue{{"sum", 1.5}}
		if got := appendJSONLSeriesKey(nil, &w); !bytes.Equal(got, want) {
			t.Fatalf("key %q:\n got %s\nwant %s", key, got, want)
		}
		// Through the window: jsonl from the key, and Split for the others.
		var drops [numDropReasons]uint64
		got, _ := jsonlEncoder{}.AppendWindow(nil, &w, nil, drops[:])
		if wantLine := appendJSONLValue(want, "sum", 1.5); !bytes.Equal(got, wantLine) {
			t.Fatalf("window of key %q: %s, want %s", key, got, wantLine)
		}
		w.Split()
		if !bytes.Equal(w.Metric, metric) || len(w.Tags) != len(tags) {
			t.Fatalf("Split of %q: %q %q", key, w.Metric, w.Tags)
		}
	}
}
