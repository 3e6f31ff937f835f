package fastparse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// MKey is metrictank's series id (FORMATS.md section 3.4): the MD5 of the
// series' definition and its org.
type MKey struct {
	Key [16]byte
	Org uint32
}

// idKey is an MKey as the index holds it: the key as two words, loaded
// straight from a record (copying 16 bytes into an array and loading
// them back as words stalls the CPU on every point).
type idKey struct {
	lo, hi uint64
	org    uint32
}

// keyOf returns the idKey of the 16 key bytes at b and org.
func keyOf(b []byte, org uint32) idKey {
	return idKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:16]), org}
}

func (k MKey) key() idKey { return keyOf(k.Key[:], k.Org) }

// MKeyIndex maps the ids of metrictank MetricPoints to the series that
// MetricData messages described, as a metrictank node indexes the
// partitions it consumes: a point is only as good as the MetricData sent
// before it. One index serves one input partition (the reference producer
// sends a series' MetricData and its points to the same partition).
//
// It is bounded (MaxIDs) and forgets ids not seen for TTL seconds of data
// time, the way the engine forgets idle series. The zero value is not
// ready: use NewMKeyIndex.
//
// The index is an open-addressed table rather than a Go map: the map's
// lookup cost 2.5x the rest of a point's decoding. Its hash is seeded at
// random all the same (see hash), so that a producer cannot choose ids
// that collide.
type MKeyIndex struct {
	maxIDs    int
	ttl       int64      // seconds; <= 0: never forget
	seed      [3]uint64  // random: a producer cannot choose colliding ids
	slots     []mkeySlot // power-of-two length, at most half full
	n         int
	newest    int64 // newest time seen, Unix seconds
	nextSweep int64
	refused   uint64
}

type mkeySlot struct {
	key idKey
	e   *mkeyEntry // nil: empty
}

// mkeyEntry is one id's series. def holds the name and tags in the layout
// of a checkpoint entry (see AppendIndex); name and tags point into it.
type mkeyEntry struct {
	def  []byte
	name []byte
	tags []Tag
	last uint32 // newest point time seen, Unix seconds
}

// NewMKeyIndex returns an empty index holding at most maxIDs ids (0: no
// bound) and forgetting ids not seen for ttlSeconds (<= 0: never).
func NewMKeyIndex(maxIDs int, ttlSeconds int64) *MKeyIndex {
	x := &MKeyIndex{maxIDs: maxIDs, ttl: ttlSeconds, slots: make([]mkeySlot, 64)}
	for i := range x.seed {
		x.seed[i] = rand.Uint64() | 1
	}
	return x
}

// Len returns the number of ids held.
func (x *MKeyIndex) Len() int { return x.n }

// Refused returns how many new ids the index refused because it was full
// (their MetricData still counted as points; their MetricPoints are
// unknown ids until one expires).
func (x *MKeyIndex) Refused() uint64 { return x.refused }

// slot returns k's slot, or the empty slot where it would go.
func (x *MKeyIndex) slot(k idKey) *mkeySlot {
	mask := uint64(len(x.slots) - 1)
	i := x.hash(k) & mask
	for {
		s := &x.slots[i]
		if s.e == nil || s.key == k {
			return s
		}
		i = (i + 1) & mask
	}
}

// hash mixes k with the index's seeds by two 64x64->128-bit multiplies
// (wyhash's mixing step): every key bit reaches every hash bit, and
// without the seeds collisions cannot be chosen.
func (x *MKeyIndex) hash(k idKey) uint64 {
	a := k.lo ^ x.seed[0]
	b := k.hi ^ x.seed[1] ^ uint64(k.org)<<32
	hi, lo := bits.Mul64(a, b)
	hi, lo = bits.Mul64(hi^lo^x.seed[2], 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// lookup returns k's entry, or nil.
func (x *MKeyIndex) lookup(k idKey) *mkeyEntry { return x.slot(k).e }

// put stores e as k's entry.
func (x *MKeyIndex) put(k idKey, e *mkeyEntry) {
	s := x.slot(k)
	if s.e == nil {
		if 2*(x.n+1) > len(x.slots) {
			x.rebuild(2*len(x.slots), 0)
			s = x.slot(k)
		}
		x.n++
	}
	*s = mkeySlot{k, e}
}

// rebuild moves the entries last seen at or after keepFrom into a table
// of size slots (a power of two).
func (x *MKeyIndex) rebuild(size int, keepFrom int64) {
	old := x.slots
	x.slots, x.n = make([]mkeySlot, size), 0
	for _, s := range old {
		if s.e != nil && int64(s.e.last) >= keepFrom {
			*x.slot(s.key) = s
			x.n++
		}
	}
}

// learn records that k is the series name+tags (tags sorted, unique),
// seen at t. It allocates only for a new id or a changed definition, and
// returns nil when the index is full.
func (x *MKeyIndex) learn(k idKey, name []byte, tags []Tag, t uint32) *mkeyEntry {
	e := x.lookup(k)
	if e != nil && e.same(name, tags) {
		e.seen(t)
		return e
	}
	if e == nil && x.maxIDs > 0 && x.n >= x.maxIDs {
		x.refused++
		return nil
	}
	ne := newEntry(name, tags, t)
	if e != nil && e.last > ne.last {
		ne.last = e.last
	}
	x.put(k, ne)
	return ne
}

// observe advances the index's clock to t (Unix seconds) unless t is past
// limit (a point from the far future must not expire everything), and
// forgets stale ids every quarter TTL of data time.
func (x *MKeyIndex) observe(t, limit int64) {
	if t <= x.newest || t > limit {
		return
	}
	x.newest = t
	if x.ttl <= 0 || t < x.nextSweep {
		return
	}
	if x.nextSweep != 0 {
		x.Expire(t - x.ttl)
	}
	x.nextSweep = t + max(x.ttl/4, 1)
}

// Expire forgets the ids last seen before cutoff (Unix seconds). It
// rebuilds the table, shrinking it when most ids went.
func (x *MKeyIndex) Expire(cutoff int64) {
	keep := 0
	for _, s := range x.slots {
		if s.e != nil && int64(s.e.last) >= cutoff {
			keep++
		}
	}
	if keep == x.n {
		return
	}
	size := 64
	for 2*keep > size {
		size *= 2
	}
	x.rebuild(size, cutoff)
}

func (e *mkeyEntry) seen(t uint32) {
	if t > e.last {
		e.last = t
	}
}

func (e *mkeyEntry) same(name []byte, tags []Tag) bool {
	if string(e.name) != string(name) || len(e.tags) != len(tags) {
		return false
	}
	for i := range tags {
		if string(e.tags[i].Key) != string(tags[i].Key) || string(e.tags[i].Value) != string(tags[i].Value) {
			return false
		}
	}
	return true
}

// The definition layout: u16 name length, name, u16 tag count, then per
// tag u16 key length, key, u16 value length, value (little-endian). The
// decoder refuses longer names and tags, so every length fits.
const maxDefPart = 1<<16 - 1

func newEntry(name []byte, tags []Tag, t uint32) *mkeyEntry {
	n := 4 + len(name)
	for _, tg := range tags {
		n += 4 + len(tg.Key) + len(tg.Value)
	}
	def := make([]byte, 0, n)
	def = binary.LittleEndian.AppendUint16(def, uint16(len(name)))
	def = append(def, name...)
	def = binary.LittleEndian.AppendUint16(def, uint16(len(tags)))
	for _, tg := range tags {
		def = binary.LittleEndian.AppendUint16(def, uint16(len(tg.Key)))
		def = append(def, tg.Key...)
		def = binary.LittleEndian.AppendUint16(def, uint16(len(tg.Value)))
		def = append(def, tg.Value...)
	}
	e := &mkeyEntry{last: t}
	if err := e.setDef(def); err != nil {
		panic("fastparse: mkey entry: " + err.Error()) // cannot happen: def was built above
	}
	return e
}

// setDef points the entry at def, checking its layout.
func (e *mkeyEntry) setDef(def []byte) error {
	e.def = def
	field := func(what string) ([]byte, error) {
		if len(def) < 2 {
			return nil, fmt.Errorf("%s length cut off", what)
		}
		l := int(binary.LittleEndian.Uint16(def))
		if len(def)-2 < l {
			return nil, fmt.Errorf("%s of %d bytes overruns the entry", what, l)
		}
		f := def[2 : 2+l]
		def = def[2+l:]
		return f, nil
	}
	var err error
	if e.name, err = field("name"); err != nil {
		return err
	}
	if len(def) < 2 {
		return errors.New("tag count cut off")
	}
	nt := int(binary.LittleEndian.Uint16(def))
	def = def[2:]
	if nt > len(def)/4 {
		return fmt.Errorf("%d tags do not fit in %d bytes", nt, len(def))
	}
	e.tags = make([]Tag, nt)
	for i := range e.tags {
		if e.tags[i].Key, err = field("tag key"); err != nil {
			return err
		}
		if e.tags[i].Value, err = field("tag value"); err != nil {
			return err
		}
	}
	if len(def) != 0 {
		return fmt.Errorf("%d bytes after the last tag", len(def))
	}
	return nil
}

// mkeyRecordSize is the fixed part of an index entry in a checkpoint.
const mkeyRecordSize = 28

// AppendIndex appends the index as a checkpoint payload and returns it
// with the number of entries. Each entry: 16 bytes of MKey.Key, u32 org,
// u32 last seen (Unix seconds), u32 definition length, then the
// definition (u16 name length, name, u16 tag count, per tag u16 length
// and key, u16 length and value), all little-endian.
func (x *MKeyIndex) AppendIndex(b []byte) ([]byte, int) {
	for _, s := range x.slots {
		if s.e == nil {
			continue
		}
		b = binary.LittleEndian.AppendUint64(b, s.key.lo)
		b = binary.LittleEndian.AppendUint64(b, s.key.hi)
		b = binary.LittleEndian.AppendUint32(b, s.key.org)
		b = binary.LittleEndian.AppendUint32(b, s.e.last)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.e.def)))
		b = append(b, s.e.def...)
	}
	return b, x.n
}

// ReadIndex loads count entries written by AppendIndex into x, copying
// them out of data (which may be a mapped file). It checks every entry's
// layout and that names and tags are valid UTF-8 with sorted, unique tag
// keys, so that a damaged file cannot hand the engine a bad series.
func (x *MKeyIndex) ReadIndex(data []byte, count uint64) error {
	for i := uint64(0); i < count; i++ {
		if len(data) < mkeyRecordSize {
			return fmt.Errorf("metrictank id %d of %d: entry cut off", i, count)
		}
		k := keyOf(data, binary.LittleEndian.Uint32(data[16:]))
		last := binary.LittleEndian.Uint32(data[20:])
		l := binary.LittleEndian.Uint32(data[24:])
		data = data[mkeyRecordSize:]
		if uint64(l) > uint64(len(data)) {
			return fmt.Errorf("metrictank id %d: definition of %d bytes overruns the section", i, l)
		}
		e := &mkeyEntry{last: last}
		if err := e.setDef(append([]byte(nil), data[:l]...)); err != nil {
			return fmt.Errorf("metrictank id %d: %w", i, err)
		}
		data = data[l:]
		if err := e.check(); err != nil {
			return fmt.Errorf("metrictank id %d: %w", i, err)
		}
		if x.lookup(k) != nil {
			return fmt.Errorf("metrictank id %d.%x listed twice", k.org, data[:16])
		}
		x.put(k, e)
		x.newest = max(x.newest, int64(last))
	}
	// A checkpoint section pads its payload to 8 bytes with zeros.
	if len(data) >= 8 || strings.Trim(string(data), "\x00") != "" {
		return fmt.Errorf("%d bytes after the last metrictank id", len(data))
	}
	return nil
}

// check verifies what the decoder promises of a series: a non-empty
// UTF-8 name, tags with non-empty UTF-8 keys and values in key order.
func (e *mkeyEntry) check() error {
	if len(e.name) == 0 || !utf8.Valid(e.name) {
		return errors.New("empty or invalid name")
	}
	for i, tg := range e.tags {
		if len(tg.Key) == 0 || len(tg.Value) == 0 || !utf8.Valid(tg.Key) || !utf8.Valid(tg.Value) {
			return fmt.Errorf("tag %d empty or invalid", i)
		}
		if i > 0 && string(e.tags[i-1].Key) >= string(tg.Key) {
			return fmt.Errorf("tag %d out of order", i)
		}
	}
	return nil
}
