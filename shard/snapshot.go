package shard

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
)

// All yields every live series with its key, in index order. The key is
// valid until the table is next mutated.
func (t *Table) All() iter.Seq2[uint32, []byte] {
	return func(yield func(uint32, []byte) bool) {
		for base, pg := range t.refs.Pages() {
			for j, r := range pg {
				if r == 0 {
					continue
				}
				c, off, n := r>>36, (r>>16)&(1<<20-1), r&0xffff
				if !yield(base+uint32(j), t.arena[c][off:off+n:off+n]) {
					return
				}
			}
		}
	}
}

// SeriesRecordSize is the size of one record of a series section.
const SeriesRecordSize = 8

// AppendSeries appends the table's series section payload to recs and
// keys: for every live series, in index order, an 8-byte record (index
// uint32, key length uint32, little-endian) to recs and its key to keys.
// The section is recs followed by keys. It returns both and the number of
// series. Indexes are written so that other per-series state (window
// pages) can refer to series by the index it had here.
func (t *Table) AppendSeries(recs, keys []byte) ([]byte, []byte, int) {
	recs = slices.Grow(recs, t.n*SeriesRecordSize)
	keys = slices.Grow(keys, t.liveBytes)
	n := 0
	for idx, key := range t.All() {
		recs = binary.LittleEndian.AppendUint32(recs, idx)
		recs = binary.LittleEndian.AppendUint32(recs, uint32(len(key)))
		keys = append(keys, key...)
		n++
	}
	return recs, keys, n
}

// ReadSeries walks a series section payload of n series (see
// AppendSeries; the keys may be followed by padding), calling fn with each
// series' index and key (aliasing data). It checks every length, so a
// damaged section is an error, never a panic; whoever keeps a key checks
// it with ValidKey (a restore onto many shards keeps each key in one).
func ReadSeries(data []byte, n uint64, fn func(idx uint32, key []byte) error) error {
	if n > uint64(len(data))/SeriesRecordSize {
		return fmt.Errorf("series section: %d series do not fit in %d bytes", n, len(data))
	}
	recs, keys := data[:n*SeriesRecordSize], data[n*SeriesRecordSize:]
	off := 0
	for i := uint64(0); i < n; i++ {
		r := recs[i*SeriesRecordSize:]
		idx := binary.LittleEndian.Uint32(r)
		kl := int(binary.LittleEndian.Uint32(r[4:]))
		if kl > MaxKeyLen || kl > len(keys)-off {
			return fmt.Errorf("series section: series %d: key of %d bytes at key byte %d overruns the section", i, kl, off)
		}
		key := keys[off : off+kl : off+kl]
		off += kl
		if err := fn(idx, key); err != nil {
			return err
		}
	}
	if pad := len(keys) - off; pad >= 8 {
		return fmt.Errorf("series section: %d bytes after the last key", pad)
	}
	return nil
}

// ValidKey reports whether key is in the canonical layout (see key.go).
func ValidKey(key []byte) bool {
	var tags [8]Tag
	_, _, ok := SplitKey(key, tags[:0])
	return ok
}
