package pipeline

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// TestIdlePartitions walks the idle rules with a hand-moved clock:
// an assigned partition that never delivered holds the watermark back
// until it has been idle for the timeout; an idle partition stops holding
// it; with all idle, the wall clock minus lateness moves it; a partition
// that delivers again holds it back again (but never moves it backwards).
func TestIdlePartitions(t *testing.T) {
	base := time.Unix(1700000000, 0)
	clock := newTestClock(base)
	cfg := testConfig(t, 1, 5*time.Second, "10s:count")
	cfg.Now, cfg.IdleTimeout, cfg.MaxFuture = clock.now, 30*time.Second, 24*time.Hour
	var out bytes.Buffer
	e, err := New(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.NewRouter()
	busy, quiet := e.NewPartition(), e.NewPartition()
	feed := func(p *Partition, lines ...string) {
		s.Use(p)
		s.Active(clock.ns.Load())
		s.FeedRecord([]byte(strings.Join(lines, "")), clock.ns.Load(), 0)
		s.Flush()
	}
	want := func(step string, wm int64) {
		t.Helper()
		if got := e.Watermark(); got != wm {
			t.Fatalf("%s: watermark %d, want %d", step, got, wm)
		}
	}
	sec := func(n int64) int64 { return base.UnixNano() + n*1e9 }

	feed(busy, "m,p=b v=1 1700000020000000000\n")
	want("quiet partition never delivered, not yet idle", math.MinInt64)

	clock.add(29 * time.Second)
	e.Tick()
	want("29s later", math.MinInt64)

	clock.add(2 * time.Second) // quiet: idle 31s; busy: idle too (31s)
	e.Tick()
	// All idle: the wall clock (base+31s) minus lateness 5s, or the busy
	// partition's watermark (base+15s), whichever is newer.
	want("all idle", sec(26))

	feed(busy, "m,p=b v=1 1700000040000000000\n") // busy active again: its watermark 35s
	e.Tick()
	want("busy active again", sec(35))

	feed(quiet, "m,p=q v=1 1700000021000000000\n") // quiet active, behind: no step back
	e.Tick()
	want("quiet active, behind", sec(35))
	e.Sync()
	if c := e.Counters(); c.ClosedEarly != 1 || c.Aggregated != 2 {
		t.Errorf("closed early %d, aggregated %d: the quiet partition's point fell in a window closed while it was idle",
			c.ClosedEarly, c.Aggregated)
	}
}

// TestIdleNeedsCaughtUpAndBrokers: a partition whose last fetch left
// records unread never counts as idle, and while SuspendIdle is on (the
// brokers are unreachable) nothing does; when it goes off, idleness
// starts over.
func TestIdleNeedsCaughtUpAndBrokers(t *testing.T) {
	base := time.Unix(1700000000, 0)
	clock := newTestClock(base)
	cfg := testConfig(t, 1, 0, "10s:count")
	cfg.Now, cfg.IdleTimeout, cfg.MaxFuture = clock.now, 30*time.Second, 24*time.Hour
	var out bytes.Buffer
	e, err := New(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.NewRouter()
	a, b := e.NewPartition(), e.NewPartition()
	feed := func(p *Partition, behind bool, line string) {
		s.Use(p)
		s.Active(clock.ns.Load())
		s.FeedRecord([]byte(line), clock.ns.Load(), 0)
		s.Behind(behind)
		s.Flush()
	}
	feed(a, true, "m v=1 1700000010000000000\n") // a: more to read
	feed(b, false, "m v=1 1700000050000000000\n")
	clock.add(time.Minute)
	e.Tick()
	if wm := e.Watermark(); wm != 1700000010000000000 {
		t.Fatalf("watermark %d: the partition with unread records must hold it", wm)
	}
	feed(a, false, "m v=1 1700000011000000000\n") // a caught up
	e.SuspendIdle(SuspendMetadata, true)
	clock.add(time.Minute)
	e.Tick()
	if wm := e.Watermark(); wm != 1700000011000000000 {
		t.Fatalf("watermark %d: idleness suspended, a must hold it", wm)
	}
	e.SuspendIdle(SuspendMetadata, false)
	clock.add(29 * time.Second)
	e.Tick()
	if wm := e.Watermark(); wm != 1700000011000000000 {
		t.Fatalf("watermark %d: 29s after the brokers came back nothing is idle yet", wm)
	}
	clock.add(2 * time.Second)
	e.Tick()
	if wm := e.Watermark(); wm != clock.ns.Load() {
		t.Fatalf("watermark %d, want the wall clock %d once all are idle", wm, clock.ns.Load())
	}
}
