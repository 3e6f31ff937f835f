package window

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// snapshotInto copies s into a fresh store through the checkpoint
// payloads, series keeping their indexes.
func snapshotInto(t *testing.T, cfg *Config, s *Store) *Store {
	t.Helper()
	r := NewStore(cfg)
	closed, next, err := ReadHeader(s.AppendHeader(nil))
	if err != nil {
		t.Fatal(err)
	}
	r.Restore(closed, next)
	idle, pages := s.AppendIdle(nil)
	if err := ReadIdle(idle, uint64(pages), func(idx uint32, age uint8) error {
		r.SetIdle(idx, age)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.AppendWindows(nil, func(payload []byte, pages int) {
		err := ReadWindow(payload, uint64(pages), func(arch int, start int64, idx uint32, a *Agg) error {
			return r.RestoreAgg(arch, start, idx, a)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	return r
}

// A store restored from its snapshot at any moment goes on exactly as the
// original: same rollups, same expiries.
func TestStoreSnapshotContinues(t *testing.T) {
	cfg := mustConfig(t, 5*time.Second, "10s:sum", "1m:sum", "5m:sum")
	cfg.SeriesTTL = 2 * time.Minute
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		a, b := NewStore(cfg), (*Store)(nil)
		ra, rb := &recorder{}, &recorder{}
		var dela, delb []uint32
		snapAt := rng.IntN(400)
		now := int64(1_700_000_000) * sec
		wm := now
		for step := 0; step < 500; step++ {
			if step == snapAt {
				b = snapshotInto(t, cfg, a)
			}
			idx := uint32(rng.IntN(3000))
			tm := now + int64(rng.IntN(20))*sec
			v := float64(rng.IntN(100)) - 50
			a.SeriesAdded(idx) // harmless for known series: marks active
			okA := a.Add(idx, tm, v)
			if b != nil {
				b.SeriesAdded(idx)
				if okB := b.Add(idx, tm, v); okA != okB {
					t.Fatalf("seed %d step %d: Add %v vs %v", seed, step, okA, okB)
				}
			}
			if rng.IntN(10) == 0 {
				now += int64(rng.IntN(30)) * sec
				wm = max(wm, now-15*sec)
				a.Advance(wm, ra, func(i uint32) { dela = append(dela, i) })
				if b != nil {
					b.Advance(wm, rb, func(i uint32) { delb = append(delb, i) })
				} else {
					// Before the snapshot: what b would have emitted.
					rb.got = append(rb.got[:0], ra.got...)
					delb = append(delb[:0], dela...)
				}
			}
		}
		a.Flush(ra)
		b.Flush(rb)
		if !reflect.DeepEqual(ra.got, rb.got) {
			t.Fatalf("seed %d: restored store emitted %d rollups, original %d (or values differ)", seed, len(rb.got), len(ra.got))
		}
		if !reflect.DeepEqual(dela, delb) {
			t.Fatalf("seed %d: expiries differ: %v vs %v", seed, dela, delb)
		}
	}
}

func TestStoreRestoreRejects(t *testing.T) {
	cfg := mustConfig(t, 0, "10s:sum", "1m:sum")
	s := NewStore(cfg)
	s.Restore(100*sec, 0)
	a := Agg{Sum: 1, Count: 1, FirstTime: 110 * sec, LastTime: 110 * sec}
	for _, c := range []struct {
		arch  int
		start int64
		agg   Agg
		want  string
	}{
		{2, 110 * sec, a, "window of archive 2: only 2 archives configured"},
		{0, 105 * sec, a, "window start 1970-01-01T00:01:45Z is not aligned to archive step 10s"},
		{0, 80 * sec, Agg{Count: 1, FirstTime: 80 * sec, LastTime: 80 * sec}, "window 1970-01-01T00:01:20Z of archive 0 is open in the checkpoint but ends before its watermark"},
		{0, 120 * sec, a, "aggregate of series 0 in window 1970-01-01T00:02:00Z has times outside the window"},
	} {
		err := s.RestoreAgg(c.arch, c.start, 0, &c.agg)
		if err == nil || err.Error() != c.want {
			t.Errorf("RestoreAgg(%d, %d) = %v, want %s", c.arch, c.start, err, c.want)
		}
	}
	if err := s.RestoreAgg(1, 60*sec, 0, &a); err != nil {
		t.Fatal(err)
	}
	b := Agg{Count: 1, FirstTime: 130 * sec, LastTime: 130 * sec}
	if err := s.RestoreAgg(1, 120*sec, 1, &b); err == nil {
		t.Fatal("two open windows of one coarse archive accepted")
	}
}

func FuzzReadWindow(f *testing.F) {
	cfg := &Config{Archives: []Archive{{Name: "10s", Step: 10, Aggregators: []Aggregator{Sum}}}}
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	s := NewStore(cfg)
	s.Add(5, 3*sec, 1)
	s.Add(2000, 4*sec, 2)
	s.AppendWindows(nil, func(p []byte, pages int) { f.Add(p, uint64(pages)) })
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, pages uint64) {
		n := 0
		ReadWindow(data, pages, func(_ int, _ int64, idx uint32, a *Agg) error {
			if a.Count == 0 {
				t.Fatal("empty aggregate passed on")
			}
			n++
			return nil
		})
		ReadIdle(data, pages, func(uint32, uint8) error { return nil })
		if n > len(data)/AggSize {
			t.Fatalf("%d records from %d bytes", n, len(data))
		}
	})
}
