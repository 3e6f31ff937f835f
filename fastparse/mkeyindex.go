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
	ttl       int64       // seconds; <= 0: never forget
	seed      [3]uint64   // random: a producer cannot choose colliding ids
	slots     []mkeyEntry // power-of-two length, at most half full
	n         int
	newest    int64 // newest time seen, Unix seconds
	nextSweep int64
	refused   uint64
}

// mkeyEntry is one id and its series, held in the table itself so that a
// point's lookup touches one slot (72 bytes) and nothing else; name and
// tags share one allocation. A slot with a nil name is empty.
type mkeyEntry struct {
	lo, hi    uint64 // the key (idKey)
	org, last uint32 // last: newest point time seen, Unix seconds
	name      []byte
	tags      []Tag
}

func (e *mkeyEntry) key() idKey { return idKey{e.lo, e.hi, e.org} }

// NewMKeyIndex returns an empty index holding at most maxIDs ids (0: no
// bound) and forgetting ids not seen for ttlSeconds (<= 0: never).
func NewMKeyIndex(maxIDs int, ttlSeconds int64) *MKeyIndex {
	x := &MKeyIndex{maxIDs: maxIDs, ttl: ttlSeconds, slots: make([]mkeyEntry, 64)}
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
func (x *MKeyIndex) slot(k idKey) *mkeyEntry {
	mask := uint64(len(x.slots) - 1)
	i := x.hash(k) & mask
	for {
		s := &x.slots[i]
		if s.name == nil || s.lo == k.lo && s.hi == k.hi && s.org == k.org {
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

// lookup returns k's entry, or nil. The pointer is good until the next
// learn or Expire.
func (x *MKeyIndex) lookup(k idKey) *mkeyEntry {
	if s := x.slot(k); s.name != nil {
		return s
	}
	return nil
}

// put stores k's series (name, tags) seen at last, and returns its slot.
func (x *MKeyIndex) put(k idKey, name []byte, tags []Tag, last uint32) *mkeyEntry {
	s := x.slot(k)
	if s.name == nil {
		if 2*(x.n+1) > len(x.slots) {
			x.rebuild(2*len(x.slots), 0)
			s = x.slot(k)
		}
		x.n++
	}
	*s = mkeyEntry{lo: k.lo, hi: k.hi, org: k.org, last: last, name: name, tags: tags}
	return s
}

// rebuild moves the entries last seen at or after keepFrom into a table
// of size slots (a power of two).
func (x *MKeyIndex) rebuild(size int, keepFrom int64) {
	old := x.slots
	x.slots, x.n = make([]mkeyEntry, size), 0
	for i := range old {
		if s := &old[i]; s.name != nil && int64(s.last) >= keepFrom {
			*x.slot(s.key()) = *s
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
	last := t
	if e != nil {
		last = max(last, e.last)
	}
	name, tags = copyDef(name, tags)
	return x.put(k, name, tags, last)
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
	for i := range x.slots {
		if s := &x.slots[i]; s.name != nil && int64(s.last) >= cutoff {
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

// The definition layout of a checkpoint entry: u16 name length, name, u16
// tag count, then per tag u16 key length, key, u16 value length, value
// (little-endian). The decoder refuses longer names and tags, so every
// length fits.
const maxDefPart = 1<<16 - 1

// appendDef appends the definition of name and tags.
func appendDef(b, name []byte, tags []Tag) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tags)))
	for _, tg := range tags {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(tg.Key)))
		b = append(b, tg.Key...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(tg.Value)))
		b = append(b, tg.Value...)
	}
	return b
}

// copyDef copies name and tags into memory of their own: one allocation
// for the bytes, one for the tags.
func copyDef(name []byte, tags []Tag) ([]byte, []Tag) {
	n := len(name)
	for _, tg := range tags {
		n += len(tg.Key) + len(tg.Value)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, name...)
	name = buf[:len(name):len(name)]
	out := make([]Tag, len(tags))
	for i, tg := range tags {
		at := len(buf)
		buf = append(append(buf, tg.Key...), tg.Value...)
		out[i] = Tag{Key: buf[at : at+len(tg.Key) : at+len(tg.Key)], Value: buf[at+len(tg.Key) : len(buf) : len(buf)]}
	}
	return name, out
}

// parseDef reads a definition (see appendDef); name and tags alias def.
func parseDef(def []byte) (name []byte, tags []Tag, err error) {
	field := func(what string) ([]byte, error) {
		if len(def) < 2 {
			return nil, fmt.Errorf("%s length cut off", what)
		}
		l := int(binary.LittleEndian.Uint16(def))
		if len(def)-2 < l {
			return nil, fmt.Errorf("%s of %d bytes overruns the entry", what, l)
		}
		f := def[2 : 2+l : 2+l]
		def = def[2+l:]
		return f, nil
	}
	if name, err = field("name"); err != nil {
		return nil, nil, err
	}
	if len(def) < 2 {
		return nil, nil, errors.New("tag count cut off")
	}
	nt := int(binary.LittleEndian.Uint16(def))
	def = def[2:]
	if nt > len(def)/4 {
		return nil, nil, fmt.Errorf("%d tags do not fit in %d bytes", nt, len(def))
	}
	tags = make([]Tag, nt)
	for i := range tags {
		if tags[i].Key, err = field("tag key"); err != nil {
			return nil, nil, err
		}
		if tags[i].Value, err = field("tag value"); err != nil {
			return nil, nil, err
		}
	}
	if len(def) != 0 {
		return nil, nil, fmt.Errorf("%d bytes after the last tag", len(def))
	}
	return name, tags, nil
}

// mkeyRecordSize is the fixed part of an index entry in a checkpoint.
const mkeyRecordSize = 28

// AppendIndex appends the index as a checkpoint payload and returns it
// with the number of entries. Each entry: 16 bytes of MKey.Key, u32 org,
// u32 last seen (Unix seconds), u32 definition length, then the
// definition (u16 name length, name, u16 tag count, per tag u16 length
// and key, u16 length and value), all little-endian.
func (x *MKeyIndex) AppendIndex(b []byte) ([]byte, int) {
	for i := range x.slots {
		s := &x.slots[i]
		if s.name == nil {
			continue
		}
		b = binary.LittleEndian.AppendUint64(b, s.lo)
		b = binary.LittleEndian.AppendUint64(b, s.hi)
		b = binary.LittleEndian.AppendUint32(b, s.org)
		b = binary.LittleEndian.AppendUint32(b, s.last)
		at := len(b)
		b = appendDef(append(b, 0, 0, 0, 0), s.name, s.tags)
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
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
		name, tags, err := parseDef(append([]byte(nil), data[:l]...))
		if err != nil {
			return fmt.Errorf("metrictank id %d: %w", i, err)
		}
		data = data[l:]
		e := mkeyEntry{name: name, tags: tags}
		if err := e.check(); err != nil {
			return fmt.Errorf("metrictank id %d: %w", i, err)
		}
		if x.lookup(k) != nil {
			return fmt.Errorf("metrictank id %d (org %d) listed twice", i, k.org)
		}
		x.put(k, name, tags, last)
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
