package shard

// Point is one value of one series on its way to a shard. It carries no
// hash: the shard hashes only the keys it cannot Guess. Its key is the
// batch's bytes at prefix followed by those at suffix: the points of one
// line share one copy of the line's prefix (tags and measurement), so a
// batch carries about half the bytes it would with whole keys.
type Point struct {
	Time                 int64 // Unix ns
	Value                float64
	prefixOff, prefixLen uint32
	suffixOff, suffixLen uint32
}

// Batch carries points from one parser goroutine to one shard goroutine, so
// that the hand-over costs one channel send per batch rather than per point.
// The keys are copied into the batch because the parser's buffer is reused.
type Batch struct {
	Points []Point
	keys   []byte

	// The prefix of line prefixLine (a caller's line number, never 0)
	// is at keys[prefixOff:prefixOff+prefixLen].
	prefixLine           uint64
	prefixOff, prefixLen uint32
}

// AddLine appends a point whose key is prefix+suffix, where prefix is the
// same for every point of the caller's line number line (not 0): it is
// copied once per line, and each point copies only its suffix.
func (b *Batch) AddLine(line uint64, prefix, suffix []byte, t int64, v float64) {
	if b.prefixLine != line {
		b.prefixLine = line
		b.prefixOff, b.prefixLen = uint32(len(b.keys)), uint32(len(prefix))
		b.keys = append(b.keys, prefix...)
	}
	off := uint32(len(b.keys))
	b.keys = append(b.keys, suffix...)
	b.Points = append(b.Points, Point{Time: t, Value: v, prefixOff: b.prefixOff, prefixLen: b.prefixLen, suffixOff: off, suffixLen: uint32(len(suffix))})
}

// KeyParts returns the key of p, which must belong to b, in its two parts.
func (b *Batch) KeyParts(p *Point) (prefix, suffix []byte) {
	return b.keys[p.prefixOff : p.prefixOff+p.prefixLen : p.prefixOff+p.prefixLen],
		b.keys[p.suffixOff : p.suffixOff+p.suffixLen : p.suffixOff+p.suffixLen]
}

// AppendKey appends the key of p, which must belong to b, to dst.
func (b *Batch) AppendKey(dst []byte, p *Point) []byte {
	prefix, suffix := b.KeyParts(p)
	return append(append(dst, prefix...), suffix...)
}

// Len returns the number of points.
func (b *Batch) Len() int { return len(b.Points) }

// KeyBytes returns the bytes of keys held.
func (b *Batch) KeyBytes() int { return len(b.keys) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.Points = b.Points[:0]
	b.keys = b.keys[:0]
	b.prefixLine = 0
}
