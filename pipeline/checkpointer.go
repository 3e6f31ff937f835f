package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/emit"
)

// CheckpointerConfig configures a Checkpointer. Zero values take the
// documented defaults.
type CheckpointerConfig struct {
	Backend ckpt.Backend
	// BackendName labels metrics ("fs", "hdfs").
	BackendName string
	// Keep is how many checkpoint files to keep, newest first. Default 3;
	// at least 2, so a checkpoint found damaged has a predecessor.
	Keep int
	// Interval between checkpoints. Default 1m.
	Interval time.Duration
	// Delivery is written into every checkpoint (AtLeastOnce default).
	Delivery        Delivery
	TransactionalID string
	// FlushOutput, if set, runs after a snapshot and before its file is
	// written: every rollup emitted before the snapshot must be
	// acknowledged before a checkpoint claims it was emitted. It is
	// retried (with the write) until the next interval. (At-least-once.)
	FlushOutput func(ctx context.Context) error
	// Exactly-once: Hold runs at the cut, inside the pause, and Release
	// once the checkpoint is committed or given up, so that output of
	// windows closed after the cut waits for the next transaction; Commit
	// commits the transaction of an epoch whose file is written. A Commit
	// error is fatal (ErrCommit): the transaction was aborted, and only a
	// restart from the last committed checkpoint brings the output back
	// in step with the state.
	Hold, Release func()
	Commit        func(ctx context.Context, epoch uint64, file string) error
	Log           *slog.Logger
	// Hook, if set, is called at the points a crash is most likely to do
	// harm: "cut" (inside the pause, after the state is copied), "written"
	// (the file is in place, the transaction not committed) and
	// "committed". Fault-injection tests kill the process there.
	Hook func(point string)
}

// ErrCommit wraps the error of a transaction that did not commit.
var ErrCommit = errors.New("checkpoint transaction failed")

// Checkpointer takes checkpoints of a running Source and Engine at an
// interval, writes them through a Backend in the background and keeps the
// newest few. A failing backend never stops ingestion: the failure is
// logged, counted and retried with backoff, the last good checkpoint stays,
// and its age is exported.
type Checkpointer struct {
	cfg CheckpointerConfig
	e   *Engine
	src *Source
	log *slog.Logger

	mu    sync.Mutex // one checkpoint at a time
	epoch uint64     // of the last checkpoint written or restored

	// Metrics, readable at any time.
	Pauses, Writes         emit.Histogram
	lastSuccess, lastEpoch atomic.Int64
	lastBytes, lastSeries  atomic.Int64
	lastStateBytes         atomic.Int64
	restoreNs              atomic.Int64
	commits                atomic.Int64
	failMu                 sync.Mutex
	failures               map[string]uint64 // by reason
}

// NewCheckpointer prepares checkpoints of e fed by src; lastEpoch is the
// highest epoch found in the backend (see LoadNewest), so that new files
// are always newer.
func NewCheckpointer(cfg CheckpointerConfig, e *Engine, src *Source, lastEpoch uint64) (*Checkpointer, error) {
	if cfg.Backend == nil {
		return nil, errors.New("checkpointer: no backend")
	}
	if cfg.Keep == 0 {
		cfg.Keep = 3
	}
	if cfg.Keep < 2 {
		return nil, fmt.Errorf("checkpoints to keep %d: must be at least 2", cfg.Keep)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Interval < 100*time.Millisecond {
		return nil, fmt.Errorf("checkpoint interval %s is below the minimum of 100ms", cfg.Interval)
	}
	if cfg.Delivery == 0 {
		cfg.Delivery = AtLeastOnce
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.BackendName == "" {
		cfg.BackendName = "fs"
	}
	c := &Checkpointer{cfg: cfg, e: e, src: src, log: cfg.Log, epoch: lastEpoch, failures: map[string]uint64{}}
	return c, nil
}

// Run takes a checkpoint every interval until ctx ends (nil) or a
// transaction fails to commit (an error wrapping ErrCommit).
func (c *Checkpointer) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// A checkpoint gets until the next one is due, then gives way.
		cctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
		err := c.Take(cctx)
		cancel()
		if errors.Is(err, ErrCommit) {
			return err
		}
	}
}

// Take takes one checkpoint: a snapshot (ingestion pauses), then, while
// ingestion goes on, the output flush and the file write, retried with
// backoff until ctx ends. It returns the error of the last attempt.
func (c *Checkpointer) Take(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	atCut := c.cfg.Hold
	if c.cfg.Hook != nil {
		atCut = func() {
			if c.cfg.Hold != nil {
				c.cfg.Hold()
			}
			c.cfg.Hook("cut")
		}
	}
	snap, err := c.src.Snapshot(ctx, atCut)
	if err != nil {
		c.fail("snapshot", err)
		return err
	}
	defer c.e.Release(snap)
	if c.cfg.Release != nil {
		// If the write fails, the output goes on into the same
		// transaction, which the next checkpoint commits.
		defer c.cfg.Release()
	}
	c.Pauses.Observe(snap.Pause)
	epoch := c.epoch + 1
	backoff := 100 * time.Millisecond
	var cause error // the last failure that was not the deadline
	for attempt := 1; ; attempt++ {
		err = c.write(ctx, snap, epoch)
		if err == nil {
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			cause = err
		}
		if ctx.Err() != nil {
			if cause == nil {
				cause = err
			}
			c.log.Error("checkpoint abandoned; the previous one stays in place", "epoch", epoch, "attempts", attempt,
				"location", c.cfg.Backend.Location(), "error", cause)
			return cause
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	c.hook("written")
	if c.cfg.Commit != nil {
		// Not cut short by the interval: a commit whose outcome is
		// unknown can only be settled by a restart.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := c.cfg.Commit(cctx, epoch, ckpt.FileName(epoch))
		cancel()
		if err != nil {
			c.fail("commit", err)
			return fmt.Errorf("%w: %w", ErrCommit, err)
		}
		c.commits.Add(1)
		c.hook("committed")
	}
	c.epoch = epoch
	c.rotate(ctx)
	return nil
}

// write flushes the output and writes snap as epoch.
func (c *Checkpointer) write(ctx context.Context, snap *Snapshot, epoch uint64) error {
	if c.cfg.FlushOutput != nil {
		if err := c.cfg.FlushOutput(ctx); err != nil {
			c.fail("output", err)
			return fmt.Errorf("output not acknowledged: %w", err)
		}
	}
	t0 := time.Now()
	var size int64
	name := ckpt.FileName(epoch)
	err := c.cfg.Backend.Write(ctx, name, func(w io.Writer) error {
		var err error
		size, err = c.e.WriteCheckpoint(w, snap, CheckpointMeta{Epoch: epoch, Delivery: c.cfg.Delivery, TransactionalID: c.cfg.TransactionalID})
		return err
	})
	if err != nil {
		c.fail(failReason(err), err)
		return err
	}
	took := time.Since(t0)
	c.Writes.Observe(took)
	c.lastSuccess.Store(time.Now().UnixNano())
	c.lastEpoch.Store(int64(epoch))
	c.lastBytes.Store(size)
	c.lastSeries.Store(int64(snap.Series()))
	tb, wb, kb := c.e.MemoryBytes()
	c.lastStateBytes.Store(int64(tb + wb + kb))
	c.log.Info("checkpoint written", "epoch", epoch, "file", name, "bytes", size, "series", snap.Series(),
		"pause", snap.Pause.Round(time.Microsecond), "write", took.Round(time.Millisecond))
	return nil
}

func (c *Checkpointer) hook(point string) {
	if c.cfg.Hook != nil {
		c.cfg.Hook(point)
	}
}

// failReason names an error for the failures metric.
func failReason(err error) string {
	// The text as well as the errno: HDFS reports the namenode's
	// exception as text.
	s := err.Error()
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), strings.Contains(s, "no space left"),
		strings.Contains(s, "DSQuotaExceededException"):
		return "no_space"
	case errors.Is(err, fs.ErrPermission), strings.Contains(s, "permission denied"), strings.Contains(s, "AccessControlException"):
		return "permission"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	return "write"
}

func (c *Checkpointer) fail(reason string, err error) {
	c.failMu.Lock()
	c.failures[reason]++
	n := c.failures[reason]
	c.failMu.Unlock()
	// Every failure while few, then every 10th: a dead disk retries often.
	if n <= 5 || n%10 == 0 {
		c.log.Warn("checkpoint attempt failed; retrying", "reason", reason, "location", c.cfg.Backend.Location(),
			"failures", n, "error", err)
	}
}

// rotate removes all but the newest Keep checkpoints.
func (c *Checkpointer) rotate(ctx context.Context) {
	names, err := c.cfg.Backend.List(ctx)
	if err != nil {
		c.log.Warn("cannot list checkpoints to remove old ones", "error", err)
		return
	}
	epochs := checkpointEpochs(names)
	for i := c.cfg.Keep; i < len(epochs); i++ {
		name := ckpt.FileName(epochs[i])
		if err := c.cfg.Backend.Remove(ctx, name); err != nil {
			c.log.Warn("cannot remove an old checkpoint", "file", name, "error", err)
		}
	}
}

// checkpointEpochs returns the epochs of the checkpoint files among names,
// newest first.
func checkpointEpochs(names []string) []uint64 {
	var epochs []uint64
	for _, n := range names {
		if e, ok := ckpt.ParseFileName(n); ok {
			epochs = append(epochs, e)
		}
	}
	slices.SortFunc(epochs, func(a, b uint64) int { return cmp.Compare(b, a) })
	return epochs
}

// CheckpointStats are the checkpointer's metrics.
type CheckpointStats struct {
	LastSuccess time.Time // zero: none yet
	Epoch       int64
	Bytes       int64 // file size of the last checkpoint
	StateBytes  int64 // in-memory state it described
	Series      int64
	Restore     time.Duration
	Commits     int64 // transactions committed
	Failures    map[string]uint64
}

// Stats returns the checkpointer's metrics.
func (c *Checkpointer) Stats() CheckpointStats {
	s := CheckpointStats{Epoch: c.lastEpoch.Load(), Bytes: c.lastBytes.Load(), StateBytes: c.lastStateBytes.Load(),
		Series: c.lastSeries.Load(), Restore: time.Duration(c.restoreNs.Load()), Commits: c.commits.Load()}
	if ns := c.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	c.failMu.Lock()
	s.Failures = make(map[string]uint64, len(c.failures))
	for k, v := range c.failures {
		s.Failures[k] = v
	}
	c.failMu.Unlock()
	return s
}

// SetRestored records the restore that preceded the checkpointer: its
// epoch and how long it took.
func (c *Checkpointer) SetRestored(epoch uint64, took time.Duration) {
	c.restoreNs.Store(int64(took))
	c.lastEpoch.Store(int64(epoch))
}

// Loaded is a checkpoint read from a backend.
type Loaded struct {
	Name       string
	Checkpoint *Checkpoint
	release    func()
}

// Release frees the file's memory (unmaps it). The Checkpoint is unusable
// after.
func (l *Loaded) Release() {
	if l != nil && l.release != nil {
		l.release()
		l.release = nil
	}
}

// LoadNewest removes the temporaries of unfinished writes, then reads the
// checkpoints from newest to oldest and returns the first that verifies
// (nil if none does, or there is none), and the highest epoch present
// (valid or not), so that new checkpoints are numbered after it. Each file
// that fails is logged with the reason (which section, what offset, which
// check) before the previous one is tried. (Exactly-once delivery removes
// the checkpoints its marker did not commit first: PruneUncommitted.)
func LoadNewest(ctx context.Context, b ckpt.Backend, log *slog.Logger) (*Loaded, uint64, error) {
	removed, err := b.CleanTemp(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot clean temporary checkpoint files in %s: %w", b.Location(), err)
	}
	for _, n := range removed {
		log.Info("removed the temporary file of an unfinished checkpoint", "file", n, "location", b.Location())
	}
	names, err := b.List(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot list checkpoints in %s: %w", b.Location(), err)
	}
	epochs := checkpointEpochs(names)
	var highest uint64
	if len(epochs) > 0 {
		highest = epochs[0]
	}
	for _, ep := range epochs {
		name := ckpt.FileName(ep)
		data, release, err := b.Read(ctx, name)
		if err != nil {
			log.Error("cannot read checkpoint; trying the previous one", "file", name, "location", b.Location(), "error", err)
			continue
		}
		c, err := ParseCheckpoint(data)
		if err == nil && c.Epoch != ep {
			err = fmt.Errorf("file of epoch %d holds epoch %d", ep, c.Epoch)
		}
		if err != nil {
			release()
			log.Error("checkpoint unusable; trying the previous one", "file", name, "location", b.Location(), "error", err)
			continue
		}
		return &Loaded{Name: name, Checkpoint: c, release: release}, highest, nil
	}
	return nil, highest, nil
}

// ConfigDiff explains how the configuration a checkpoint was written with
// differs from cfg; "" if it does not.
func ConfigDiff(c *Checkpoint, cfg *Config) string {
	now := ConfigText(cfg)
	if c.Fingerprint == Fingerprint(now) {
		return ""
	}
	var b strings.Builder
	b.WriteString("checkpoint:\n")
	for _, l := range strings.Split(strings.TrimSuffix(c.Config, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("configured now:\n")
	for _, l := range strings.Split(strings.TrimSuffix(now, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// PruneUncommitted removes the checkpoint files whose transaction never
// committed, for exactly-once delivery: with committed > 0, every file of
// a later epoch; with committed == 0 (no marker for id), every file
// written exactly-once under id. Leaving them would let rotation count
// them among the newest and remove the committed one. Files written
// at-least-once (a service switching to exactly-once) are kept.
func PruneUncommitted(ctx context.Context, b ckpt.Backend, committed uint64, id string, log *slog.Logger) error {
	names, err := b.List(ctx)
	if err != nil {
		return fmt.Errorf("cannot list checkpoints in %s: %w", b.Location(), err)
	}
	for _, ep := range checkpointEpochs(names) {
		name := ckpt.FileName(ep)
		if committed > 0 {
			if ep <= committed {
				continue
			}
		} else {
			data, release, err := b.Read(ctx, name)
			if err != nil {
				continue // LoadNewest reports it
			}
			c, err := ParseCheckpoint(data)
			ours := err == nil && c.Delivery == ExactlyOnce && c.TransactionalID == id
			release()
			if !ours {
				continue
			}
		}
		log.Warn("removing a checkpoint whose transaction never committed (its output was aborted; the input is read again from the committed checkpoint)",
			"file", name, "location", b.Location(), "committed_epoch", committed)
		if err := b.Remove(ctx, name); err != nil {
			return fmt.Errorf("cannot remove uncommitted checkpoint %s: %w", name, err)
		}
	}
	return nil
}
