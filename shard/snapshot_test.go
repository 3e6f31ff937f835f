package shard

import (
	"fmt"
	"testing"
)

func TestSeriesSnapshotRoundTrip(t *testing.T) {
	tb := NewTable(nil)
	want := map[uint32]string{}
	for i := range 5000 {
		key := AppendKey(nil, fmt.Appendf(nil, "m%d", i), []Tag{{Key: []byte("host"), Value: fmt.Appendf(nil, "h%d", i%7)}})
		idx, err := tb.Insert(Hash(key), key)
		if err != nil {
			t.Fatal(err)
		}
		want[idx] = string(key)
	}
	// Holes: deleted series leave free indexes behind.
	for idx := uint32(0); idx < 5000; idx += 3 {
		tb.Delete(idx)
		delete(want, idx)
	}
	recs, keys, n := tb.AppendSeries(nil, []byte("junk")[:0])
	if n != len(want) || len(recs) != n*SeriesRecordSize {
		t.Fatalf("%d series, %d record bytes; want %d", n, len(recs), len(want))
	}
	data := append(recs, keys...)
	data = append(data, make([]byte, (8-len(data)%8)%8)...)
	got := map[uint32]string{}
	last := int64(-1)
	err := ReadSeries(data, uint64(n), func(idx uint32, key []byte) error {
		if int64(idx) <= last {
			t.Fatalf("index %d after %d: not in index order", idx, last)
		}
		last = int64(idx)
		got[idx] = string(key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("series read back differ")
	}
	if err := ReadSeries(data[:len(data)-16], uint64(n), func(uint32, []byte) error { return nil }); err == nil {
		t.Fatal("truncated keys accepted")
	}
	if err := ReadSeries(data, uint64(n+1), func(uint32, []byte) error { return nil }); err == nil {
		t.Fatal("one series too many accepted")
	}
}

func FuzzReadSeries(f *testing.F) {
	tb := NewTable(nil)
	for _, m := range []string{"a", "bb", "ccc"} {
		key := AppendKey(nil, []byte(m), []Tag{{Key: []byte("k"), Value: []byte("v")}})
		tb.Insert(Hash(key), key)
	}
	recs, keys, n := tb.AppendSeries(nil, nil)
	f.Add(append(recs, keys...), uint64(n))
	f.Add([]byte{}, uint64(1<<40))
	f.Fuzz(func(t *testing.T, data []byte, n uint64) {
		ReadSeries(data, n, func(idx uint32, key []byte) error {
			if len(key) > MaxKeyLen || len(key) > len(data) {
				t.Fatalf("key of %d bytes from %d bytes of input", len(key), len(data))
			}
			ValidKey(key)
			return nil
		})
	})
}

func TestInsertUniqueAndReserve(t *testing.T) {
	// Every key collides: the probe sequence must compare keys.
	tb := NewTable(func([]byte) uint64 { return 42 })
	tb.Reserve(100)
	slots := len(tb.slots)
	for i := range 100 {
		key := AppendKey(nil, fmt.Appendf(nil, "m%d", i), nil)
		idx, dup, err := tb.InsertUnique(42, key)
		if err != nil || dup || idx != uint32(i) {
			t.Fatalf("insert %d: idx %d dup %v err %v", i, idx, dup, err)
		}
	}
	if len(tb.slots) != slots {
		t.Fatalf("table grew from %d to %d slots after Reserve(100)", slots, len(tb.slots))
	}
	key := AppendKey(nil, []byte("m57"), nil)
	if idx, dup, _ := tb.InsertUnique(42, key); !dup || idx != 57 {
		t.Fatalf("duplicate not found: idx %d dup %v", idx, dup)
	}
	if tb.Len() != 100 {
		t.Fatalf("%d series", tb.Len())
	}
}
