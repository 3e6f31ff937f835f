package shard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestKeyBuilderMatchesAppendKey(t *testing.T) {
	var b KeyBuilder
	tags := []Tag{{[]byte("cpu"), []byte("cpu0")}, {[]byte("host"), []byte("h 1,=x")}}
	b.Begin()
	for _, tg := range tags {
		b.AddTag(tg.Key, tg.Value)
	}
	b.SetMetricPrefix([]byte("cpu"), []byte("_"))
	for _, field := range []string{"usage_idle", "u", "a_much_longer_field_name_than_the_others_to_cross_32_bytes"} {
		route := b.Route([]byte(field))
		key := append(b.Prefix(), field...) // Prefix is capped: this copies
		want := AppendKey(nil, []byte("cpu_"+field), tags)
		if !bytes.Equal(key, want) {
			t.Fatalf("Prefix+field %q, want %q", key, want)
		}
		if route != RouteHash(want) {
			t.Fatalf("per-line route hash %x != RouteHash %x", route, RouteHash(want))
		}
		metric, got, ok := SplitKey(key, nil)
		if !ok || string(metric) != "cpu_"+field || len(got) != 2 ||
			string(got[1].Key) != "host" || string(got[1].Value) != "h 1,=x" {
			t.Fatalf("SplitKey(%q) = %q %q %v", key, metric, got, ok)
		}
	}
	// No tags.
	b.Begin()
	b.SetMetricPrefix([]byte("m"))
	key := b.Prefix()
	if metric, tg, ok := SplitKey(key, nil); !ok || string(metric) != "m" || len(tg) != 0 {
		t.Fatalf("SplitKey(%q) = %q %v %v", key, metric, tg, ok)
	}
	for _, bad := range []string{"", "k", "k\x00v", "k\x00v\x00"} {
		if _, _, ok := SplitKey([]byte(bad), nil); ok {
			t.Errorf("SplitKey(%q) accepted a non-canonical key", bad)
		}
	}
}

func TestTableGrowthAndLookup(t *testing.T) {
	tab := NewTable(nil)
	const n = 100000
	key := func(i int) []byte { return fmt.Appendf(nil, "host=h%d\x00\x01metric_%d", i%1000, i) }
	for i := range n {
		k := key(i)
		if _, ok := tab.Lookup(Hash(k), k); ok {
			t.Fatalf("key %d found before insert", i)
		}
		idx, err := tab.Insert(Hash(k), k)
		if err != nil || idx != uint32(i) {
			t.Fatalf("insert %d: idx %d err %v", i, idx, err)
		}
	}
	if tab.Len() != n {
		t.Fatalf("Len %d", tab.Len())
	}
	for i := range n {
		k := key(i)
		idx, ok := tab.Lookup(Hash(k), k)
		if !ok || idx != uint32(i) || !bytes.Equal(tab.Key(idx), k) {
			t.Fatalf("lookup %d: idx %d ok %v", i, idx, ok)
		}
	}
	if load := float64(n) / float64(len(tab.slots)); load > 7.0/8 || load < 7.0/16 {
		t.Fatalf("load factor %.2f outside [7/16, 7/8]", load)
	}
}

// TestForcedCollisions gives every key the same hash: the table must still
// keep them apart by comparing keys, through inserts, deletes and growth.
func TestForcedCollisions(t *testing.T) {
	same := func([]byte) uint64 { return 0xdeadbeefcafef00d }
	tab := NewTable(same)
	const n = 300
	for i := range n {
		k := fmt.Appendf(nil, "k%d", i)
		if _, ok := tab.Lookup(same(k), k); ok {
			t.Fatalf("colliding key %d merged with another series", i)
		}
		if _, err := tab.Insert(same(k), k); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 2 {
		k := fmt.Appendf(nil, "k%d", i)
		idx, _ := tab.Lookup(same(k), k)
		tab.Delete(idx)
	}
	for i := range n {
		k := fmt.Appendf(nil, "k%d", i)
		idx, ok := tab.Lookup(same(k), k)
		if ok != (i%2 == 1) {
			t.Fatalf("key %d: found=%v after deleting evens", i, ok)
		}
		if ok && string(tab.Key(idx)) != string(k) {
			t.Fatalf("key %d maps to %q", i, tab.Key(idx))
		}
	}
}

// TestTableAgainstMap runs random inserts and deletes with a weak hash (few
// distinct values, long probe runs that wrap around) against a Go map.
func TestTableAgainstMap(t *testing.T) {
	weak := func(k []byte) uint64 { return Hash(k) & 0xf00000000000000f }
	for _, hash := range []func([]byte) uint64{nil, weak} {
		h := hash
		if h == nil {
			h = Hash
		}
		tab := NewTable(hash)
		ref := map[string]uint32{}
		rng := rand.New(rand.NewPCG(1, 2))
		for op := range 200000 {
			k := fmt.Appendf(nil, "series-%d", rng.IntN(3000))
			idx, ok := tab.Lookup(h(k), k)
			want, wantOK := ref[string(k)]
			if ok != wantOK || (ok && idx != want) {
				t.Fatalf("op %d: lookup %q = %d,%v want %d,%v", op, k, idx, ok, want, wantOK)
			}
			switch {
			case !ok:
				idx, err := tab.Insert(h(k), k)
				if err != nil {
					t.Fatal(err)
				}
				ref[string(k)] = idx
			case rng.IntN(2) == 0:
				tab.Delete(idx)
				delete(ref, string(k))
			}
			if tab.Len() != len(ref) {
				t.Fatalf("op %d: Len %d want %d", op, tab.Len(), len(ref))
			}
		}
		for k, idx := range ref {
			if got := string(tab.Key(idx)); got != k {
				t.Fatalf("index %d holds %q, want %q", idx, got, k)
			}
		}
	}
}

func TestArenaCompaction(t *testing.T) {
	tab := NewTable(nil)
	big := bytes.Repeat([]byte("x"), 60000)
	var live [][]byte
	for i := range 200 {
		k := append(fmt.Appendf(nil, "%04d", i), big...)
		idx, err := tab.Insert(Hash(k), k)
		if err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			live = append(live, k)
		} else {
			tab.Delete(idx)
		}
	}
	if tab.deadBytes > tab.liveBytes+arenaChunkMax {
		t.Fatalf("dead bytes %d not compacted (live %d)", tab.deadBytes, tab.liveBytes)
	}
	if mem := tab.MemoryBytes(); mem > 4*len(live)*len(big) {
		t.Fatalf("memory %d for %d live keys of %d bytes", mem, len(live), len(big))
	}
	for _, k := range live {
		idx, ok := tab.Lookup(Hash(k), k)
		if !ok || !bytes.Equal(tab.Key(idx), k) {
			t.Fatalf("key %q lost by compaction", k[:4])
		}
	}
	if _, err := tab.Insert(1, make([]byte, MaxKeyLen+1)); err != ErrKeyTooLong {
		t.Fatalf("oversized key: err %v", err)
	}
}

// TestRouteIsAFunctionOfTheKey: "a_b"+"c" and "a"+"b_c" make the same
// metric, so the same key, so they must go to the same shard.
func TestRouteIsAFunctionOfTheKey(t *testing.T) {
	var b KeyBuilder
	route := func(meas, field string) uint64 {
		b.Begin()
		b.AddTag([]byte("host"), []byte("x"))
		b.SetMetricPrefix([]byte(meas), []byte("_"))
		return b.Route([]byte(field))
	}
	if route("a_b", "c") != route("a", "b_c") {
		t.Fatal("equal keys routed differently")
	}
	if route("a", "c") == route("a", "d") {
		t.Fatal("different metrics of one line share a route hash")
	}
}

func TestShardOfSpread(t *testing.T) {
	counts := make([]int, 7)
	for i := range 70000 {
		counts[ShardOf(RouteHash(fmt.Appendf(nil, "host=h%d\x00\x01m", i)), 7)]++
		counts[ShardOf(RouteHash(fmt.Appendf(nil, "host=h\x00\x01m%d", i)), 7)]++
	}
	for s, c := range counts {
		if c < 18000 || c > 22000 {
			t.Fatalf("shard %d got %d of 140000", s, c)
		}
	}
}

func TestPagedPool(t *testing.T) {
	var p Paged[uint64]
	*p.At(PageSize + 5) = 7
	if p.Get(10) != nil || p.Get(PageSize+1) == nil || p.Get(PageSize*3) != nil || *p.Get(PageSize + 5) != 7 {
		t.Fatal("Paged Get/At disagree")
	}
	pool := p.Release(nil)
	if len(pool) != 1 || p.NumPages() != 0 {
		t.Fatalf("Release: %d pages, %d left", len(pool), p.NumPages())
	}
	pool[0][5] = 0
	var q Paged[uint64]
	*q.AtPooled(1, &pool) = 3
	if len(pool) != 0 || *q.Get(1) != 3 {
		t.Fatal("AtPooled did not take the pooled page")
	}
}

// TestGuess: Guess, then Lookup, must agree with a map whether its successor
// guess is right (a repeating order), wrong (a shuffled order) or stale (the
// guessed index was deleted and reused by another key).
func TestGuess(t *testing.T) {
	tab := NewTable(nil)
	ref := map[string]uint32{}
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([][]byte, 500)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%d\x01m", i)
	}
	check := func(order []int) {
		t.Helper()
		for _, i := range order {
			k := keys[i]
			idx, ok := tab.GuessParts(k, nil)
			if !ok {
				idx, ok = tab.Lookup(Hash(k), k)
			}
			want, wantOK := ref[string(k)]
			if ok != wantOK || (ok && idx != want) {
				t.Fatalf("find %q = %d,%v want %d,%v", k, idx, ok, want, wantOK)
			}
			if !ok {
				idx, _ = tab.Insert(Hash(k), k)
				ref[string(k)] = idx
			}
		}
	}
	cyclic := make([]int, len(keys))
	for i := range cyclic {
		cyclic[i] = i
	}
	for range 3 {
		check(cyclic)
	}
	for round := range 20 {
		// Delete a few keys: their indexes get reused by others.
		for range 10 {
			k := keys[rng.IntN(len(keys))]
			if idx, ok := ref[string(k)]; ok {
				tab.Delete(idx)
				delete(ref, string(k))
			}
		}
		order := cyclic
		if round%2 == 1 {
			order = rng.Perm(len(keys))
		}
		check(order)
	}
}

// splitKeyReference is SplitKey as a plain byte loop, the definition the
// eight-byte scan must match.
func splitKeyReference(key []byte) (metric []byte, tags []Tag, ok bool) {
	start, k := 0, -1
	for i, c := range key {
		switch c {
		case metricSep:
			if start != i || k >= 0 {
				return nil, tags, false
			}
			return key[i+1:], tags, true
		case tagSep:
			if k < 0 {
				k = i
			} else {
				tags = append(tags, Tag{Key: key[start:k], Value: key[k+1 : i]})
				start, k = i+1, -1
			}
		}
	}
	return nil, tags, false
}

// SplitKey agrees with the byte loop on canonical keys of every length and
// on byte strings with separators anywhere, canonical or not.
func TestSplitKeyMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	text := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(2 + rng.IntN(254)) // anything but a separator
		}
		return b
	}
	for range 20000 {
		var key []byte
		if rng.IntN(2) == 0 {
			var tags []Tag
			for range rng.IntN(5) {
				tags = append(tags, Tag{text(rng.IntN(12)), text(rng.IntN(12))})
			}
			key = AppendKey(nil, text(rng.IntN(30)), tags)
		} else {
			key = text(rng.IntN(40))
			for range rng.IntN(6) {
				if len(key) > 0 {
					key[rng.IntN(len(key))] = byte(rng.IntN(2))
				}
			}
		}
		wm, wt, wok := splitKeyReference(key)
		gm, gt, gok := SplitKey(key, nil)
		if gok != wok || !bytes.Equal(gm, wm) || len(gt) != len(wt) {
			t.Fatalf("SplitKey(%q) = %q %q %v, want %q %q %v", key, gm, gt, gok, wm, wt, wok)
		}
		for i := range wt {
			if !bytes.Equal(gt[i].Key, wt[i].Key) || !bytes.Equal(gt[i].Value, wt[i].Value) {
				t.Fatalf("SplitKey(%q) tag %d = %q, want %q", key, i, gt[i], wt[i])
			}
		}
	}
}

// TestRouteMatchesRouteHash: Route, which puts the metric's ends together
// from its prefix and the suffix, gives RouteHash of the key they make for
// every split of the metric between the two, over several fields per line
// as a parser calls it.
func TestRouteMatchesRouteHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	text := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0x60))
		}
		return b
	}
	var b KeyBuilder
	for range 20000 {
		b.Begin()
		for k := rng.IntN(3); k > 0; k-- {
			b.AddTag(text(1+rng.IntN(6)), text(rng.IntN(12)))
		}
		b.SetMetricPrefix(text(rng.IntN(12)), text(rng.IntN(2)))
		for f := 1 + rng.IntN(4); f > 0; f-- {
			// A field name is a slice of its line: the bytes after
			// it, up to 8, must not change the route.
			n := rng.IntN(20)
			suffix := text(n + rng.IntN(9))[:n]
			var byTags uint64
			if f%2 == 0 { // first on its line, or after Route
				byTags = b.RouteTags(suffix)
			}
			route := b.Route(suffix)
			if f%2 == 1 {
				byTags = b.RouteTags(suffix)
			}
			key := append(b.Prefix(), suffix...)
			if want := RouteHash(key); route != want {
				t.Fatalf("Route of %q = %x, RouteHash %x", key, route, want)
			}
			if want := RouteHashTags(key); byTags != want {
				t.Fatalf("RouteTags of %q = %x, RouteHashTags %x", key, byTags, want)
			}
		}
	}
}

// TestRouteHashTags: keys with one tag set share a route whatever their
// metric, and keys without tags route as RouteHash routes them.
func TestRouteHashTags(t *testing.T) {
	a := RouteHashTags([]byte("host\x00a\x00\x01cpu_usage_idle"))
	if b := RouteHashTags([]byte("host\x00a\x00\x01mem_used")); a != b {
		t.Errorf("one tag set, two routes: %x %x", a, b)
	}
	if b := RouteHashTags([]byte("host\x00b\x00\x01cpu_usage_idle")); a == b {
		t.Errorf("two tag sets, one route %x", a)
	}
	for _, k := range []string{"\x01cpu_usage_idle", "\x01m", "", "no separator"} {
		if got, want := RouteHashTags([]byte(k)), RouteHash([]byte(k)); got != want {
			t.Errorf("RouteHashTags(%q) = %x, want RouteHash's %x", k, got, want)
		}
	}
}

// TestRouteHashIsStable pins RouteHash's values so that changing them is
// a decision: they decide how series spread over shards. A restore
// recomputes each series' shard with the RouteHash of the binary doing
// it, so old checkpoints do not depend on these values.
func TestRouteHashIsStable(t *testing.T) {
	for key, want := range map[string]uint64{
		"":                                     0x572a4974ab79f6e6,
		"m":                                    0xca962768891c5828,
		"host\x00a\x00\x01cpu_usage_idle":      0xd9f85cc88a0a0c74,
		"cpu\x00cpu0\x00host\x00h\x00\x01mem":  0x765f1e885d769315,
		"\x01a.much.longer.metric.name.than.8": 0xd9c1467af11d6e2e,
	} {
		if got := RouteHash([]byte(key)); got != want {
			t.Errorf("RouteHash(%q) = %#x, want %#x", key, got, want)
		}
	}
}

// TestBatchSharesLinePrefix: the points of one line share one copy of the
// prefix, whole keys and other lines do not, and every point gives back
// its key; GuessParts finds a series from its key's parts as Guess does
// from the whole key, and only when both parts match.
func TestBatchSharesLinePrefix(t *testing.T) {
	var b Batch
	type point struct {
		line           uint64
		prefix, suffix string
	}
	points := []point{
		{1, "host\x00a\x00\x01cpu_", "user"}, {1, "host\x00a\x00\x01cpu_", "system"},
		{0, "host\x00b\x00\x01mem", ""}, // a whole key, as a line of its own
		{2, "host\x00b\x00\x01cpu_", "user"}, {2, "host\x00b\x00\x01cpu_", ""},
		{3, "host\x00a\x00\x01cpu_", "user"},
	}
	for i, p := range points {
		if p.line == 0 {
			b.AddLine(uint64(100+i), []byte(p.prefix+p.suffix), nil, int64(i), float64(i))
		} else {
			b.AddLine(p.line, []byte(p.prefix), []byte(p.suffix), int64(i), float64(i))
		}
	}
	keyBytes := 0
	for i, p := range points {
		if i == 0 || p.line != points[i-1].line || p.line == 0 {
			keyBytes += len(p.prefix)
		}
		keyBytes += len(p.suffix)
	}
	if b.Len() != len(points) || b.KeyBytes() != keyBytes {
		t.Fatalf("%d points, %d key bytes; want %d, %d", b.Len(), b.KeyBytes(), len(points), keyBytes)
	}
	for i := range b.Points {
		pt := &b.Points[i]
		want := points[i].prefix + points[i].suffix
		if got := b.AppendKey([]byte("x"), pt); string(got) != "x"+want || pt.Time != int64(i) || pt.Value != float64(i) {
			t.Fatalf("point %d: key %q at %d = %v, want %q", i, got, pt.Time, pt.Value, want)
		}
	}
	b.Reset()
	b.AddLine(3, []byte("p"), []byte("s"), 0, 0) // the same line number after Reset: a new copy
	if pre, suf := b.KeyParts(&b.Points[0]); string(pre) != "p" || string(suf) != "s" {
		t.Fatalf("after Reset: %q %q", pre, suf)
	}
}

// TestGuessParts: the successor guess finds a series from its key's two
// parts, however the key is split, and misses when a byte or the length
// differs.
func TestGuessParts(t *testing.T) {
	tab := NewTable(nil)
	keys := []string{"host\x00a\x00\x01cpu_user", "host\x00a\x00\x01cpu_system", "host\x00b\x00\x01cpu_user", "\x01m", "host\x00b\x00\x01cpu_usera"}
	for _, k := range keys {
		if _, err := tab.Insert(Hash([]byte(k)), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	for split := range 5 {
		if _, ok := tab.Lookup(Hash([]byte(keys[0])), []byte(keys[0])); !ok {
			t.Fatal("first key not found")
		}
		for i := 1; i < len(keys); i++ {
			k := []byte(keys[i])
			at := min(split*3, len(k))
			idx, ok := tab.GuessParts(k[:at], k[at:])
			if !ok || idx != uint32(i) {
				t.Fatalf("key %q split at %d: guessed %d %v, want %d", k, at, idx, ok, i)
			}
		}
	}
	for _, bad := range [][2]string{
		{"host\x00a\x00\x01cpu_", "sys"},      // shorter
		{"host\x00a\x00\x01cpu_", "systemx"},  // longer
		{"host\x00a\x00\x01cpu_", "systen"},   // a byte in the suffix
		{"host\x00b\x00\x01cpu_", "system"},   // a byte in the prefix
		{"host\x00a\x00\x01cpu_systemxx", ""}, // a prefix longer than the key
	} {
		// keys[1] after keys[0], then back at keys[0]: the guess is keys[1].
		guessKeys1 := func() {
			for _, k := range []string{keys[0], keys[1], keys[0]} {
				tab.Lookup(Hash([]byte(k)), []byte(k))
			}
		}
		guessKeys1()
		if idx, ok := tab.GuessParts([]byte(bad[0]), []byte(bad[1])); ok {
			t.Fatalf("%q+%q guessed as %d", bad[0], bad[1], idx)
		}
		guessKeys1()
		if idx, ok := tab.GuessParts([]byte(keys[1][:3]), []byte(keys[1][3:])); !ok || idx != 1 {
			t.Fatalf("keys[1] after keys[0]: guessed %d %v", idx, ok)
		}
	}
}
