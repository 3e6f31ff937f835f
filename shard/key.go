package shard

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Canonical key layout. Every tag contributes key 0x00 value 0x00, in
// ascending key order; then 0x01 and the metric name. Tag keys, tag values and
// metric names never contain bytes below 0x20 (decoders reject control bytes,
// as line-protocol v2 does), so the layout is unambiguous. The tags come first
// so the tag part of a line is written once and only the metric suffix
// changes from field to field (see KeyBuilder).
const (
	tagSep    = 0x00
	metricSep = 0x01
)

// Hash is the series hash: xxhash64 of the canonical key.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// Tag is one decoded tag of a canonical key.
type Tag struct{ Key, Value []byte }

// KeyBuilder builds canonical keys for the points of one input line. Tags must
// be added in ascending key order without duplicates (decoders sort them).
//
//	b.Begin()
//	b.AddTag(k, v) ...
//	b.SetMetricPrefix(measurement, "_")
//	prefix, route := b.Prefix(), b.Route(fieldName) // once per field: the key is prefix+fieldName
type KeyBuilder struct {
	buf       []byte
	tagsLen   int // bytes of the tag part
	prefixLen int // bytes before the suffix

	// For Route, computed on its first call for a line: xxhash64 of the
	// tag part, and the metric prefix's first and last eight bytes (a
	// shorter prefix: all of it, at the low and at the high end), little
	// endian.
	tagsRoute              uint64
	metricHead, metricTail uint64
	routeOK                bool
}

// Begin starts a new key.
func (b *KeyBuilder) Begin() { b.buf = b.buf[:0] }

// AddTag appends one tag.
func (b *KeyBuilder) AddTag(key, value []byte) {
	b.buf = append(b.buf, key...)
	b.buf = append(b.buf, tagSep)
	b.buf = append(b.buf, value...)
	b.buf = append(b.buf, tagSep)
}

// SetMetricPrefix ends the tag part and appends the first part of the metric
// name (for line protocol: measurement + separator). It must follow the tags.
func (b *KeyBuilder) SetMetricPrefix(parts ...[]byte) {
	b.tagsLen = len(b.buf)
	b.routeOK = false
	b.buf = append(b.buf, metricSep)
	for _, p := range parts {
		b.buf = append(b.buf, p...)
	}
	b.prefixLen = len(b.buf)
}

// Prefix returns the key without its suffix: the tags and the metric
// prefix, shared by the keys of a line (see Batch.AddLine). It is valid
// until the next Begin.
func (b *KeyBuilder) Prefix() []byte { return b.buf[:b.prefixLen:b.prefixLen] }

// HasTags reports whether the key has a tag part.
func (b *KeyBuilder) HasTags() bool { return b.tagsLen > 0 }

// RouteTags returns the route hash (see RouteHashTags) of the key
// Prefix+suffix: the tag part's hash, once per line, when the key has
// tags, so that a line's points all go to one shard; else Route's.
func (b *KeyBuilder) RouteTags(suffix []byte) uint64 {
	if b.tagsLen == 0 {
		return b.Route(suffix)
	}
	if !b.routeOK {
		b.Route(suffix) // computes tagsRoute for the line
	}
	return b.tagsRoute
}

// Route returns the route hash (see RouteHash) of the key Prefix+suffix,
// for picking its shard, without building the key. The tag part is hashed
// once per line, and the metric's first and last eight bytes are put
// together from the metric prefix and suffix.
func (b *KeyBuilder) Route(suffix []byte) uint64 {
	if !b.routeOK {
		b.tagsRoute = xxhash.Sum64(b.buf[:b.tagsLen])
		prefix := b.buf[b.tagsLen+1 : b.prefixLen]
		b.metricHead = loadPrefix(prefix)
		if n := len(prefix); n >= 8 {
			b.metricTail = binary.LittleEndian.Uint64(prefix[n-8:])
		} else {
			b.metricTail = b.metricHead << (8 * (8 - n)) // n == 0: shifted out
		}
		b.routeOK = true
	}
	mp, ls := b.prefixLen-b.tagsLen-1, len(suffix)
	head, tail := b.metricHead, uint64(0)
	first := loadPrefix(suffix)
	if mp < 8 {
		head |= first << (8 * mp)
	}
	switch {
	case mp+ls < 8: // no tail
	case ls >= 8:
		tail = binary.LittleEndian.Uint64(suffix[ls-8:])
	default:
		// The suffix's bytes on top, the prefix's last below them; the
		// prefix has enough, as the metric has eight. ls == 0 shifts
		// the suffix out.
		tail = b.metricTail>>(8*ls) | first<<(8*(8-ls))
	}
	return mixRoute(b.tagsRoute, head, tail, mp+ls)
}

// loadPrefix returns the first eight bytes of p, or all of p if shorter,
// as a little-endian number.
func loadPrefix(p []byte) uint64 {
	if len(p) >= 8 {
		return binary.LittleEndian.Uint64(p)
	}
	if cap(p) >= 8 {
		// A short field name is usually followed by the rest of its
		// line in the same array: one load, masked to len(p) bytes,
		// instead of a loop of len(p) steps.
		return binary.LittleEndian.Uint64(p[:8]) & (1<<(8*len(p)) - 1)
	}
	var v uint64
	for i, c := range p {
		v |= uint64(c) << (8 * i)
	}
	return v
}

// RouteHash picks the shard of a canonical key. It must be a function of
// the key bytes alone, so that one series always lands in one shard however
// its line was written; it need not be a good table hash (tables use Hash,
// computed by the shard only for keys it cannot Guess). So it is cheap:
// xxhash64 of the tag part, which a parser computes once per line, mixed
// with the metric's length and its first and last 8 bytes, which differ
// between the fields of a line and between metrics that share a prefix
// ("app.requests.GET.count", "app.requests.PUT.count").
func RouteHash(key []byte) uint64 {
	i := bytes.IndexByte(key, metricSep)
	if i < 0 {
		return routeMetric(xxhash.Sum64(nil), key)
	}
	return routeMetric(xxhash.Sum64(key[:i]), key[i+1:])
}

// RouteHashTags is RouteHash by tag set: the xxhash64 of the tag part
// alone for a key with tags, RouteHash for one without. Every series of
// one tag set (the fields of a line, and other measurements with the same
// tags) goes to one shard, which saves routing each point and copying a
// line's key prefix into several batches, but spreads series only as
// well as their tag sets do. Like RouteHash, it is a function of the key
// bytes alone.
func RouteHashTags(key []byte) uint64 {
	if i := bytes.IndexByte(key, metricSep); i > 0 {
		return xxhash.Sum64(key[:i])
	}
	return RouteHash(key)
}

func routeMetric(tags uint64, metric []byte) uint64 {
	var tail uint64
	if n := len(metric); n >= 8 {
		tail = binary.LittleEndian.Uint64(metric[n-8:])
	}
	return mixRoute(tags, loadPrefix(metric), tail, len(metric))
}

// mixRoute combines the tag part's hash with the metric's first and last
// eight bytes (head; tail is 0 for a metric shorter than eight) and its
// length.
func mixRoute(tags, head, tail uint64, n int) uint64 {
	// One multiply-xorshift round is enough here: tags is already a good
	// hash, and ShardOf needs only a well-spread low half.
	h := tags ^ head*0x9e3779b97f4a7c15 ^ (tail+uint64(n))*0xc2b2ae3d27d4eb4f
	h ^= h >> 32
	h *= 0xff51afd7ed558ccd
	return h ^ h>>29
}

// AppendKey appends a canonical key built from a metric and tags sorted by
// key. It is the slow, obvious form of KeyBuilder, for tests and tools.
func AppendKey(dst []byte, metric []byte, tags []Tag) []byte {
	for _, t := range tags {
		dst = append(dst, t.Key...)
		dst = append(dst, tagSep)
		dst = append(dst, t.Value...)
		dst = append(dst, tagSep)
	}
	dst = append(dst, metricSep)
	return append(dst, metric...)
}

// SplitKey decodes a canonical key: it returns the metric and appends the
// tags to tags. The returned slices alias key. ok is false if key is not in
// the canonical layout.
func SplitKey(key []byte, tags []Tag) (metric []byte, out []Tag, ok bool) {
	// Separators are found eight bytes at a time: a key is mostly the
	// text between them.
	start, k := 0, -1
	for i := 0; i < len(key); {
		if i+8 <= len(key) {
			m := separators(binary.LittleEndian.Uint64(key[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch key[i] {
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
		i++
	}
	return nil, tags, false
}

// separators returns the high bit of every byte of w (little endian) that
// is tagSep or metricSep (0x00 or 0x01). Exact per byte: no sum carries
// into the next byte.
func separators(w uint64) uint64 {
	const low7, high = 0x7F7F7F7F7F7F7F7F, 0x8080808080808080
	y := w &^ 0x0101010101010101 // 0x01 -> 0x00
	return ^(((y & low7) + low7) | y) & high
}
