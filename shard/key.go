package shard

import "github.com/cespare/xxhash/v2"

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
//	key, hash := b.Key(fieldName) // once per field
type KeyBuilder struct {
	buf       []byte
	prefixLen int
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
	b.buf = append(b.buf, metricSep)
	for _, p := range parts {
		b.buf = append(b.buf, p...)
	}
	b.prefixLen = len(b.buf)
}

// Suffix completes the key with suffix and returns it without hashing it.
// The key is VALID ONLY UNTIL THE NEXT CALL to any KeyBuilder method.
func (b *KeyBuilder) Suffix(suffix []byte) []byte {
	b.buf = append(b.buf[:b.prefixLen], suffix...)
	return b.buf
}

// Key completes the key with suffix (for line protocol: the field key) and
// returns it with its hash. The key is VALID ONLY UNTIL THE NEXT CALL to any
// KeyBuilder method.
func (b *KeyBuilder) Key(suffix []byte) ([]byte, uint64) {
	key := b.Suffix(suffix)
	return key, xxhash.Sum64(key)
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
	// One pass over the bytes: tag parts are short, so a plain loop beats
	// a call to bytes.IndexByte per part.
	start, k := 0, -1
	for i := 0; i < len(key); i++ {
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
	}
	return nil, tags, false
}
