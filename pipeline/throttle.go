package pipeline

import (
	"sync"
	"time"
)

// Throttle limits repetitive log lines (bad input) to a burst per interval
// and counts what it held back, so the next line that passes can say how
// many similar messages were suppressed.
type Throttle struct {
	mu         sync.Mutex
	burst      int
	interval   time.Duration
	start      time.Time
	used       int
	suppressed uint64
}

// NewThrottle allows burst messages per interval.
func NewThrottle(burst int, interval time.Duration) *Throttle {
	return &Throttle{burst: burst, interval: interval}
}

// Allow reports whether a message may be logged at now, and how many were
// suppressed since the last allowed one.
func (t *Throttle) Allow(now time.Time) (ok bool, suppressed uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.start) >= t.interval {
		t.start, t.used = now, 0
	}
	if t.used >= t.burst {
		t.suppressed++
		return false, 0
	}
	t.used++
	s := t.suppressed
	t.suppressed = 0
	return true, s
}

// Suppressed returns and resets the count of messages held back.
func (t *Throttle) Suppressed() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.suppressed
	t.suppressed = 0
	return s
}
