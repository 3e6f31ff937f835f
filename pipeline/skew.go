package pipeline

import (
	"context"
	"math"
	"slices"
	"time"
)

// Watermark alignment (as Flink does it): after hours offline every
// partition has a backlog, and the client fetches some far ahead of
// others. The global watermark is the minimum over the partitions that are
// not idle, so every window of a fast partition stays open until the
// slowest catches up: memory grows with series x skew.
//
// A partition whose watermark runs more than MaxSkew ahead of the global
// one is paused, and resumed once it is within MaxSkew/2. Records it had
// fetched already are held back (not applied) and handed over first on
// resume; the client keeps its position past them. A paused partition
// never counts as idle, and the partition that holds the global watermark
// is never paused, so consumption cannot stall for good: that one
// delivers, or goes idle and stops holding the others back. Before every
// partition has delivered, the global watermark is unknown and nothing is
// paused. What the parsers were given before a pause is applied: the skew
// can overshoot by their queues (a few fetches of at most
// --fetch-max-partition-bytes each).

// skewCheck is how often the partitions are balanced.
const skewCheck = 50 * time.Millisecond

func (s *Source) skewLoop(ctx context.Context) {
	tick := time.NewTicker(skewCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.balance()
		}
	}
}

// balance pauses the partitions that run ahead and resumes those that
// may go on.
func (s *Source) balance() {
	s.dispatch.Lock() // pausing, resuming and holding back are the dispatcher's
	defer s.dispatch.Unlock()
	s.mu.Lock()
	parts := slices.Clone(s.order)
	s.mu.Unlock()
	pause, resume := map[string][]int32{}, map[string][]int32{}
	for _, ps := range parts {
		switch paused := ps.paused.Load(); {
		case !paused && s.ahead(ps, int64(s.cfg.MaxSkew)):
			s.setPaused(ps, true)
			pause[ps.Topic] = append(pause[ps.Topic], ps.Partition)
		case paused && !s.ahead(ps, int64(s.cfg.MaxSkew)/2):
			s.setPaused(ps, false)
			resume[ps.Topic] = append(resume[ps.Topic], ps.Partition)
			if !s.stopped {
				for _, w := range ps.held {
					s.heldRecords.Add(-int64(len(w.records)))
					s.unapplied.Add(int64(len(w.records)))
					s.parsers[ps.parser].in <- w
				}
			}
			ps.held = nil
		}
	}
	if len(pause) > 0 {
		s.cfg.Client.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		s.cfg.Client.ResumeFetchPartitions(resume)
	}
	if n := s.pausedCount(parts); (n > 0) != s.anyPaused {
		s.anyPaused = n > 0
		if n > 0 {
			s.log.Info("catching up unevenly: partitions more than --max-skew ahead of the global watermark are paused until the others catch up",
				"paused", n, "max_skew", s.cfg.MaxSkew)
		} else {
			s.log.Info("partitions aligned again: none paused")
		}
	}
}

// ahead reports whether ps's watermark runs more than skew (ns) ahead of
// the global one. Before both are known nothing is ahead: holding every
// partition back until the last one delivers (or idles) would delay a
// live start by the idle timeout.
func (s *Source) ahead(ps *PartitionState, skew int64) bool {
	wm, global := ps.watermark.Load(), s.e.Watermark()
	return wm != math.MinInt64 && global != math.MinInt64 && wm-skew > global
}

// holdBack keeps a fetch of a partition that runs ahead from the parsers:
// the partition is paused (if it was not) and the fetch held until it
// resumes. It returns false when the fetch may go on. Under s.dispatch.
func (s *Source) holdBack(ps *PartitionState, w work) bool {
	if !ps.paused.Load() {
		if !s.ahead(ps, int64(s.cfg.MaxSkew)) {
			return false
		}
		s.setPaused(ps, true)
		s.cfg.Client.PauseFetchPartitions(map[string][]int32{ps.Topic: {ps.Partition}})
	}
	ps.held = append(ps.held, w)
	s.heldRecords.Add(int64(len(w.records)))
	return true
}

// setPaused marks ps paused or not, for the stats and for idleness (a
// paused partition has records to deliver: it is never idle).
func (s *Source) setPaused(ps *PartitionState, on bool) {
	ps.paused.Store(on)
	s.e.HoldActive(ps.p, on)
}

func (s *Source) pausedCount(parts []*PartitionState) int {
	n := 0
	for _, ps := range parts {
		if ps.paused.Load() {
			n++
		}
	}
	return n
}
