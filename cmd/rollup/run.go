package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/ckpt/hdfs"
	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

type runCmd struct {
	Brokers            []string      `help:"Kafka bootstrap brokers, host:port (repeatable or comma-separated)." default:"127.0.0.1:9092" env:"ROLLUP_BROKERS" placeholder:"HOST:PORT"`
	Topic              []string      `help:"Input topic (repeatable or comma-separated). Every partition is read directly, without a consumer group." env:"ROLLUP_TOPIC" xor:"input" placeholder:"NAME"`
	TopicRegex         string        `help:"Read every topic whose whole name matches this regular expression (RE2), including topics created while running. Instead of --topic." env:"ROLLUP_TOPIC_REGEX" xor:"input" placeholder:"REGEX"`
	InputFormat        string        `help:"Format of the input record values: influx (line protocol; a record may hold one line, as Telegraf writes them, or many)." default:"influx" enum:"influx" env:"ROLLUP_INPUT_FORMAT"`
	Precision          string        `help:"Unit of input timestamps: ns, us, ms or s." default:"ns" enum:"ns,us,ms,s" env:"ROLLUP_PRECISION"`
	Start              string        `help:"Where to start the partitions that exist at startup: earliest or latest. Partitions and topics found later always start at the earliest offset." default:"earliest" enum:"earliest,latest" env:"ROLLUP_START"`
	OutputTopic        string        `help:"Topic the rollups go to (archives may override it with :topic=NAME). It must exist." default:"rollups" env:"ROLLUP_OUTPUT_TOPIC" placeholder:"NAME"`
	OutputFormat       string        `help:"Rollup output: opentsdb (opentsdb-rpc-kafka Aggregate objects, a JSON array per record; avg and rollups OpenTSDB would reject are counted, not sent) or jsonl (one JSON object per line, many lines per record)." default:"opentsdb" enum:"opentsdb,jsonl" env:"ROLLUP_OUTPUT_FORMAT"`
	OutputRecordBytes  int           `help:"Most bytes in one output record value (a window bigger than this goes alone). Smaller records lose less when OpenTSDB rejects one." default:"65536" env:"ROLLUP_OUTPUT_RECORD_BYTES"`
	OpenTSDBMaxTags    int           `name:"opentsdb-max-tags" help:"Most tags an OpenTSDB rollup may carry; match tsd.storage.max_tags (minus one if the TSDs run with tsd.rollups.tag_raw)." default:"8" env:"ROLLUP_OPENTSDB_MAX_TAGS"`
	Archive            []string      `help:"Archive as STEP:AGG[,AGG...][:topic=NAME] (repeatable). STEP is a Go duration or Nd, a whole number of seconds, each a multiple of the finest; aggregators sum, count, min, max, first, last, avg; topic= sends this archive to its own topic instead of --output-topic." default:"1m:sum,count,min,max" sep:"none" env:"ROLLUP_ARCHIVE" placeholder:"STEP:AGGS"`
	Lateness           time.Duration `help:"How far behind its partition's newest point a point may be and still count. Later points are counted as late and dropped." default:"30s" env:"ROLLUP_LATENESS"`
	IdleTimeout        time.Duration `help:"A partition that delivers nothing for this long stops holding back the watermark; when all are idle, the wall clock closes windows (minus --lateness). 0 disables." default:"1m" env:"ROLLUP_IDLE_TIMEOUT"`
	MaxFuture          time.Duration `help:"Reject points more than this far ahead of the wall clock, so one bad clock cannot close everyone's windows." default:"1h" env:"ROLLUP_MAX_FUTURE"`
	MetricSeparator    string        `help:"Joins measurement and field into the metric name." default:"_" env:"ROLLUP_METRIC_SEPARATOR"`
	SeriesTTL          time.Duration `help:"Forget a series after this long without points (0: the coarsest step; negative: never)." default:"0s" env:"ROLLUP_SERIES_TTL"`
	Shards             int           `help:"Series shards, one goroutine each (default: GOMAXPROCS)." default:"0" env:"ROLLUP_SHARDS"`
	MaxSeries          int           `help:"Most live series (about 300 bytes each plus 64 per open window); points of new series beyond it are counted (rollup_points_dropped_total{reason=\"series_limit\"}) and dropped, known series keep working. 0: no limit." default:"10000000" env:"ROLLUP_MAX_SERIES"`
	Parsers            int           `help:"Parser goroutines, each reading a fixed group of partitions (default: GOMAXPROCS)." default:"0" env:"ROLLUP_PARSERS"`
	MetadataInterval   time.Duration `help:"How often to look for new partitions and topics (and output partition counts)." default:"5s" env:"ROLLUP_METADATA_INTERVAL"`
	ProduceBufferBytes int           `help:"Most output bytes buffered while the brokers are slow or down; when full, reading pauses (nothing is dropped)." default:"268435456" env:"ROLLUP_PRODUCE_BUFFER_BYTES"`
	MetricsListen      string        `help:"Address of the HTTP server for /metrics (Prometheus text) and /healthz; empty disables it." default:"127.0.0.1:9108" env:"ROLLUP_METRICS_LISTEN" placeholder:"HOST:PORT"`
	ShutdownTimeout    time.Duration `help:"On SIGTERM/SIGINT, how long to wait for fetched records to be applied, the final checkpoint to be written and produced records to be acknowledged before exiting anyway." default:"30s" env:"ROLLUP_SHUTDOWN_TIMEOUT"`
	Checkpoint         string        `help:"Where to keep checkpoints of the state (open windows, series, offsets, watermarks): a directory path, file:///path or hdfs://namenode:port/path (hdfs://nn1:port,nn2:port/path for an HA pair; the HDFS user is $HADOOP_USER_NAME or the process user). At start the newest valid one is restored and every partition resumes at its offset; a final one is written on SIGTERM. Empty: no checkpoints (a restart loses the open windows)." env:"ROLLUP_CHECKPOINT" placeholder:"DIR|URL"`
	CheckpointInterval time.Duration `help:"Time between checkpoints. Ingestion pauses for the in-memory copy only (see rollup_checkpoint_pause_seconds); the file is written in the background." default:"1m" env:"ROLLUP_CHECKPOINT_INTERVAL"`
	CheckpointKeep     int           `help:"Checkpoint files to keep, newest first (at least 2, so a damaged one has a predecessor)." default:"3" env:"ROLLUP_CHECKPOINT_KEEP"`
	CheckpointDiscard  bool          `help:"Start from scratch even if a checkpoint exists (its open windows are lost; partitions start per --start). Needed to change the archives of a service that has checkpoints." env:"ROLLUP_CHECKPOINT_DISCARD"`
	CheckpointRequire  bool          `help:"Refuse to start without a usable checkpoint (e.g. when the checkpoint disk is not mounted)." env:"ROLLUP_CHECKPOINT_REQUIRE"`
	Delivery           string        `help:"Output guarantee: exactly-once (the default with --checkpoint: the rollups between two checkpoints go out in one Kafka transaction with a marker in --marker-topic; read_committed readers see each rollup once through any crash, at each checkpoint, so --checkpoint-interval is also their latency) or at-least-once (the only choice without --checkpoint, and for brokers without transactions: after a crash, rollups since the last checkpoint are sent again)." enum:",exactly-once,at-least-once" default:"" env:"ROLLUP_DELIVERY"`
	TransactionalID    string        `help:"Transactional id of the output producer with exactly-once delivery; it must stay the same across restarts and differ between services. Default: derived from --checkpoint and the input topics." env:"ROLLUP_TRANSACTIONAL_ID" placeholder:"ID"`
	MarkerTopic        string        `help:"Topic of the commit markers of exactly-once delivery (created when missing: one partition, compacted; services with different transactional ids share it)." default:"rollup-commits" env:"ROLLUP_MARKER_TOPIC" placeholder:"NAME"`
	TransactionTimeout time.Duration `help:"Transaction timeout of exactly-once delivery; it must exceed --checkpoint-interval plus the time to write a checkpoint, and not exceed the brokers' transaction.max.timeout.ms (15m by default). Default: --checkpoint-interval + 1m." default:"0s" env:"ROLLUP_TRANSACTION_TIMEOUT"`
	DryRun             bool          `help:"Validate the configuration, print it and exit." env:"ROLLUP_DRY_RUN"`

	kafkaSecurity `embed:""`
}

// runConfig is the validated form of the flags.
type runConfig struct {
	kafkaOpts   []kgo.Opt // TLS and SASL
	engine      pipeline.Config
	topics      []string // output topic per archive
	topicRegex  *regexp.Regexp
	kafkaFormat string
	// flushOnExit closes open windows at shutdown (partial rollups):
	// for the demo. The service keeps them for the checkpoint instead.
	flushOnExit bool
	// exactlyOnce: transactional output; txnID and txnTimeout then set.
	exactlyOnce bool
	txnID       string
	txnTimeout  time.Duration
}

// parseArchiveRoute splits "STEP:AGGS[:topic=NAME]".
func parseArchiveRoute(spec, defTopic string) (window.Archive, string, error) {
	topic := defTopic
	if i := strings.Index(spec, ":topic="); i >= 0 {
		topic = spec[i+len(":topic="):]
		spec = spec[:i]
		if topic == "" {
			return window.Archive{}, "", fmt.Errorf("archive %q: empty topic=", spec)
		}
	}
	ar, err := window.ParseArchive(spec)
	return ar, topic, err
}

func (r *runCmd) config(log *slog.Logger) (*runConfig, error) {
	rc := &runConfig{kafkaFormat: r.OutputFormat}
	cfg := &rc.engine
	topicOf := map[string]string{}
	for _, spec := range r.Archive {
		ar, topic, err := parseArchiveRoute(spec, r.OutputTopic)
		if err != nil {
			return nil, err
		}
		cfg.Window.Archives = append(cfg.Window.Archives, ar)
		topicOf[ar.Name] = topic
	}
	cfg.Window.Lateness = r.Lateness
	cfg.Window.SeriesTTL = r.SeriesTTL
	prec, err := fastparse.ParsePrecision(r.Precision)
	if err != nil {
		return nil, err
	}
	cfg.Precision = prec
	cfg.MetricSeparator = r.MetricSeparator
	if r.MaxFuture <= 0 {
		return nil, errors.New("--max-future must be positive")
	}
	cfg.MaxFuture = r.MaxFuture
	cfg.IdleTimeout = r.IdleTimeout
	cfg.Shards = r.Shards
	cfg.MaxSeries = r.MaxSeries
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Validate sorted the archives finest first: look their topics up by name.
	for _, ar := range cfg.Window.Archives {
		rc.topics = append(rc.topics, topicOf[ar.Name])
	}
	if len(r.Topic) == 0 && r.TopicRegex == "" {
		return nil, errors.New("no input: give --topic or --topic-regex")
	}
	if r.TopicRegex != "" {
		re, err := regexp.Compile(r.TopicRegex)
		if err != nil {
			return nil, fmt.Errorf("--topic-regex: %w", err)
		}
		rc.topicRegex = re
	}
	if len(r.Brokers) == 0 {
		return nil, errors.New("no --brokers")
	}
	if rc.kafkaOpts, err = r.kafkaSecurity.opts(); err != nil {
		return nil, err
	}
	if r.OutputFormat == "opentsdb" {
		for _, ar := range cfg.Window.Archives {
			if err := emit.ValidateOpenTSDBInterval(ar.Name); err != nil {
				return nil, fmt.Errorf("archive %s: %w", ar.Name, err)
			}
			for _, g := range ar.Aggregators {
				if g == window.Avg {
					log.Warn("opentsdb output: avg is not sent (OpenTSDB derives it from sum and count at query time); make sure sum and count are configured",
						"archive", ar.Name)
				}
			}
		}
	}
	if _, err := emit.NewEncoder(r.OutputFormat, emit.Options{OpenTSDBMaxTags: r.OpenTSDBMaxTags}); err != nil {
		return nil, err
	}
	if r.OutputRecordBytes < 1024 {
		return nil, fmt.Errorf("--output-record-bytes %d is below the minimum of 1024", r.OutputRecordBytes)
	}
	if r.ProduceBufferBytes < 4*r.OutputRecordBytes {
		return nil, fmt.Errorf("--produce-buffer-bytes %d must hold at least 4 records of --output-record-bytes %d", r.ProduceBufferBytes, r.OutputRecordBytes)
	}
	if r.MetadataInterval < 100*time.Millisecond {
		return nil, fmt.Errorf("--metadata-interval %s is below the minimum of 100ms", r.MetadataInterval)
	}
	if r.ShutdownTimeout <= 0 {
		return nil, errors.New("--shutdown-timeout must be positive")
	}
	if r.Checkpoint == "" {
		if r.CheckpointRequire {
			return nil, errors.New("--checkpoint-require needs --checkpoint")
		}
		if r.Delivery == "exactly-once" {
			return nil, errors.New("--delivery exactly-once needs --checkpoint: the marker of each transaction names a checkpoint")
		}
	} else {
		if r.CheckpointInterval < 100*time.Millisecond {
			return nil, fmt.Errorf("--checkpoint-interval %s is below the minimum of 100ms", r.CheckpointInterval)
		}
		if r.CheckpointKeep < 2 {
			return nil, fmt.Errorf("--checkpoint-keep %d: keep at least 2 so a damaged checkpoint has a predecessor", r.CheckpointKeep)
		}
		if r.CheckpointDiscard && r.CheckpointRequire {
			return nil, errors.New("--checkpoint-discard and --checkpoint-require contradict each other")
		}
		rc.exactlyOnce = r.Delivery != "at-least-once"
		if rc.exactlyOnce {
			rc.txnID = r.TransactionalID
			if rc.txnID == "" {
				src := strings.Join(r.Topic, ",")
				if r.TopicRegex != "" {
					src = "regex:" + r.TopicRegex
				}
				rc.txnID = fmt.Sprintf("rollup-%016x", xxhash.Sum64String(r.Checkpoint+"\x00"+src))
			}
			rc.txnTimeout = r.TransactionTimeout
			if rc.txnTimeout == 0 {
				rc.txnTimeout = r.CheckpointInterval + time.Minute
			}
			if rc.txnTimeout < r.CheckpointInterval+10*time.Second {
				return nil, fmt.Errorf("--transaction-timeout %s must exceed --checkpoint-interval %s by at least 10s: a transaction stays open from one checkpoint to the next, and the broker aborts it after its timeout", rc.txnTimeout, r.CheckpointInterval)
			}
			if r.MarkerTopic == "" {
				return nil, errors.New("--marker-topic is empty")
			}
			if slices.Contains(r.Topic, r.MarkerTopic) || slices.Contains(rc.topics, r.MarkerTopic) {
				return nil, fmt.Errorf("--marker-topic %s is also an input or output topic", r.MarkerTopic)
			}
		}
		if strings.HasPrefix(r.Checkpoint, "hdfs://") {
			if err := hdfs.ValidateLocation(r.Checkpoint); err != nil {
				return nil, fmt.Errorf("--checkpoint: %w", err)
			}
		} else if i := strings.Index(r.Checkpoint, "://"); i >= 0 && !strings.HasPrefix(r.Checkpoint, "file://") {
			return nil, fmt.Errorf("--checkpoint %s: unknown scheme %q (valid: a directory path, file:///path, hdfs://namenode:port/path)", r.Checkpoint, r.Checkpoint[:i])
		}
	}
	return rc, nil
}

func (r *runCmd) Run(log *slog.Logger, std stdio) error {
	rc, err := r.config(log)
	if err != nil {
		return err
	}
	if r.DryRun {
		fmt.Fprintln(std.out, "configuration valid")
		for i, ar := range rc.engine.Window.Archives {
			fmt.Fprintf(std.out, "archive %s: %v -> topic %s\n", ar.Name, ar.Aggregators, rc.topics[i])
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, log, r, rc, nil)
}

// service is a running `rollup run`: what /metrics reads.
type service struct {
	engine *pipeline.Engine
	source *pipeline.Source
	output *emit.KafkaOutput
	ckpt   *pipeline.Checkpointer // nil without --checkpoint
	// ckptLocation is --checkpoint.
	ckptLocation string
	start        time.Time
}

// serve runs the service until ctx ends. ready, if not nil, receives the
// service once it consumes (tests use it).
func serve(ctx context.Context, log *slog.Logger, r *runCmd, rc *runConfig, ready chan<- *service) error {
	kafkaLog := kgoLogger(log)
	producer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.Brokers...),
		kgo.ClientID("rollup"),
		kgo.WithLogger(kafkaLog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedBytes(r.ProduceBufferBytes),
		kgo.MaxBufferedRecords(max(10000, r.ProduceBufferBytes/1024)),
		kgo.ProducerBatchMaxBytes(int32(max(1<<20, r.OutputRecordBytes+(64<<10)))),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MetadataMaxAge(r.MetadataInterval),
		kgo.MetadataMinAge(min(r.MetadataInterval, 5*time.Second)),
	}, append(rc.kafkaOpts, txnOpts(rc)...)...)...)
	if err != nil {
		return fmt.Errorf("cannot create Kafka producer: %w", err)
	}
	defer producer.Close()
	// A record the client gives up on is a lost rollup at-least-once; in
	// a transaction it makes the transaction unable to commit, so the
	// service stops and restarts from the last committed checkpoint.
	fatal := make(chan error, 1)
	raise := func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}
	outErrs := pipeline.NewThrottle(5, 10*time.Second)
	out, err := emit.NewKafkaOutput(emit.KafkaConfig{
		Client: producer, Format: rc.kafkaFormat, Options: emit.Options{OpenTSDBMaxTags: r.OpenTSDBMaxTags},
		Topics: rc.topics, RecordBytes: r.OutputRecordBytes,
		OnError: func(topic string, partition int32, err error) {
			if rc.exactlyOnce {
				raise(fmt.Errorf("output record to %s/%d failed inside a transaction: %w", topic, partition, err))
				return
			}
			if ok, suppressed := outErrs.Allow(time.Now()); ok {
				log.Error("output record lost: the client gave up producing it", "topic", topic, "partition", partition,
					"error", err, "suppressed_since_last", suppressed)
			}
		},
		MaxHeldBytes: r.ProduceBufferBytes,
	})
	if err != nil {
		return err
	}
	// The output topics must exist before a rollup can be routed; wait for
	// the brokers rather than exit, as systemd would only restart us.
	for attempt := 1; ; attempt++ {
		err := out.Refresh(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("waiting for output topics", "topics", out.Topics(), "brokers", r.Brokers, "attempt", attempt, "error", err)
			sdNotify("STATUS=waiting for output topics: " + err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
	}

	consumer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.Brokers...),
		kgo.ClientID("rollup"),
		kgo.WithLogger(kafkaLog),
		kgo.MetadataMaxAge(r.MetadataInterval),
		kgo.MetadataMinAge(min(r.MetadataInterval, 5*time.Second)),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, rc.kafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("cannot create Kafka consumer: %w", err)
	}
	defer consumer.Close()

	var txn *pipeline.Transactions
	var committed uint64
	if rc.exactlyOnce {
		readerOpts := append([]kgo.Opt{kgo.SeedBrokers(r.Brokers...), kgo.ClientID("rollup"), kgo.WithLogger(kafkaLog)}, rc.kafkaOpts...)
		if txn, err = pipeline.NewTransactions(producer, rc.txnID, r.MarkerTopic, readerOpts); err != nil {
			return err
		}
		// Fences a previous instance (aborting its unfinished
		// transaction) and reads the last committed epoch.
		for attempt := 1; ; attempt++ {
			ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			committed, err = txn.Init(ictx)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if attempt == 1 || attempt%10 == 0 {
				log.Warn("waiting to initialize transactions", "transactional_id", rc.txnID, "marker_topic", r.MarkerTopic, "attempt", attempt, "error", err)
				sdNotify("STATUS=waiting to initialize transactions: " + err.Error())
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
			}
		}
		log.Info("exactly-once delivery", "transactional_id", rc.txnID, "marker_topic", r.MarkerTopic,
			"committed_epoch", committed, "transaction_timeout", rc.txnTimeout,
			"note", "read_committed readers see rollups at each checkpoint (--checkpoint-interval)")
	}

	cfg := rc.engine
	eng, err := pipeline.NewWithOutput(cfg, pipeline.KafkaOutput(out))
	if err != nil {
		return err
	}
	scfg := pipeline.SourceConfig{
		Client: consumer, Topics: r.Topic, TopicRegex: rc.topicRegex, StartLatest: r.Start == "latest",
		MetadataInterval: r.MetadataInterval, Parsers: r.Parsers, Log: log,
	}
	var backend ckpt.Backend
	var lastEpoch, restoredEpoch uint64
	var restoreTook time.Duration
	if r.Checkpoint == "" {
		log.Warn("no --checkpoint: the state is not durable; a restart loses every open window and re-reads or skips input per --start")
	} else {
		t0 := time.Now()
		var loaded *pipeline.Loaded
		var highest uint64
		var prune func(context.Context, ckpt.Backend) error
		if rc.exactlyOnce {
			prune = func(ctx context.Context, b ckpt.Backend) error {
				return pipeline.PruneUncommitted(ctx, b, committed, rc.txnID, log)
			}
		}
		backend, loaded, highest, err = loadCheckpoint(ctx, log, r.Checkpoint, prune)
		if err != nil {
			eng.Stop()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer backend.Close()
		lastEpoch = max(highest, committed)
		switch {
		case loaded != nil && r.CheckpointDiscard:
			log.Warn("--checkpoint-discard: starting from scratch; the checkpoint's open windows are dropped", "file", loaded.Name)
			loaded.Release()
		case loaded != nil:
			ck := loaded.Checkpoint
			if diff := pipeline.ConfigDiff(ck, eng.Config()); diff != "" {
				loaded.Release()
				eng.Stop()
				return fmt.Errorf("checkpoint %s in %s was written with other archives:\n%sstart with the archives it was written with, or with --checkpoint-discard to start from scratch (its open windows are lost)", loaded.Name, backend.Location(), diff)
			}
			if err := eng.Restore(ck); err != nil {
				loaded.Release()
				eng.Stop()
				return fmt.Errorf("cannot restore %s from %s: %w (move the file away to use the previous one, or start with --checkpoint-discard)", loaded.Name, backend.Location(), err)
			}
			scfg.Restore = ck.Partitions
			restoredEpoch, restoreTook = ck.Epoch, time.Since(t0)
			if rc.exactlyOnce && ck.Epoch < committed {
				log.Error("the checkpoint of the last committed transaction is missing or damaged; resuming from an older one, so the rollups committed in between are sent again",
					"committed_epoch", committed, "restored_epoch", ck.Epoch)
			}
			c := eng.Counters()
			log.Info("restored checkpoint", "file", loaded.Name, "location", backend.Location(), "epoch", ck.Epoch,
				"written", ck.Created.UTC().Format(time.RFC3339), "series", c.Series, "partitions", len(ck.Partitions),
				"bytes", ck.Size, "took", restoreTook.Round(time.Millisecond))
			loaded.Release()
		case r.CheckpointRequire:
			eng.Stop()
			return fmt.Errorf("--checkpoint-require: no usable checkpoint in %s", backend.Location())
		default:
			if rc.exactlyOnce && committed > 0 {
				log.Error("transactions were committed but no usable checkpoint is left; starting from scratch, so rollups already committed are sent again",
					"committed_epoch", committed, "location", backend.Location())
			}
			log.Info("no checkpoint to restore; starting from scratch", "location", backend.Location())
		}
	}
	src, err := pipeline.NewSource(eng, scfg)
	if err != nil {
		eng.Stop()
		return err
	}
	svc := &service{engine: eng, source: src, output: out, ckptLocation: r.Checkpoint, start: time.Now()}
	if backend != nil {
		ccfg := pipeline.CheckpointerConfig{
			Backend: backend, BackendName: backendName(r.Checkpoint), Keep: r.CheckpointKeep,
			Interval: r.CheckpointInterval, Delivery: pipeline.AtLeastOnce, Log: log,
			FlushOutput: out.Flush,
		}
		if rc.exactlyOnce {
			ccfg.Delivery, ccfg.TransactionalID, ccfg.FlushOutput = pipeline.ExactlyOnce, rc.txnID, nil
			ccfg.Hold, ccfg.Release, ccfg.Commit = out.Hold, out.Release, txn.Commit
		}
		ccfg.Hook = crashHook(log)
		svc.ckpt, err = pipeline.NewCheckpointer(ccfg, eng, src, lastEpoch)
		if err != nil {
			eng.Stop()
			return err
		}
		if restoredEpoch > 0 {
			svc.ckpt.SetRestored(restoredEpoch, restoreTook)
		}
	}

	var httpSrv *http.Server
	if r.MetricsListen != "" {
		ln, err := net.Listen("tcp", r.MetricsListen)
		if err != nil {
			eng.Stop()
			return fmt.Errorf("cannot listen for /metrics on %s: %w (is another rollup running? change --metrics-listen)", r.MetricsListen, err)
		}
		httpSrv = &http.Server{Handler: svc.handler(), ReadHeaderTimeout: 10 * time.Second}
		go httpSrv.Serve(ln)
		log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	}

	srcCtx, stopSrc := context.WithCancel(context.Background())
	srcDone := make(chan struct{})
	go func() {
		defer close(srcDone)
		src.Run(srcCtx)
	}()
	ckptCtx, stopCkpt := context.WithCancel(context.Background())
	defer stopCkpt()
	ckptDone := make(chan struct{})
	go func() {
		defer close(ckptDone)
		if svc.ckpt != nil {
			if err := svc.ckpt.Run(ckptCtx); err != nil {
				raise(err)
			}
		}
	}()
	log.Info("rollup running", "brokers", r.Brokers, "topics", r.Topic, "topic_regex", r.TopicRegex,
		"output_topics", out.Topics(), "format", rc.kafkaFormat, "archives", len(cfg.Window.Archives),
		"shards", cfg.Shards, "lateness", cfg.Window.Lateness, "idle_timeout", cfg.IdleTimeout)
	// Output topics may gain partitions while running: series spread over
	// them from the next refresh on. The same loop reports the series
	// limit, at most once an interval.
	go func() {
		failing := false
		var limited uint64 // SeriesLimit at the last report
		for {
			select {
			case <-srcCtx.Done():
				return
			case <-time.After(r.MetadataInterval):
			}
			if n := eng.Counters().SeriesLimit; n > limited {
				log.Warn("series limit reached: points of new series dropped", "max_series", r.MaxSeries,
					"dropped_points", n-limited, "interval", r.MetadataInterval)
				limited = n
			}
			rctx, cancel := context.WithTimeout(srcCtx, 30*time.Second)
			err := out.Refresh(rctx)
			cancel()
			if err != nil && !failing && srcCtx.Err() == nil {
				log.Warn("cannot refresh output topic metadata; keeping the known partition counts", "error", err)
			}
			failing = err != nil
		}
	}()
	if _, err := sdNotify("READY=1\nSTATUS=consuming"); err != nil {
		log.Warn("systemd notification failed", "error", err)
	}
	if ready != nil {
		ready <- svc
	}
	if iv, ok := sdWatchdogInterval(); ok {
		go svc.watchdog(ctx, log, iv)
	}

	select {
	case <-ctx.Done():
	case err := <-fatal:
		return stopAfterFatal(log, err, r.ShutdownTimeout, stopSrc, srcDone, stopCkpt, ckptDone, eng, out)
	}
	deadline := time.Now().Add(r.ShutdownTimeout)
	log.Info("shutting down: stopping fetches", "timeout", r.ShutdownTimeout)
	sdNotify("STOPPING=1")
	t0 := time.Now()
	stopSrc()
	select {
	case <-srcDone:
	case <-time.After(time.Until(deadline)):
		return fmt.Errorf("shutdown: fetched records not applied within %s", r.ShutdownTimeout)
	}
	log.Info("fetched records applied", "took", time.Since(t0).Round(time.Millisecond))
	stopCkpt()
	<-ckptDone // a checkpoint in progress gives up at once
	ckptFailed := false
	if svc.ckpt != nil {
		// The final checkpoint: the next start carries the open windows
		// on, and emits nothing partial.
		t0 = time.Now()
		fctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := svc.ckpt.Take(fctx)
		cancel()
		if err != nil {
			ckptFailed = true
			log.Error("final checkpoint not written; the next start resumes from the previous one and re-reads from there", "error", err)
		} else {
			log.Info("final checkpoint written", "took", time.Since(t0).Round(time.Millisecond))
		}
	}
	t0 = time.Now()
	stopEngine := eng.Stop
	if rc.flushOnExit {
		stopEngine = eng.Close
	}
	// The shards may be blocked producing into a full buffer while the
	// brokers are down: bound the wait, the deferred client Close then
	// fails what is still buffered.
	engDone := make(chan error, 1)
	go func() { engDone <- stopEngine() }()
	select {
	case err := <-engDone:
		if err != nil {
			log.Error("engine stop", "error", err)
		}
	case <-time.After(time.Until(deadline)):
		st := out.Stats()
		return fmt.Errorf("shutdown: shards still waiting on the output after %s (%d records in flight; are the brokers reachable?)",
			r.ShutdownTimeout, st.InFlight)
	}
	flushCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err = out.Flush(flushCtx)
	st := out.Stats()
	if err != nil {
		log.Error("output not fully acknowledged before the shutdown timeout; those rollups may be lost",
			"in_flight_records", st.InFlight, "error", err)
	} else {
		log.Info("output flushed", "took", time.Since(t0).Round(time.Millisecond), "records", st.Records)
	}
	if httpSrv != nil {
		shutCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		httpSrv.Shutdown(shutCtx)
		cancel()
	}
	c := eng.Counters()
	log.Info("stopped", "uptime", time.Since(svc.start).Round(time.Second), "summary", c.Summary(),
		"produce_errors", st.Errors, "malformed_messages_suppressed", src.MalformedSuppressed())
	if err != nil {
		return fmt.Errorf("shutdown: %d output records not acknowledged within --shutdown-timeout %s (their rollups may be lost): %w", st.InFlight, r.ShutdownTimeout, err)
	}
	if ckptFailed {
		return errors.New("shutdown: the final checkpoint was not written (see the log); the next start resumes from the previous one")
	}
	return nil
}

// stopAfterFatal stops a service whose transaction failed: nothing more is
// committed (the open transaction is aborted when the producer closes), and
// the error makes the process exit non-zero so that the supervisor
// restarts it from the last committed checkpoint, which brings the output
// back in step with the state.
func stopAfterFatal(log *slog.Logger, cause error, timeout time.Duration, stopSrc func(), srcDone <-chan struct{},
	stopCkpt func(), ckptDone <-chan struct{}, eng *pipeline.Engine, out *emit.KafkaOutput) error {
	log.Error("stopping: the output transaction failed; restart to resume from the last committed checkpoint", "error", cause)
	sdNotify("STOPPING=1")
	deadline := time.After(timeout)
	stopSrc()
	stopCkpt()
	out.Release() // shards waiting on held output must not block the stop
	engDone := make(chan error, 1)
	go func() {
		<-srcDone
		<-ckptDone
		engDone <- eng.Stop()
	}()
	select {
	case <-engDone:
	case <-deadline:
		log.Error("engine did not stop in time after the failed transaction", "timeout", timeout)
	}
	return fmt.Errorf("output transaction failed (restart resumes from the last committed checkpoint): %w", cause)
}

// crashHook reads ROLLUP_TEST_KILL_AT=POINT:N (POINT: cut, written or
// committed; see pipeline.CheckpointerConfig.Hook): the process kills
// itself with SIGKILL the Nth time a checkpoint reaches POINT. It exists
// for the chaos tests, which need crashes at the moments that matter
// most; it is not a flag because no operator should set it.
func crashHook(log *slog.Logger) func(string) {
	spec := os.Getenv("ROLLUP_TEST_KILL_AT")
	if spec == "" {
		return nil
	}
	point, nStr, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 1 {
		log.Error("ignoring ROLLUP_TEST_KILL_AT: want POINT:N", "value", spec)
		return nil
	}
	log.Warn("fault injection: this process will kill itself", "point", point, "at", n)
	var mu sync.Mutex
	seen := 0
	return func(p string) {
		if p != point {
			return
		}
		mu.Lock()
		seen++
		hit := seen == n
		mu.Unlock()
		if hit {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}

// txnOpts are the producer options of exactly-once delivery.
func txnOpts(rc *runConfig) []kgo.Opt {
	if !rc.exactlyOnce {
		return nil
	}
	return []kgo.Opt{kgo.TransactionalID(rc.txnID), kgo.TransactionTimeout(rc.txnTimeout)}
}

// loadCheckpoint opens the checkpoint backend at loc and reads its newest
// valid checkpoint (nil if none). A backend that cannot be reached (the
// namenode down, the disk not mounted yet) is waited for until ctx ends:
// starting without the state it holds would lose or repeat rollups, and
// systemd would only restart us.
func loadCheckpoint(ctx context.Context, log *slog.Logger, loc string, prune func(context.Context, ckpt.Backend) error) (ckpt.Backend, *pipeline.Loaded, uint64, error) {
	for attempt := 1; ; attempt++ {
		b, err := openCheckpointBackend(loc)
		if err == nil && prune != nil {
			if err = prune(ctx, b); err != nil {
				b.Close()
			}
		}
		if err == nil {
			var loaded *pipeline.Loaded
			var highest uint64
			if loaded, highest, err = pipeline.LoadNewest(ctx, b, math.MaxUint64, log); err == nil {
				return b, loaded, highest, nil
			}
			b.Close()
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("waiting for the checkpoint location", "location", loc, "attempt", attempt, "error", err)
			sdNotify("STATUS=waiting for the checkpoint location: " + err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, nil, 0, ctx.Err()
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
	}
}

// openCheckpointBackend opens the backend a --checkpoint location names.
func openCheckpointBackend(loc string) (ckpt.Backend, error) {
	if strings.HasPrefix(loc, "hdfs://") {
		return hdfs.New(loc, hdfs.Options{})
	}
	if i := strings.Index(loc, "://"); i >= 0 && !strings.HasPrefix(loc, "file://") {
		return nil, fmt.Errorf("--checkpoint %s: unknown scheme %q (valid: a directory path, file:///path, hdfs://namenode:port/path)", loc, loc[:i])
	}
	return ckpt.NewFS(loc)
}

// backendName labels the checkpoint metrics.
func backendName(loc string) string {
	if strings.HasPrefix(loc, "hdfs://") {
		return "hdfs"
	}
	return "fs"
}

// watchdog pings systemd while the shards answer: a shard that does not
// answer within the interval is stuck, unless it waits on a slow broker
// (records in flight), which is backpressure, logged elsewhere.
func (s *service) watchdog(ctx context.Context, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, every)
		alive := s.engine.Ping(pctx) == nil || s.output.Stats().InFlight > 0
		cancel()
		if alive {
			if _, err := sdNotify("WATCHDOG=1"); err != nil {
				log.Warn("systemd watchdog notification failed", "error", err)
			}
		} else if ctx.Err() == nil {
			log.Error("shards did not answer within the watchdog interval; not pinging systemd", "interval", every)
		}
	}
}

// kgoLogger sends the Kafka client's warnings and errors (connection
// failures, retries) to slog; its info and debug chatter only at debug.
func kgoLogger(log *slog.Logger) kgo.Logger {
	level := kgo.LogLevelWarn
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = kgo.LogLevelDebug
	}
	return &slogKgo{log: log.With("component", "kafka"), level: level}
}

type slogKgo struct {
	log   *slog.Logger
	level kgo.LogLevel
}

func (l *slogKgo) Level() kgo.LogLevel { return l.level }

func (l *slogKgo) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	l.log.Log(context.Background(), sl, msg, keyvals...)
}
