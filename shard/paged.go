package shard

import "iter"

// PageBits sets the page size of Paged arrays: 1024 records per page. Pages
// keep per-series arrays free of append's doubling slack and of multi-megabyte
// copies when they grow, and give checkpoints a natural unit of I/O.
const (
	PageBits = 10
	PageSize = 1 << PageBits
	pageMask = PageSize - 1
)

// Paged is an array of T indexed by series index, allocated a page at a time.
// The zero value is empty and ready to use.
type Paged[T any] struct {
	pages []*[PageSize]T
}

// At returns the record at i, allocating its page (zeroed) if needed.
func (p *Paged[T]) At(i uint32) *T {
	pi := int(i >> PageBits)
	if pi >= len(p.pages) || p.pages[pi] == nil {
		p.grow(pi)
	}
	return &p.pages[pi][i&pageMask]
}

// AtPooled is At, taking a missing page from *pool (pages there must be
// zeroed) before allocating a new one.
func (p *Paged[T]) AtPooled(i uint32, pool *[]*[PageSize]T) *T {
	pi := int(i >> PageBits)
	if pi < len(p.pages) {
		if pg := p.pages[pi]; pg != nil {
			return &pg[i&pageMask]
		}
	}
	if n := len(*pool); n > 0 {
		p.SetPage(pi, (*pool)[n-1])
		*pool = (*pool)[:n-1]
	} else {
		p.grow(pi)
	}
	return &p.pages[pi][i&pageMask]
}

// Get returns the record at i, or nil if its page was never allocated.
func (p *Paged[T]) Get(i uint32) *T {
	pi := int(i >> PageBits)
	if pi >= len(p.pages) || p.pages[pi] == nil {
		return nil
	}
	return &p.pages[pi][i&pageMask]
}

func (p *Paged[T]) grow(pi int) {
	for pi >= len(p.pages) {
		p.pages = append(p.pages, nil)
	}
	p.pages[pi] = new([PageSize]T)
}

// Page returns page pi (records pi*PageSize ...), or nil if unallocated.
func (p *Paged[T]) Page(pi int) *[PageSize]T {
	if pi >= len(p.pages) {
		return nil
	}
	return p.pages[pi]
}

// SetPage installs page pg at pi (used to recycle zeroed pages).
func (p *Paged[T]) SetPage(pi int, pg *[PageSize]T) {
	for pi >= len(p.pages) {
		p.pages = append(p.pages, nil)
	}
	p.pages[pi] = pg
}

// Pages yields every allocated page with the index of its first record,
// in index order. It is the one walk over per-series state: closing
// windows, expiry and checkpoints all go page by page, so the inner loop
// over a page's records stays free of per-record calls.
func (p *Paged[T]) Pages() iter.Seq2[uint32, *[PageSize]T] {
	return func(yield func(uint32, *[PageSize]T) bool) {
		for pi, pg := range p.pages {
			if pg != nil && !yield(uint32(pi)<<PageBits, pg) {
				return
			}
		}
	}
}

// NumPages returns the number of page slots (allocated or not).
func (p *Paged[T]) NumPages() int { return len(p.pages) }

// AllocatedPages returns how many pages hold memory.
func (p *Paged[T]) AllocatedPages() int {
	n := 0
	for _, pg := range p.pages {
		if pg != nil {
			n++
		}
	}
	return n
}

// Release drops every page and returns them for reuse by the caller.
func (p *Paged[T]) Release(dst []*[PageSize]T) []*[PageSize]T {
	for i, pg := range p.pages {
		if pg != nil {
			dst = append(dst, pg)
			p.pages[i] = nil
		}
	}
	p.pages = p.pages[:0]
	return dst
}
