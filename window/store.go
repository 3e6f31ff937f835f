package window

import (
	"math"
	"time"

	"github.com/rollupd/rollup/shard"
)

// Emitter receives closed windows. archive indexes Config.Archives (0 is the
// finest); start is the window start in Unix seconds. a is valid only during
// the call.
type Emitter interface {
	Emit(series uint32, archive int, start int64, a *Agg)
}

type aggPage = [shard.PageSize]Agg

// fineWindow is one open window of the finest archive: a record per series,
// allocated a page at a time as series in that page get points.
type fineWindow struct {
	start int64 // Unix ns
	aggs  shard.Paged[Agg]
}

// coarseArchive keeps one open window per series; every series shares the
// same window start because windows close in order for all series at once.
type coarseArchive struct {
	step   int64 // ns
	start  int64 // Unix ns of the open window
	active bool
	aggs   shard.Paged[Agg]
}

// Store holds the window state of one shard.
type Store struct {
	cfg      *Config
	fineStep int64         // ns
	open     []*fineWindow // sorted by start
	cur      *fineWindow   // last window written, the usual target
	coarse   []coarseArchive
	closed   int64 // every window ending at or before this has closed
	pool     []*aggPage
	spare    []*fineWindow

	// idle counts, per series, 1 + the expiry sweeps that passed since it
	// last had data (0: no series). One byte per series: a sweep runs every
	// SeriesTTL/expirySweeps of watermark time, so a series is deleted
	// after being idle for between SeriesTTL and 1.25 SeriesTTL.
	idle       shard.Paged[uint8]
	sweepEvery int64 // ns of watermark time between sweeps; 0 = no expiry
	nextSweep  int64
}

// expirySweeps is the number of sweeps a series must stay idle to expire.
const expirySweeps = 4

// NewStore returns an empty store; cfg must be validated.
func NewStore(cfg *Config) *Store {
	s := &Store{cfg: cfg, fineStep: cfg.FineStep(), closed: math.MinInt64}
	for _, a := range cfg.Archives[1:] {
		s.coarse = append(s.coarse, coarseArchive{step: a.Step * int64(time.Second)})
	}
	if cfg.SeriesTTL > 0 {
		s.sweepEvery = max(int64(cfg.SeriesTTL)/expirySweeps, 1)
		s.nextSweep = math.MinInt64
	}
	return s
}

// Add folds a point of series idx at t (Unix ns) into its fine window. It
// returns false, changing nothing, if that window has already closed: this
// happens only when the watermark was advanced past the point's own stream
// (e.g. by idle-stream advancement), and the caller counts it.
func (s *Store) Add(idx uint32, t int64, v float64) bool {
	w := s.cur
	// Unsigned: one comparison tests start <= t < start+step, and most
	// points fall into the window the previous point used.
	if w == nil || uint64(t-w.start) >= uint64(s.fineStep) {
		start := WindowStart(t, s.fineStep)
		if start+s.fineStep <= s.closed {
			return false
		}
		w = s.window(start)
		s.cur = w
	}
	w.aggs.AtPooled(idx, &s.pool).Add(t, v)
	return true
}

// window returns the open fine window starting at start, opening it if needed.
func (s *Store) window(start int64) *fineWindow {
	i := 0
	for i < len(s.open) && s.open[i].start < start {
		i++
	}
	if i < len(s.open) && s.open[i].start == start {
		return s.open[i]
	}
	var w *fineWindow
	if n := len(s.spare); n > 0 {
		w = s.spare[n-1]
		s.spare = s.spare[:n-1]
	} else {
		w = new(fineWindow)
	}
	w.start = start
	s.open = append(s.open, nil)
	copy(s.open[i+1:], s.open[i:])
	s.open[i] = w
	return w
}

// SeriesAdded tells the store a new series took index idx, so it expires
// even if it never gets data into a window.
func (s *Store) SeriesAdded(idx uint32) {
	if s.sweepEvery > 0 {
		*s.idle.At(idx) = 1
	}
}

// Advance closes every window that ends at or before watermark wm (Unix ns),
// emitting them in time order, and then expires idle series through del.
// del may be nil.
func (s *Store) Advance(wm int64, e Emitter, del func(idx uint32)) {
	if wm <= s.closed {
		return
	}
	s.closed = wm
	for len(s.open) > 0 && s.open[0].start+s.fineStep <= wm {
		s.closeFine(e)
	}
	for i := range s.coarse {
		c := &s.coarse[i]
		if c.active && c.start+c.step <= wm {
			s.closeCoarse(i, e)
		}
	}
	if del != nil && s.sweepEvery > 0 && wm >= s.nextSweep {
		if s.nextSweep != math.MinInt64 {
			s.expire(del)
		}
		s.nextSweep = math.MaxInt64
		if wm <= math.MaxInt64-s.sweepEvery {
			s.nextSweep = wm + s.sweepEvery
		}
	}
}

// Flush closes every open window, as at the end of an offline input.
func (s *Store) Flush(e Emitter) {
	for len(s.open) > 0 {
		s.closeFine(e)
	}
	for i := range s.coarse {
		if s.coarse[i].active {
			s.closeCoarse(i, e)
		}
	}
	s.closed = math.MaxInt64
}

// closeFine closes the oldest open fine window.
func (s *Store) closeFine(e Emitter) {
	w := s.open[0]
	// Shift rather than reslice so the slice's capacity is reused and
	// steady-state closing never allocates.
	s.open = s.open[:copy(s.open, s.open[1:])]
	if s.cur == w {
		s.cur = nil
	}
	for i := range s.coarse {
		c := &s.coarse[i]
		cs := WindowStart(w.start, c.step)
		if c.active && c.start != cs {
			s.closeCoarse(i, e)
		}
		c.start, c.active = cs, true
	}
	startSec := w.start / int64(time.Second)
	for base, pg := range w.aggs.Pages() {
		for j := range pg {
			a := &pg[j]
			if a.Count == 0 {
				continue
			}
			idx := base + uint32(j)
			e.Emit(idx, 0, startSec, a)
			for k := range s.coarse {
				s.coarse[k].aggs.At(idx).Merge(a)
			}
			if s.sweepEvery > 0 {
				*s.idle.At(idx) = 1
			}
		}
		*pg = aggPage{}
	}
	// Hand the zeroed pages to the next window that needs them.
	s.pool = w.aggs.Release(s.pool)
	s.spare = append(s.spare, w)
}

func (s *Store) closeCoarse(i int, e Emitter) {
	c := &s.coarse[i]
	startSec := c.start / int64(time.Second)
	for base, pg := range c.aggs.Pages() {
		for j := range pg {
			a := &pg[j]
			if a.Count == 0 {
				continue
			}
			e.Emit(base+uint32(j), i+1, startSec, a)
			*a = Agg{}
		}
	}
	c.active = false
}

// expire ages every series by one sweep and deletes those idle for more
// than expirySweeps sweeps whose state is all empty.
func (s *Store) expire(del func(uint32)) {
	for base, pg := range s.idle.Pages() {
		for j, v := range pg {
			if v == 0 {
				continue
			}
			if v < 255 {
				v++
				pg[j] = v
			}
			idx := base + uint32(j)
			if v-1 > expirySweeps && !s.hasData(idx) {
				pg[j] = 0
				del(idx)
			}
		}
	}
}

func (s *Store) hasData(idx uint32) bool {
	for _, w := range s.open {
		if a := w.aggs.Get(idx); a != nil && a.Count > 0 {
			return true
		}
	}
	for i := range s.coarse {
		if a := s.coarse[i].aggs.Get(idx); a != nil && a.Count > 0 {
			return true
		}
	}
	return false
}

// OpenWindows returns the number of open fine windows.
func (s *Store) OpenWindows() int { return len(s.open) }

// MemoryBytes estimates the bytes of window state held.
func (s *Store) MemoryBytes() int {
	const aggPageBytes = shard.PageSize * 64
	n := len(s.pool) * aggPageBytes
	for _, w := range s.open {
		n += w.aggs.AllocatedPages() * aggPageBytes
	}
	for i := range s.coarse {
		n += s.coarse[i].aggs.AllocatedPages() * aggPageBytes
	}
	n += s.idle.AllocatedPages() * shard.PageSize
	return n
}
