package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Run produces cfg's load through cl until cfg.Duration has passed or ctx
// is canceled, then waits (at most cfg.FlushTimeout) for the outstanding
// acknowledgements. cl must be created with ProducerOpts, and the topics
// must exist (see Topics and EnsureTopics). progress, if not nil, is called
// about once per second from another goroutine, never concurrently with
// itself and never after Run returns. A canceled ctx is a normal stop, not
// an error; the error is about validation or the final flush.
func Run(ctx context.Context, cl *kgo.Client, cfg Config, progress func(Stats)) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	cfg = cfg.withDefaults()
	if _, ok := cl.OptValue(kgo.RecordPartitioner).(telegrafPartitioner); !ok {
		return Stats{}, errors.New("load: the client does not partition like Telegraf: create it with the options of load.ProducerOpts")
	}
	t0 := time.Now()
	c := &counters{}
	g := newGenerator(cfg, eventStart(cfg, t0))
	g.onAck = func(s *slot, err error) {
		if err != nil {
			c.fail(err)
			return
		}
		c.acked.Add(1)
		c.ackedPts.Add(int64(s.points))
		c.ackedBytes.Add(int64(len(s.rec.Value)))
	}
	// Produce blocks only while the client's buffer is full (backpressure);
	// acknowledgements arrive through the slot's promise.
	g.emit = func(s *slot) {
		t := time.Now()
		cl.Produce(ctx, &s.rec, s.promise)
		if d := time.Since(t); d > 100*time.Microsecond { // it blocked: the buffer was full
			c.produceWait.Add(int64(d))
		}
	}
	g.publish = func() { c.publish(&g.tot) }

	stopProgress := func() {}
	if progress != nil {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(c.snapshot(time.Since(t0)))
				}
			}
		})
		stopProgress = func() { close(done); wg.Wait() }
	}

	g.run(ctx, t0)

	// The flush must outlive a canceled ctx (SIGINT): what was produced
	// should still be acknowledged and counted, within the bound.
	var err error
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.FlushTimeout)
	if ferr := cl.Flush(fctx); ferr != nil {
		err = fmt.Errorf("cannot flush the produced records within %v: %w (is the broker reachable?)", cfg.FlushTimeout, ferr)
		// Fail what is left so every promise has fired and the counts
		// are final; bounded too, in case the broker hangs.
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		cl.AbortBufferedRecords(actx)
		acancel()
	}
	cancel()
	stopProgress()
	return c.snapshot(time.Since(t0)), err
}

// eventStart is the timestamp of the first report (see the package doc).
func eventStart(cfg Config, now time.Time) time.Time {
	if cfg.Rate > 0 {
		return now.Truncate(cfg.Interval)
	}
	return now.Add(-cfg.Duration).Truncate(cfg.Interval)
}
