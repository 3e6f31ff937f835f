package shard

// Point is one value of one series on its way to a shard. It carries no
// hash: the shard hashes only the keys it cannot Guess.
type Point struct {
	Time   int64 // Unix ns
	Value  float64
	keyOff uint32
	keyLen uint32
}

// Batch carries points from one parser goroutine to one shard goroutine, so
// that the hand-over costs one channel send per batch rather than per point.
// The keys are copied into the batch because the parser's buffer is reused.
type Batch struct {
	Points []Point
	keys   []byte
}

// Add appends a point.
func (b *Batch) Add(key []byte, t int64, v float64) {
	b.Points = append(b.Points, Point{Time: t, Value: v, keyOff: uint32(len(b.keys)), keyLen: uint32(len(key))})
	b.keys = append(b.keys, key...)
}

// Key returns the key of p, which must belong to b.
func (b *Batch) Key(p *Point) []byte {
	return b.keys[p.keyOff : p.keyOff+p.keyLen : p.keyOff+p.keyLen]
}

// Len returns the number of points.
func (b *Batch) Len() int { return len(b.Points) }

// KeyBytes returns the bytes of keys held.
func (b *Batch) KeyBytes() int { return len(b.keys) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.Points = b.Points[:0]
	b.keys = b.keys[:0]
}
