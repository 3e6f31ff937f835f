package load

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the totals of a run so far.
type Stats struct {
	// Handed to the client, acknowledged or not. Bytes are record values.
	Points, Lines, Records, Bytes int64
	// Acknowledged by the broker.
	AckedRecords, AckedPoints, AckedBytes int64
	// FailedRecords failed after the client's retries, or were canceled.
	FailedRecords int64
	// ProduceErrors counts failed records by error text; after
	// maxErrorKinds distinct texts the rest count under "other".
	ProduceErrors map[string]int64

	// Injected faults among the produced lines; the points of late and bad
	// lines are included in Points.
	LateLines, LatePoints, BadLines, BadPoints, DisorderedLines int64

	// ProduceWait is how long the generator waited for the client's
	// buffer (the brokers not taking records as fast as it made them).
	ProduceWait time.Duration

	// Elapsed is the time since the start, including the final flush.
	Elapsed time.Duration
}

const maxErrorKinds = 5

func (s Stats) perSec(n int64) float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(n) / s.Elapsed.Seconds()
}

// PointsPerSec is the produced points per second of Elapsed.
func (s Stats) PointsPerSec() float64 { return s.perSec(s.Points) }

// RecordsPerSec is the produced records per second of Elapsed.
func (s Stats) RecordsPerSec() float64 { return s.perSec(s.Records) }

// BytesPerSec is the produced value bytes per second of Elapsed.
func (s Stats) BytesPerSec() float64 { return s.perSec(s.Bytes) }

// ValidPoints is the produced points in lines neither late nor bad: what a
// pipeline should accept, unless disorder exceeds its lateness.
func (s Stats) ValidPoints() int64 { return s.Points - s.LatePoints - s.BadPoints }

// totals are the generator's produced counts; it publishes them to
// counters once per host report rather than per record.
type totals struct {
	points, lines, records, bytes          int64
	late, latePts, bad, badPts, disordered int64
}

// counters are shared by the generator, the promise goroutine and the
// progress goroutine.
type counters struct {
	produced [9]atomic.Int64 // totals, in field order
	_        [64]byte        // keep the promise's counters off that cache line

	acked, ackedPts, ackedBytes, failed atomic.Int64
	produceWait                         atomic.Int64 // ns the generator waited for buffer space
	mu                                  sync.Mutex
	errs                                map[string]int64
}

func (c *counters) publish(t *totals) {
	for i, v := range [...]int64{t.points, t.lines, t.records, t.bytes, t.late, t.latePts, t.bad, t.badPts, t.disordered} {
		c.produced[i].Store(v)
	}
}

func (c *counters) fail(err error) {
	c.failed.Add(1)
	msg := err.Error()
	c.mu.Lock()
	if c.errs == nil {
		c.errs = map[string]int64{}
	}
	if _, ok := c.errs[msg]; !ok && len(c.errs) >= maxErrorKinds {
		msg = "other"
	}
	c.errs[msg]++
	c.mu.Unlock()
}

func (c *counters) snapshot(elapsed time.Duration) Stats {
	var p [9]int64
	for i := range p {
		p[i] = c.produced[i].Load()
	}
	s := Stats{
		Points: p[0], Lines: p[1], Records: p[2], Bytes: p[3],
		LateLines: p[4], LatePoints: p[5], BadLines: p[6], BadPoints: p[7], DisorderedLines: p[8],
		AckedRecords: c.acked.Load(), AckedPoints: c.ackedPts.Load(), AckedBytes: c.ackedBytes.Load(),
		FailedRecords: c.failed.Load(),
		ProduceWait:   time.Duration(c.produceWait.Load()),
		Elapsed:       elapsed,
	}
	c.mu.Lock()
	if len(c.errs) > 0 {
		s.ProduceErrors = make(map[string]int64, len(c.errs))
		for k, v := range c.errs {
			s.ProduceErrors[k] = v
		}
	}
	c.mu.Unlock()
	return s
}
