package window

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rollupd/rollup/shard"
)

// Checkpoint payloads of a Store (the framing is package ckpt's; the
// layouts are tabled in ckpt/doc.go). All little-endian.
//
//	store header:  closed int64, next expiry sweep int64
//	idle pages:    per page: first index uint32, 0 uint32, 1024 ages (uint8)
//	window:        archive uint32, 0 uint32, start int64 (Unix ns), then
//	               per page: first index uint32, 0 uint32, 1024 Agg records
//	Agg record:    Sum f64, Count u64, Min f64, Max f64, First f64,
//	               FirstTime i64, Last f64, LastTime i64 (64 bytes)
//
// Pages are written whole, as they are in memory, so taking a snapshot is
// a copy and its size matches the memory it describes.
const (
	StoreHeaderSize = 16
	AggSize         = 64
	windowHeader    = 16
	pageHeader      = 8
	idlePageSize    = pageHeader + shard.PageSize
	aggPageSize     = pageHeader + shard.PageSize*AggSize
)

// AppendHeader appends the store header payload.
func (s *Store) AppendHeader(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(s.closed))
	return binary.LittleEndian.AppendUint64(dst, uint64(s.nextSweep))
}

// AppendIdle appends the idle-age pages payload and returns the page count.
func (s *Store) AppendIdle(dst []byte) ([]byte, int) {
	dst = slices.Grow(dst, s.idle.AllocatedPages()*idlePageSize)
	n := 0
	for base, pg := range s.idle.Pages() {
		dst = binary.LittleEndian.AppendUint32(dst, base)
		dst = binary.LittleEndian.AppendUint32(dst, 0)
		dst = append(dst, pg[:]...)
		n++
	}
	return dst, n
}

// AppendWindows calls fn with the payload and page count of every open
// window: the finest archive's, then each coarse archive's. buf supplies
// the payload buffers (one per window, reused when the caller passes them
// back), so a snapshot taken every interval does not reallocate.
func (s *Store) AppendWindows(bufs [][]byte, fn func(payload []byte, pages int)) [][]byte {
	out := bufs[:0]
	next := func() []byte {
		if len(out) < len(bufs) {
			return bufs[len(out)][:0]
		}
		return nil
	}
	for _, w := range s.open {
		b, n := appendWindow(next(), 0, w.start, &w.aggs)
		out = append(out, b)
		fn(b, n)
	}
	for i := range s.coarse {
		c := &s.coarse[i]
		if !c.active {
			continue
		}
		b, n := appendWindow(next(), i+1, c.start, &c.aggs)
		out = append(out, b)
		fn(b, n)
	}
	return out
}

func appendWindow(dst []byte, archive int, start int64, aggs *shard.Paged[Agg]) ([]byte, int) {
	// One allocation of the exact size: a window of a million series
	// is 64 MB, too much to grow by doubling.
	dst = slices.Grow(dst, windowHeader+aggs.AllocatedPages()*aggPageSize)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(archive))
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(start))
	n := 0
	for base, pg := range aggs.Pages() {
		dst = binary.LittleEndian.AppendUint32(dst, base)
		dst = binary.LittleEndian.AppendUint32(dst, 0)
		off := len(dst)
		dst = dst[:off+shard.PageSize*AggSize]
		b := dst[off:]
		for j := range pg {
			a := &pg[j]
			r := b[j*AggSize : j*AggSize+AggSize]
			binary.LittleEndian.PutUint64(r[0:], math.Float64bits(a.Sum))
			binary.LittleEndian.PutUint64(r[8:], a.Count)
			binary.LittleEndian.PutUint64(r[16:], math.Float64bits(a.Min))
			binary.LittleEndian.PutUint64(r[24:], math.Float64bits(a.Max))
			binary.LittleEndian.PutUint64(r[32:], math.Float64bits(a.First))
			binary.LittleEndian.PutUint64(r[40:], uint64(a.FirstTime))
			binary.LittleEndian.PutUint64(r[48:], math.Float64bits(a.Last))
			binary.LittleEndian.PutUint64(r[56:], uint64(a.LastTime))
		}
		n++
	}
	return dst, n
}

// ReadHeader decodes a store header payload.
func ReadHeader(data []byte) (closed, nextSweep int64, err error) {
	if len(data) != StoreHeaderSize {
		return 0, 0, fmt.Errorf("store header: %d bytes, want %d", len(data), StoreHeaderSize)
	}
	return int64(binary.LittleEndian.Uint64(data)), int64(binary.LittleEndian.Uint64(data[8:])), nil
}

// ReadIdle calls fn for every series with a non-zero idle age in an idle
// pages payload of pages pages.
func ReadIdle(data []byte, pages uint64, fn func(idx uint32, age uint8) error) error {
	if pages > uint64(len(data))/idlePageSize || len(data)-int(pages)*idlePageSize >= 8 {
		return fmt.Errorf("idle section: %d pages in %d bytes", pages, len(data))
	}
	for p := uint64(0); p < pages; p++ {
		pg := data[p*idlePageSize:]
		base := binary.LittleEndian.Uint32(pg)
		if base%shard.PageSize != 0 {
			return fmt.Errorf("idle section: page %d starts at index %d, not a page boundary", p, base)
		}
		for j, age := range pg[pageHeader:idlePageSize] {
			if age != 0 {
				if err := fn(base+uint32(j), age); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ReadWindow decodes a window payload of pages pages: it calls fn for
// every non-empty aggregate with the window's archive and start (Unix ns).
func ReadWindow(data []byte, pages uint64, fn func(archive int, start int64, idx uint32, a *Agg) error) error {
	if len(data) < windowHeader || pages > uint64(len(data)-windowHeader)/aggPageSize ||
		len(data)-windowHeader-int(pages)*aggPageSize >= 8 {
		return fmt.Errorf("window section: %d pages in %d bytes", pages, len(data))
	}
	archive := int(binary.LittleEndian.Uint32(data))
	start := int64(binary.LittleEndian.Uint64(data[8:]))
	var a Agg
	for p := uint64(0); p < pages; p++ {
		pg := data[windowHeader+p*aggPageSize:]
		base := binary.LittleEndian.Uint32(pg)
		if base%shard.PageSize != 0 {
			return fmt.Errorf("window section: page %d starts at index %d, not a page boundary", p, base)
		}
		recs := pg[pageHeader:aggPageSize]
		for j := 0; j < shard.PageSize; j++ {
			r := recs[j*AggSize : j*AggSize+AggSize]
			a.Count = binary.LittleEndian.Uint64(r[8:])
			if a.Count == 0 {
				continue
			}
			a.Sum = math.Float64frombits(binary.LittleEndian.Uint64(r[0:]))
			a.Min = math.Float64frombits(binary.LittleEndian.Uint64(r[16:]))
			a.Max = math.Float64frombits(binary.LittleEndian.Uint64(r[24:]))
			a.First = math.Float64frombits(binary.LittleEndian.Uint64(r[32:]))
			a.FirstTime = int64(binary.LittleEndian.Uint64(r[40:]))
			a.Last = math.Float64frombits(binary.LittleEndian.Uint64(r[48:]))
			a.LastTime = int64(binary.LittleEndian.Uint64(r[56:]))
			if err := fn(archive, start, base+uint32(j), &a); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore sets the store's closing state from a checkpoint, before any
// point is added. Every shard of one checkpoint has the same closed time;
// nextSweep may differ by shard, and the earliest is kept.
func (s *Store) Restore(closed, nextSweep int64) {
	s.closed = max(s.closed, closed)
	if s.sweepEvery > 0 {
		if s.nextSweep == math.MinInt64 {
			s.nextSweep = nextSweep
		} else {
			s.nextSweep = min(s.nextSweep, nextSweep)
		}
	}
}

// SetIdle restores the idle age of series idx.
func (s *Store) SetIdle(idx uint32, age uint8) {
	if s.sweepEvery > 0 {
		*s.idle.At(idx) = age
	}
}

// RestoreAgg puts a checkpointed aggregate of series idx into the open
// window of archive starting at start (Unix ns). It checks what a damaged
// or mismatched checkpoint could get wrong: the archive exists, the start
// is aligned to its step and not closed, a coarse archive has one open
// window, and the aggregate's times lie inside the window.
func (s *Store) RestoreAgg(archive int, start int64, idx uint32, a *Agg) error {
	if archive < 0 || archive > len(s.coarse) {
		return fmt.Errorf("window of archive %d: only %d archives configured", archive, len(s.coarse)+1)
	}
	step := s.fineStep
	if archive > 0 {
		step = s.coarse[archive-1].step
	}
	if WindowStart(start, step) != start {
		return fmt.Errorf("window start %s is not aligned to archive step %s", time.Unix(0, start).UTC().Format(time.RFC3339), time.Duration(step))
	}
	if start+step <= s.closed {
		return fmt.Errorf("window %s of archive %d is open in the checkpoint but ends before its watermark", time.Unix(0, start).UTC().Format(time.RFC3339), archive)
	}
	if a.FirstTime < start || a.LastTime < a.FirstTime || a.LastTime >= start+step {
		return fmt.Errorf("aggregate of series %d in window %s has times outside the window", idx, time.Unix(0, start).UTC().Format(time.RFC3339))
	}
	if archive == 0 {
		w := s.window(start)
		*w.aggs.AtPooled(idx, &s.pool) = *a
		return nil
	}
	c := &s.coarse[archive-1]
	if c.active && c.start != start {
		return fmt.Errorf("archive %d has two open windows in the checkpoint (%s and %s)", archive,
			time.Unix(0, c.start).UTC().Format(time.RFC3339), time.Unix(0, start).UTC().Format(time.RFC3339))
	}
	c.start, c.active = start, true
	*c.aggs.At(idx) = *a
	return nil
}
