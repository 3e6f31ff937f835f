package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/emit"
)

// ServiceConfig configures a Service: the engine, the source and the
// output, plus what a long-running service adds (checkpoints, delivery,
// shutdown). The Kafka clients are the caller's (it knows the TLS and SASL
// options) and stay open until Wait returns.
type ServiceConfig struct {
	Engine Config
	// Source: Client and Restore are set by the service.
	Source SourceConfig
	// Output: Client and OnError are set by the service.
	Output emit.KafkaConfig
	// Producer writes the output; with exactly-once delivery it must be
	// created with kgo.TransactionalID(Checkpoint.TransactionalID).
	Producer *kgo.Client
	// Consumer reads the input: a direct consumer (see SourceConfig).
	Consumer *kgo.Client
	// Brokers are named in logs.
	Brokers []string
	// CreateTopics, if set, are the output topics to create when missing
	// (see emit.EnsureTopics); existing ones with a shorter retention are
	// warned about.
	CreateTopics []emit.TopicSpec
	// MetadataInterval paces the output metadata refresh and the series
	// limit report.
	MetadataInterval time.Duration
	// Checkpoint, if not nil, makes the state durable.
	Checkpoint *CheckpointSettings
	// ShutdownTimeout bounds the whole shutdown; ShutdownReserve of it is
	// kept for the caller's own cleanup after Wait (closing the Kafka
	// clients).
	ShutdownTimeout, ShutdownReserve time.Duration
	// FlushOnExit emits the open windows at shutdown (partial rollups):
	// for the demo; a service keeps them for the checkpoint.
	FlushOnExit bool
	Log         *slog.Logger
	// Notify, if set, receives supervisor notifications (systemd's
	// "READY=1", "STATUS=...", "STOPPING=1").
	Notify func(state string)
}

// CheckpointSettings configure a Service's checkpoints and delivery.
type CheckpointSettings struct {
	Location string
	// Open opens the backend of Location.
	Open        func(location string) (ckpt.Backend, error)
	BackendName string // metric label
	Interval    time.Duration
	Keep        int
	// Discard starts from scratch even if a checkpoint exists; Require
	// refuses to start without one.
	Discard, Require bool
	// ExactlyOnce: transactional output (see Transactions).
	ExactlyOnce     bool
	TransactionalID string
	MarkerTopic     string
	// MarkerReader connects a reader of the marker topic (seeds, TLS,
	// SASL).
	MarkerReader []kgo.Opt
	// Hook: see CheckpointerConfig.Hook (fault-injection tests).
	Hook func(point string)
}

// Service is a running `rollup run`: StartService starts it in order
// (output, transactions, restore, source, checkpoints), Wait stops it in
// reverse order.
type Service struct {
	Engine       *Engine
	Source       *Source
	Output       *emit.KafkaOutput
	Checkpointer *Checkpointer // nil without checkpoints
	Started      time.Time

	cfg     ServiceConfig
	log     *slog.Logger
	backend ckpt.Backend
	fatal   chan error

	stopSrc, stopBg context.CancelFunc
	srcDone, bgDone chan struct{}
	stopCkpt        context.CancelFunc
	ckptDone        chan struct{}
	outErrs         *Throttle
}

func (s *Service) notify(state string) {
	if s.cfg.Notify != nil {
		s.cfg.Notify(state)
	}
}

// raise stops the service with err (a failed transaction).
func (s *Service) raise(err error) {
	select {
	case s.fatal <- err:
	default:
	}
}

// retry calls f until it succeeds or ctx ends (then it returns ctx's
// error), logging what it waits for at the first attempt and every 10th:
// a service started before its brokers or its checkpoint store waits for
// them rather than exit, as a supervisor would only restart it.
func (s *Service) retry(ctx context.Context, what string, f func(context.Context) error, logArgs ...any) error {
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("waiting for "+what, append(logArgs, "attempt", attempt, "error", err)...)
			s.notify("STATUS=waiting for " + what + ": " + err.Error())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
	}
}

// StartService starts the service. It waits for the output topics, the
// transaction coordinator and the checkpoint store as long as ctx lasts;
// if ctx ends meanwhile it returns (nil, nil). On error nothing is left
// running.
func StartService(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		return nil, errors.New("service: shutdown timeout must be positive")
	}
	if cfg.ShutdownReserve < 0 || cfg.ShutdownReserve >= cfg.ShutdownTimeout {
		return nil, errors.New("service: the shutdown reserve must be below the shutdown timeout")
	}
	if cfg.MetadataInterval <= 0 {
		cfg.MetadataInterval = 5 * time.Second
	}
	s := &Service{cfg: cfg, log: cfg.Log, fatal: make(chan error, 1), outErrs: NewThrottle(5, 10*time.Second)}
	ck := cfg.Checkpoint
	eos := ck != nil && ck.ExactlyOnce

	ocfg := cfg.Output
	ocfg.Client = cfg.Producer
	// A record the client gives up on is a lost rollup at-least-once; in
	// a transaction it makes the transaction unable to commit, so the
	// service stops and restarts from the last committed checkpoint.
	ocfg.OnError = func(topic string, partition int32, err error) {
		if eos {
			s.raise(fmt.Errorf("output record to %s/%d failed inside a transaction: %w", topic, partition, err))
			return
		}
		if ok, suppressed := s.outErrs.Allow(time.Now()); ok {
			s.log.Error("output record lost: the client gave up producing it", "topic", topic, "partition", partition,
				"error", err, "suppressed_since_last", suppressed)
		}
	}
	out, err := emit.NewKafkaOutput(ocfg)
	if err != nil {
		return nil, err
	}
	s.Output = out
	if len(cfg.CreateTopics) > 0 {
		var reports []emit.TopicReport
		err := s.retry(ctx, "the output topics to be created", func(ctx context.Context) error {
			var err error
			reports, err = emit.EnsureTopics(ctx, cfg.Producer, cfg.CreateTopics)
			return err
		}, "brokers", cfg.Brokers)
		if err != nil {
			return nil, nil
		}
		for i, r := range reports {
			if r.Created {
				s.log.Info("created output topic", "topic", r.Name, "partitions", cfg.CreateTopics[i].Partitions,
					"retention", cfg.CreateTopics[i].Retention)
			}
			if r.ShortRetention > 0 {
				s.log.Warn("output topic keeps rollups for less than its archives' ttl", "topic", r.Name,
					"retention", r.ShortRetention, "ttl", cfg.CreateTopics[i].Retention)
			}
		}
	}
	// The output topics must exist before a rollup can be routed.
	if err := s.retry(ctx, "output topics", out.Refresh, "topics", out.Topics(), "brokers", cfg.Brokers); err != nil {
		return nil, nil
	}

	var txn *Transactions
	var committed uint64
	if eos {
		if txn, err = NewTransactions(cfg.Producer, ck.TransactionalID, ck.MarkerTopic, ck.MarkerReader); err != nil {
			return nil, err
		}
		// Fences a previous instance (aborting its unfinished
		// transaction) and reads the last committed epoch.
		err := s.retry(ctx, "transactions", func(ctx context.Context) error {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			var err error
			committed, err = txn.Init(ictx)
			return err
		}, "transactional_id", ck.TransactionalID, "marker_topic", ck.MarkerTopic)
		if err != nil {
			return nil, nil
		}
		s.log.Info("exactly-once delivery", "transactional_id", ck.TransactionalID, "marker_topic", ck.MarkerTopic,
			"committed_epoch", committed, "note", "read_committed readers see rollups at each checkpoint")
	}

	eng, err := NewWithOutput(cfg.Engine, KafkaOutput(out))
	if err != nil {
		return nil, err
	}
	s.Engine = eng
	fail := func(err error) (*Service, error) {
		eng.Stop()
		if s.backend != nil {
			s.backend.Close()
		}
		return nil, err
	}
	scfg := cfg.Source
	scfg.Client = cfg.Consumer
	scfg.Log = cfg.Log
	var lastEpoch, restoredEpoch uint64
	var restoreTook time.Duration
	if ck == nil {
		s.log.Warn("no checkpoint location: the state is not durable; a restart loses every open window and re-reads or skips input per --start")
	} else {
		t0 := time.Now()
		var loaded *Loaded
		var highest uint64
		err := s.retry(ctx, "the checkpoint location", func(ctx context.Context) error {
			b, err := ck.Open(ck.Location)
			if err != nil {
				return err
			}
			if eos {
				err = PruneUncommitted(ctx, b, committed, ck.TransactionalID, s.log)
			}
			if err == nil {
				loaded, highest, err = LoadNewest(ctx, b, s.log)
			}
			if err != nil {
				b.Close()
				return err
			}
			s.backend = b
			return nil
		}, "location", ck.Location)
		if err != nil {
			return fail(nil)
		}
		lastEpoch = max(highest, committed)
		switch {
		case loaded != nil && ck.Discard:
			s.log.Warn("discarding the checkpoint as asked: starting from scratch; its open windows are dropped", "file", loaded.Name)
			loaded.Release()
		case loaded != nil:
			c := loaded.Checkpoint
			if diff := ConfigDiff(c, eng.Config()); diff != "" {
				loaded.Release()
				return fail(fmt.Errorf("checkpoint %s in %s was written with other archives:\n%sstart with the archives it was written with, or with --checkpoint-discard to start from scratch (its open windows are lost)", loaded.Name, s.backend.Location(), diff))
			}
			if err := eng.Restore(c); err != nil {
				loaded.Release()
				return fail(fmt.Errorf("cannot restore %s from %s: %w (move the file away to use the previous one, or start with --checkpoint-discard)", loaded.Name, s.backend.Location(), err))
			}
			scfg.Restore = c.Partitions
			restoredEpoch, restoreTook = c.Epoch, time.Since(t0)
			if eos && c.Epoch < committed {
				s.log.Error("the checkpoint of the last committed transaction is missing or damaged; resuming from an older one, so the rollups committed in between are sent again",
					"committed_epoch", committed, "restored_epoch", c.Epoch)
			}
			cnt := eng.Counters()
			s.log.Info("restored checkpoint", "file", loaded.Name, "location", s.backend.Location(), "epoch", c.Epoch,
				"written", c.Created.UTC().Format(time.RFC3339), "series", cnt.Series, "partitions", len(c.Partitions),
				"bytes", c.Size, "took", restoreTook.Round(time.Millisecond))
			loaded.Release()
		case ck.Require:
			return fail(fmt.Errorf("--checkpoint-require: no usable checkpoint in %s", s.backend.Location()))
		default:
			if eos && committed > 0 {
				s.log.Error("transactions were committed but no usable checkpoint is left; starting from scratch, so rollups already committed are sent again",
					"committed_epoch", committed, "location", s.backend.Location())
			}
			s.log.Info("no checkpoint to restore; starting from scratch", "location", s.backend.Location())
		}
	}
	src, err := NewSource(eng, scfg)
	if err != nil {
		return fail(err)
	}
	s.Source = src
	if ck != nil {
		ccfg := CheckpointerConfig{
			Backend: s.backend, BackendName: ck.BackendName, Keep: ck.Keep, Interval: ck.Interval,
			Delivery: AtLeastOnce, FlushOutput: out.Flush, Log: s.log, Hook: ck.Hook,
		}
		if eos {
			ccfg.Delivery, ccfg.TransactionalID, ccfg.FlushOutput = ExactlyOnce, ck.TransactionalID, nil
			ccfg.Hold, ccfg.Release, ccfg.Commit = out.Hold, out.Release, txn.Commit
		}
		if s.Checkpointer, err = NewCheckpointer(ccfg, eng, src, lastEpoch); err != nil {
			return fail(err)
		}
		if restoredEpoch > 0 {
			s.Checkpointer.SetRestored(restoredEpoch, restoreTook)
		}
	}

	s.Started = time.Now()
	var srcCtx, bgCtx, ckptCtx context.Context
	srcCtx, s.stopSrc = context.WithCancel(context.Background())
	bgCtx, s.stopBg = context.WithCancel(context.Background())
	ckptCtx, s.stopCkpt = context.WithCancel(context.Background())
	s.srcDone, s.bgDone, s.ckptDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.srcDone)
		src.Run(srcCtx)
	}()
	go func() {
		defer close(s.ckptDone)
		if s.Checkpointer != nil {
			if err := s.Checkpointer.Run(ckptCtx); err != nil {
				s.raise(err)
			}
		}
	}()
	go func() {
		defer close(s.bgDone)
		s.refreshLoop(bgCtx)
	}()
	c := &cfg.Engine
	s.log.Info("rollup running", "brokers", cfg.Brokers, "topics", scfg.Topics, "topic_regex", scfg.TopicRegex,
		"output_topics", out.Topics(), "format", ocfg.Format, "archives", len(c.Window.Archives),
		"shards", eng.Config().Shards, "lateness", c.Window.Lateness, "idle_timeout", c.IdleTimeout)
	return s, nil
}

// refreshLoop refreshes the output partition counts (topics may gain
// partitions while running: series spread over them from the next refresh
// on) and reports the series limit, at most once an interval.
func (s *Service) refreshLoop(ctx context.Context) {
	failing := false
	var limited uint64 // SeriesLimit at the last report
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.MetadataInterval):
		}
		if n := s.Engine.Counters().SeriesLimit; n > limited {
			s.log.Warn("series limit reached: points of new series dropped", "max_series", s.cfg.Engine.MaxSeries,
				"dropped_points", n-limited, "interval", s.cfg.MetadataInterval)
			limited = n
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.Output.Refresh(rctx)
		cancel()
		if err != nil && !failing && ctx.Err() == nil {
			s.log.Warn("cannot refresh output topic metadata; keeping the known partition counts", "error", err)
		}
		failing = err != nil
	}
}

// Wait runs the service until ctx ends, then stops it in order within
// ShutdownTimeout: stop fetching and apply what was fetched, write the
// final checkpoint (committing its transaction), stop the shards, wait for
// the output to be acknowledged. If a transaction fails first, it stops
// at once and returns the error: the restart resumes from the last
// committed checkpoint.
func (s *Service) Wait(ctx context.Context) error {
	defer s.stopBg()
	defer func() {
		if s.backend != nil {
			s.backend.Close()
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-s.fatal:
		return s.stopAfterFatal(err)
	}
	timeout := s.cfg.ShutdownTimeout
	deadline := time.Now().Add(timeout - s.cfg.ShutdownReserve)
	s.log.Info("shutting down: stopping fetches", "timeout", timeout)
	s.notify("STOPPING=1")
	// Whatever happens below, the totals go to the log.
	defer func() {
		st := s.Output.Stats()
		c := s.Engine.Counters()
		s.log.Info("stopped", "uptime", time.Since(s.Started).Round(time.Second), "summary", c.Summary(),
			"produce_errors", st.Errors, "malformed_messages_suppressed", s.Source.MalformedSuppressed())
	}()
	t0 := time.Now()
	s.stopSrc()
	select {
	case <-s.srcDone:
	case <-time.After(time.Until(deadline)):
		return s.stuck("fetched records not applied", timeout)
	}
	s.log.Info("fetched records applied", "took", time.Since(t0).Round(time.Millisecond))
	s.stopCkpt()
	<-s.ckptDone // a checkpoint in progress gives up at once
	ckptFailed := false
	if s.Checkpointer != nil {
		// The final checkpoint: the next start carries the open windows
		// on, and emits nothing partial.
		t0 = time.Now()
		fctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := s.Checkpointer.Take(fctx)
		cancel()
		if err != nil {
			ckptFailed = true
			s.log.Error("final checkpoint not written; the next start resumes from the previous one and re-reads from there", "error", err)
		} else {
			s.log.Info("final checkpoint written", "took", time.Since(t0).Round(time.Millisecond))
		}
	}
	t0 = time.Now()
	stopEngine := s.Engine.Stop
	if s.cfg.FlushOnExit {
		stopEngine = s.Engine.Close
	}
	// The shards may be blocked producing into a full buffer while the
	// brokers are down: bound the wait; closing the client then fails
	// what is still buffered.
	engDone := make(chan error, 1)
	go func() { engDone <- stopEngine() }()
	select {
	case err := <-engDone:
		if err != nil {
			s.log.Error("engine stop", "error", err)
		}
	case <-time.After(time.Until(deadline)):
		return s.stuck("shards not stopped", timeout)
	}
	flushCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := s.Output.Flush(flushCtx)
	st := s.Output.Stats()
	if err != nil {
		s.log.Error("output not fully acknowledged before the shutdown timeout; those rollups may be lost",
			"in_flight_records", st.InFlight, "error", err)
	} else {
		s.log.Info("output flushed", "took", time.Since(t0).Round(time.Millisecond), "records", st.Records)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %d output records not acknowledged within the shutdown timeout %s (their rollups may be lost): %w", st.InFlight, timeout, err)
	}
	if ckptFailed {
		return errors.New("shutdown: the final checkpoint was not written (see the log); the next start resumes from the previous one")
	}
	return nil
}

// stuck reports a shutdown that ran out of time at step what: it names the
// likely cause (an output the brokers do not acknowledge holds the shards,
// and they the parsers), and counts and logs what is left undone.
func (s *Service) stuck(what string, timeout time.Duration) error {
	st := s.Output.Stats()
	unapplied := s.Source.Unapplied()
	fate := "lost: without --checkpoint only --start earliest reads them again, with the whole topic"
	if s.Checkpointer != nil {
		fate = "read again from the last checkpoint at the next start"
	}
	s.log.Error("shutdown timed out: work left undone", "step", what, "timeout", timeout,
		"fetched_records_not_applied", unapplied, "their_fate", fate,
		"output_records_unacknowledged", st.InFlight, "output_records_failed", st.Errors)
	if st.InFlight > 0 {
		return fmt.Errorf("shutdown: %s within %s: the output is blocked (%d records not acknowledged; are the brokers reachable?); %d fetched records not applied, %s",
			what, timeout, st.InFlight, unapplied, fate)
	}
	return fmt.Errorf("shutdown: %s within %s; %d fetched records not applied, %s", what, timeout, unapplied, fate)
}

// stopAfterFatal stops a service whose transaction failed: nothing more is
// committed (the open transaction is aborted when the producer closes), and
// the error makes the process exit non-zero so that the supervisor
// restarts it from the last committed checkpoint, which brings the output
// back in step with the state.
func (s *Service) stopAfterFatal(cause error) error {
	s.log.Error("stopping: the output transaction failed; restart to resume from the last committed checkpoint", "error", cause)
	s.notify("STOPPING=1")
	s.stopSrc()
	s.stopCkpt()
	s.Output.Release() // shards waiting on held output must not block the stop
	engDone := make(chan error, 1)
	go func() {
		<-s.srcDone
		<-s.ckptDone
		engDone <- s.Engine.Stop()
	}()
	select {
	case <-engDone:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Error("engine did not stop in time after the failed transaction", "timeout", s.cfg.ShutdownTimeout)
	}
	return fmt.Errorf("output transaction failed (restart resumes from the last committed checkpoint): %w", cause)
}
