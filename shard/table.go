package shard

import (
	"bytes"
	"errors"
)

// ErrKeyTooLong is returned by Insert for keys longer than MaxKeyLen.
var ErrKeyTooLong = errors.New("series key longer than 65535 bytes")

// MaxKeyLen is the longest canonical key a Table stores.
const MaxKeyLen = 1<<16 - 1

const (
	minTableBits = 4
	// maxLoad is the fill (numerator over 8) at which the table doubles.
	// Linear probing at 7/8 makes misses probe ~30 slots, but misses are
	// rare (new series) while hits average ~4.5 probes, usually within one
	// cache line; the high fill keeps the table near 9-18 bytes per series.
	maxLoad = 7

	arenaChunkMax = 1 << 20
	arenaChunkMin = 4 << 10
)

// Table maps canonical series keys to dense series indexes.
//
// Each slot is one uint64: the top 32 bits of the series hash (the
// fingerprint) above index+1 (0 marks an empty slot). The home slot is the
// fingerprint's top bits, so the table can grow and delete (backward-shift,
// no tombstones) from the slots alone without rehashing keys. A fingerprint
// match is confirmed by comparing the stored key.
type Table struct {
	slots []uint64
	bits  uint // len(slots) == 1<<bits
	n     int  // live series

	refs  Paged[uint64] // per index: chunk<<36 | offset<<16 | len; 0 = free
	next  uint32        // next never-used index
	free  []uint32      // deleted indexes, reused first
	arena [][]byte

	liveBytes, deadBytes int

	// succ[i] is 1 + the index found right after series i last time, and
	// prev the last index found: see Guess.
	succ    Paged[uint32]
	prev    uint32
	hasPrev bool

	hash func([]byte) uint64
}

// NewTable returns an empty table. hash must be the function the caller uses
// for the hash argument of Lookup and Insert; nil means Hash. Tests pass a
// deliberately colliding function.
func NewTable(hash func([]byte) uint64) *Table {
	if hash == nil {
		hash = Hash
	}
	return &Table{slots: make([]uint64, 1<<minTableBits), bits: minTableBits, hash: hash}
}

// Len returns the number of series.
func (t *Table) Len() int { return t.n }

func fingerprint(hash uint64) uint32 { return uint32(hash >> 32) }

func (t *Table) home(fp uint32) uint64 { return uint64(fp >> (32 - t.bits)) }

// Lookup returns the index of key, whose hash is hash. Like Insert, it
// records the order in which series are found, for Guess.
func (t *Table) Lookup(hash uint64, key []byte) (uint32, bool) {
	fp := fingerprint(hash)
	mask := uint64(len(t.slots) - 1)
	for i := t.home(fp); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == fp {
			idx := uint32(s) - 1
			if bytes.Equal(t.Key(idx), key) {
				t.follow(idx)
				return idx, true
			}
		}
	}
}

// GuessParts tries to find the key prefix+suffix (given in two parts, as
// a batch holds it) without hashing it or probing the table: it compares
// it with the series that came right after the previously found one the
// last time. Metric sources report their series in the same order every
// interval, so the guess is usually right, and it costs one comparison
// with a key stored next to the previous one instead of a probe at a
// random slot (a cache miss once the table outgrows the CPU cache). On a
// miss, call Lookup. Correctness rests on the key comparison alone.
func (t *Table) GuessParts(prefix, suffix []byte) (uint32, bool) {
	if !t.hasPrev {
		return 0, false
	}
	n := t.succ.Get(t.prev)
	if n == nil || *n == 0 {
		return 0, false
	}
	guess := *n - 1
	k := t.Key(guess)
	if len(k) != len(prefix)+len(suffix) || !bytes.Equal(k[:len(prefix)], prefix) || !bytes.Equal(k[len(prefix):], suffix) {
		return 0, false
	}
	t.prev = guess
	return guess, true
}

// follow records that idx came after the previous series.
func (t *Table) follow(idx uint32) {
	if t.hasPrev {
		*t.succ.At(t.prev) = idx + 1
	}
	t.prev, t.hasPrev = idx, true
}

// Insert adds key, which must not be present, and returns its new index.
func (t *Table) Insert(hash uint64, key []byte) (uint32, error) {
	if len(key) > MaxKeyLen {
		return 0, ErrKeyTooLong
	}
	if (t.n+1)*8 > len(t.slots)*maxLoad {
		t.grow()
	}
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		idx = t.next
		t.next++
	}
	*t.refs.At(idx) = t.store(key)
	fp := fingerprint(hash)
	t.place(uint64(fp)<<32 | uint64(idx+1))
	t.n++
	t.follow(idx)
	return idx, nil
}

// Reserve grows the table to hold n series without growing again (a
// restore knows how many series it will insert).
func (t *Table) Reserve(n int) {
	for n*8 > len(t.slots)*maxLoad {
		t.grow()
	}
}

// InsertUnique adds key unless it is present, in one probe sequence
// (Lookup then Insert would walk it twice). dup reports a key already
// present, whose index is returned.
func (t *Table) InsertUnique(hash uint64, key []byte) (idx uint32, dup bool, err error) {
	if len(key) > MaxKeyLen {
		return 0, false, ErrKeyTooLong
	}
	fp := fingerprint(hash)
	mask := uint64(len(t.slots) - 1)
	for i := t.home(fp); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			break
		}
		if uint32(s>>32) == fp {
			if j := uint32(s) - 1; bytes.Equal(t.Key(j), key) {
				return j, true, nil
			}
		}
	}
	idx, err = t.Insert(hash, key)
	return idx, false, err
}

// place puts slot value s at the first free slot from its home.
func (t *Table) place(s uint64) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(uint32(s >> 32))
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

func (t *Table) grow() {
	old := t.slots
	t.bits++
	t.slots = make([]uint64, 1<<t.bits)
	for _, s := range old {
		if s != 0 {
			t.place(s)
		}
	}
}

// Key returns the stored key of idx (nil if idx is free).
func (t *Table) Key(idx uint32) []byte {
	p := t.refs.Get(idx)
	if p == nil || *p == 0 {
		return nil
	}
	r := *p
	c, off, n := r>>36, (r>>16)&(1<<20-1), r&0xffff
	return t.arena[c][off : off+n : off+n]
}

// Delete removes series idx. Its index is reused by a later Insert, so the
// caller must have cleared any per-series state first.
func (t *Table) Delete(idx uint32) {
	key := t.Key(idx)
	if key == nil {
		return
	}
	want := uint64(fingerprint(t.hash(key)))<<32 | uint64(idx+1)
	mask := uint64(len(t.slots) - 1)
	i := t.home(uint32(want >> 32))
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			panic("shard: table slot of a live series is missing")
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion: pull later members of the probe run into
	// the hole unless their home lies cyclically in (hole, j].
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		h := t.home(uint32(t.slots[j] >> 32))
		if (j-h)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.n--
	t.liveBytes -= len(key)
	t.deadBytes += len(key)
	*t.refs.At(idx) = 0
	*t.succ.At(idx) = 0
	if t.prev == idx {
		t.hasPrev = false
	}
	t.free = append(t.free, idx)
	if t.deadBytes > t.liveBytes && t.deadBytes > arenaChunkMax {
		t.compact()
	}
}

// store copies key into the arena and returns its reference.
func (t *Table) store(key []byte) uint64 {
	n := len(t.arena)
	if n == 0 || cap(t.arena[n-1])-len(t.arena[n-1]) < len(key) {
		size := arenaChunkMin
		if n > 0 {
			size = min(2*cap(t.arena[n-1]), arenaChunkMax)
		}
		size = max(size, len(key))
		t.arena = append(t.arena, make([]byte, 0, size))
		n++
	}
	c := t.arena[n-1]
	off := len(c)
	t.arena[n-1] = append(c, key...)
	t.liveBytes += len(key)
	return uint64(n-1)<<36 | uint64(off)<<16 | uint64(len(key))
}

// compact rewrites the arena with only live keys, so that churning series
// (expiry, then new series) cannot grow memory without bound.
func (t *Table) compact() {
	old := t.arena
	t.arena = nil
	t.liveBytes, t.deadBytes = 0, 0
	for idx := uint32(0); idx < t.next; idx++ {
		p := t.refs.Get(idx)
		if p == nil || *p == 0 {
			continue
		}
		r := *p
		c, off, n := r>>36, (r>>16)&(1<<20-1), r&0xffff
		*p = t.store(old[c][off : off+n])
	}
}

// MemoryBytes estimates the bytes held by the table: slots, key references
// and arena (capacity, not length).
func (t *Table) MemoryBytes() int {
	b := len(t.slots)*8 + t.refs.AllocatedPages()*PageSize*8 + t.succ.AllocatedPages()*PageSize*4 + cap(t.free)*4
	for _, c := range t.arena {
		b += cap(c)
	}
	return b
}

// KeyBytes returns the bytes of live keys.
func (t *Table) KeyBytes() int { return t.liveBytes }

// ShardOf maps a series hash to one of n shards. It uses the low 32 bits,
// independent of the fingerprint bits the table uses for slot positions.
func ShardOf(hash uint64, n int) int {
	return int((uint64(uint32(hash)) * uint64(n)) >> 32)
}
