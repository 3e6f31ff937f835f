package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
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
	Brokers                   []string      `help:"Kafka bootstrap brokers, host:port (repeatable or comma-separated) (default ${default})." default:"127.0.0.1:9092" env:"ROLLUP_BROKERS" placeholder:"HOST:PORT"`
	Topic                     []string      `help:"Input topic, as NAME or NAME:FORMAT for a topic whose format differs from --input-format (repeatable or comma-separated). Every partition is read directly, without a consumer group." env:"ROLLUP_TOPIC" xor:"input" placeholder:"NAME"`
	TopicRegex                string        `help:"Read every topic whose whole name matches this regular expression (RE2), including topics created while running. Instead of --topic." env:"ROLLUP_TOPIC_REGEX" xor:"input" placeholder:"REGEX"`
	InputFormat               string        `help:"Format of the input record values: ${input_formats_help}." default:"influx" enum:"${input_formats}" env:"ROLLUP_INPUT_FORMAT"`
	InputMetrictankOrg        uint32        `name:"input-metrictank-org" help:"With --input-format metrictank: the org of points in format 0x03, which carry none (metrictank's org-id)." default:"1" env:"ROLLUP_INPUT_METRICTANK_ORG"`
	InputOpenTSDBMaxTags      int           `name:"input-opentsdb-max-tags" help:"With --input-format opentsdb or opentsdb-keyed: most tags a put line may have (OpenTSDB's tsd.storage.max_tags)." default:"8" env:"ROLLUP_INPUT_OPENTSDB_MAX_TAGS"`
	InputOpenTSDBSpecialChars string        `name:"input-opentsdb-special-chars" help:"With --input-format opentsdb or opentsdb-keyed: more characters allowed in metrics and tags (OpenTSDB's tsd.core.tag.allow_specialchars)." default:"" env:"ROLLUP_INPUT_OPENTSDB_SPECIAL_CHARS"`
	CarbonSchemas             string        `name:"carbon-schemas" help:"With --input-format carbon: a storage-schemas.conf, read as metrictank reads it (the first retention of the first matching pattern is a series' raw interval); a warning names every pattern whose raw interval is longer than the finest archive step." env:"ROLLUP_CARBON_SCHEMAS" placeholder:"FILE" type:"existingfile"`
	Precision                 string        `help:"Unit of line-protocol timestamps: ns, us, ms or s (OpenTSDB timestamps are seconds or milliseconds by magnitude)." default:"ns" enum:"ns,us,ms,s" env:"ROLLUP_PRECISION"`
	DefaultTime               string        `name:"default-time" help:"Time of lines without a timestamp: record (their Kafka record's timestamp, so that a replay gives what live gave; now where the record has none), now (the time they are read), or a fixed time as Unix nanoseconds or RFC 3339 (default ${default})." default:"record" env:"ROLLUP_DEFAULT_TIME" placeholder:"record|now|TIME"`
	Start                     string        `help:"Where to start the partitions that exist at startup: earliest or latest. Partitions and topics found later always start at the earliest offset." default:"earliest" enum:"earliest,latest" env:"ROLLUP_START"`
	OutputTopic               string        `help:"Topic the rollups go to (archives may override it with :topic=NAME). It must exist (default ${default})." default:"rollups" env:"ROLLUP_OUTPUT_TOPIC" placeholder:"NAME"`
	CreateTopics              bool          `help:"Create the output topics that do not exist, with retention.ms set to the longest ttl= of their archives; warn about existing ones that keep rollups for less than that. Existing topics are never changed." env:"ROLLUP_CREATE_TOPICS"`
	CreateTopicsPartitions    int32         `help:"Partitions of the topics --create-topics creates (series spread over them by hash)." default:"6" env:"ROLLUP_CREATE_TOPICS_PARTITIONS"`
	OutputFormat              string        `help:"Rollup output: ${output_formats_help}." default:"opentsdb" enum:"${output_formats}" env:"ROLLUP_OUTPUT_FORMAT"`
	InfluxStepTag             string        `name:"influx-step-tag" help:"With --output-format influx: the tag that carries the archive step (e.g. step=1m)." default:"step" env:"ROLLUP_INFLUX_STEP_TAG"`
	CarbonNoStep              bool          `name:"carbon-no-step" help:"With --output-format carbon: leave the step out of the path (<metric>.<aggregator>), e.g. when each archive goes to its own Graphite." env:"ROLLUP_CARBON_NO_STEP"`
	MetrictankOrg             uint32        `name:"metrictank-org" help:"With metrictank output: the org id of every series." default:"1" env:"ROLLUP_METRICTANK_ORG"`
	MetrictankScheme          string        `name:"metrictank-partition-scheme" help:"With metrictank output: how series spread over the output partitions; it must be the metrictank cluster's metrics-partition-scheme." default:"bySeries" enum:"bySeries,byOrg,bySeriesWithTags,bySeriesWithTagsFnv" env:"ROLLUP_METRICTANK_PARTITION_SCHEME"`
	MdmAnnounceInterval       time.Duration `name:"mdm-announce-interval" help:"With metrictank output: how often a series' MetricData is sent again (a metrictank node that restarts learns the series anew), as metrictank's publisher does." default:"1h" env:"ROLLUP_MDM_ANNOUNCE_INTERVAL"`
	OutputRecordBytes         int           `help:"Most bytes in one output record value (a window bigger than this goes alone). Smaller records lose less when OpenTSDB rejects one." default:"65536" env:"ROLLUP_OUTPUT_RECORD_BYTES"`
	OpenTSDBMaxTags           int           `name:"opentsdb-max-tags" help:"Most tags an OpenTSDB rollup may carry; match tsd.storage.max_tags (minus one if the TSDs run with tsd.rollups.tag_raw)." default:"8" env:"ROLLUP_OPENTSDB_MAX_TAGS"`
	Archive                   []string      `help:"Archive as STEP:AGG[,AGG...][:topic=NAME][:format=NAME][:ttl=DURATION] (repeatable, or several separated by ;). STEP is a Go duration or Nd, a whole number of seconds, each a multiple of the finest; aggregators sum, count, min, max, first, last, avg; topic= sends this archive to its own topic instead of --output-topic, format= writes it in its own format instead of --output-format (one format per topic); ttl= is how long its store keeps it (with --create-topics, the topic's retention) (default ${default})." default:"1m:sum,count,min,max" sep:";" env:"ROLLUP_ARCHIVE" placeholder:"STEP:AGGS"`
	Lateness                  time.Duration `help:"How far behind its partition's newest point a point may be and still count. Later points are counted as late and dropped." default:"30s" env:"ROLLUP_LATENESS"`
	IdleTimeout               time.Duration `help:"A partition that delivers nothing for this long stops holding back the watermark; when all are idle, the wall clock closes windows (minus --lateness). 0 disables." default:"1m" env:"ROLLUP_IDLE_TIMEOUT"`
	FetchMaxWait              time.Duration `name:"fetch-max-wait" help:"How long a broker may hold a fetch that has no records (Kafka's fetch.max.wait.ms). A broker that answers no fetch for 4 times this is taken to be unreachable, and no partition counts as idle meanwhile; --idle-timeout must leave room for that." default:"500ms" env:"ROLLUP_FETCH_MAX_WAIT"`
	MaxSkew                   time.Duration `name:"max-skew" help:"When catching up, a partition whose watermark runs more than this ahead of the slowest partition still catching up is paused until that one catches up, so a backlog read unevenly keeps a bounded number of windows open (exported as rollup_partitions_paused). 0: four finest steps; negative: never pause." default:"0s" env:"ROLLUP_MAX_SKEW"`
	FetchMaxPartitionBytes    int32         `name:"fetch-max-partition-bytes" help:"Most bytes one fetch returns per partition (Kafka's max.partition.fetch.bytes); also how far --max-skew can overshoot: a few fetches already handed to the parsers." default:"1048576" env:"ROLLUP_FETCH_MAX_PARTITION_BYTES"`
	MaxFuture                 time.Duration `help:"Reject points more than this far ahead of the wall clock, so one bad clock cannot close everyone's windows." default:"1h" env:"ROLLUP_MAX_FUTURE"`
	MetricSeparator           string        `help:"Joins measurement and field into the metric name." default:"_" env:"ROLLUP_METRIC_SEPARATOR"`
	SeriesTTL                 time.Duration `help:"Forget a series after this long without points (0: the coarsest step; negative: never)." default:"0s" env:"ROLLUP_SERIES_TTL"`
	Shards                    int           `help:"Series shards, one goroutine each (default: GOMAXPROCS)." default:"0" env:"ROLLUP_SHARDS"`
	RouteBy                   string        `name:"route-by" help:"How series are spread over shards: series (by each series' whole key: an even spread whatever the tags) or tags (by tag set: a line's points stay together, about 10 % more points per second on two shards with Telegraf data, but every series of one tag set lands in one shard, and --max-series is enforced per shard as its share). Only matters with more than one shard; a restore places series by the current setting." default:"series" enum:"series,tags" env:"ROLLUP_ROUTE_BY"`
	MaxSeries                 int           `help:"Most live series (about 300 bytes each plus 64 per open window); points of new series beyond it are counted (rollup_points_dropped_total{reason=\"series_limit\"}) and dropped, known series keep working. 0: no limit." default:"10000000" env:"ROLLUP_MAX_SERIES"`
	MaxFieldsPerLine          int           `name:"max-fields-per-line" help:"A line with more fields is skipped and counted (rollup_lines_malformed_total{reason=\"too_many_fields\"}): one line must not create unbounded series." default:"1000" env:"ROLLUP_MAX_FIELDS_PER_LINE"`
	Parsers                   int           `help:"Parser goroutines, each reading a fixed group of partitions (default: GOMAXPROCS)." default:"0" env:"ROLLUP_PARSERS"`
	MetadataInterval          time.Duration `help:"How often to look for new partitions and topics (and output partition counts)." default:"5s" env:"ROLLUP_METADATA_INTERVAL"`
	ProduceBufferBytes        int           `help:"Most output bytes buffered while the brokers are slow or down; when full, reading pauses (nothing is dropped)." default:"268435456" env:"ROLLUP_PRODUCE_BUFFER_BYTES"`
	OutputCompression         string        `help:"Compression of the output record batches: none, gzip, snappy, lz4 or zstd (default ${default}). Snappy takes about an eighth of the CPU of a backlog drain with jsonl output; none saves about half of that (the bigger writes cost the rest) at several times the bytes on the network and on the brokers." default:"snappy" enum:"none,gzip,snappy,lz4,zstd" env:"ROLLUP_OUTPUT_COMPRESSION"`
	ShutdownTimeout           time.Duration `help:"On SIGTERM/SIGINT, how long to wait for fetched records to be applied, the final checkpoint to be written and produced records to be acknowledged before exiting anyway." default:"30s" env:"ROLLUP_SHUTDOWN_TIMEOUT"`
	Checkpoint                string        `help:"Where to keep checkpoints of the state (open windows, series, offsets, watermarks): a directory path, file:///path or hdfs://namenode:port/path (hdfs://nn1:port,nn2:port/path for an HA pair; the HDFS user is $HADOOP_USER_NAME or the process user). At start the newest valid one is restored and every partition resumes at its offset; a final one is written on SIGTERM. Empty: no checkpoints (a restart loses the open windows)." env:"ROLLUP_CHECKPOINT" placeholder:"DIR|URL"`
	CheckpointInterval        time.Duration `help:"Time between checkpoints. Ingestion pauses for the in-memory copy only (see rollup_checkpoint_pause_seconds); the file is written in the background." default:"1m" env:"ROLLUP_CHECKPOINT_INTERVAL"`
	CheckpointKeep            int           `help:"Checkpoint files to keep, newest first (at least 2, so a damaged one has a predecessor)." default:"3" env:"ROLLUP_CHECKPOINT_KEEP"`
	CheckpointDiscard         bool          `help:"Start from scratch even if a checkpoint exists (its open windows are lost; partitions start per --start). Needed to change the archives of a service that has checkpoints." env:"ROLLUP_CHECKPOINT_DISCARD"`
	CheckpointRequire         bool          `help:"Refuse to start without a usable checkpoint (e.g. when the checkpoint disk is not mounted)." env:"ROLLUP_CHECKPOINT_REQUIRE"`
	Delivery                  string        `help:"Output guarantee: exactly-once (the default with --checkpoint: the rollups between two checkpoints go out in one Kafka transaction with a marker in --marker-topic; read_committed readers see each rollup once through any crash, at each checkpoint, so --checkpoint-interval is also their latency) or at-least-once (the only choice without --checkpoint, and for brokers without transactions: after a crash, rollups since the last checkpoint are sent again)." enum:",exactly-once,at-least-once" default:"" env:"ROLLUP_DELIVERY"`
	TransactionalID           string        `help:"Transactional id of the output producer with exactly-once delivery; it must stay the same across restarts and differ between services. Default: derived from --checkpoint and the input topics." env:"ROLLUP_TRANSACTIONAL_ID" placeholder:"ID"`
	MarkerTopic               string        `help:"Topic of the commit markers of exactly-once delivery (created when missing: one partition, compacted). Services with different transactional ids may share it, but a starting service reads it up to its own marker with read_committed, so another service's open transaction can delay its start by up to that service's --checkpoint-interval; give each its own topic to avoid that (default ${default})." default:"rollup-commits" env:"ROLLUP_MARKER_TOPIC" placeholder:"NAME"`
	TransactionTimeout        time.Duration `help:"Transaction timeout of exactly-once delivery; it must exceed --checkpoint-interval plus the time to write a checkpoint, and not exceed the brokers' transaction.max.timeout.ms (15m by default). Default: --checkpoint-interval + 1m." default:"0s" env:"ROLLUP_TRANSACTION_TIMEOUT"`
	DryRun                    bool          `help:"Validate the configuration, print it and exit." env:"ROLLUP_DRY_RUN"`
	cpuProfile

	kafkaSecurity   `embed:""`
	metricsListener `embed:""`
}

// runConfig is the validated form of the flags.
type runConfig struct {
	kafkaOpts   []kgo.Opt // TLS and SASL
	engine      pipeline.Config
	topics      []string // output topic per archive
	topicRegex  *regexp.Regexp
	kafkaFormat string
	inTopics    []string                            // input topic names
	fetchHealth *pipeline.FetchHealth               // the consumer's fetch answers
	maxSkew     time.Duration                       // 0: never pause
	decoders    map[string]func() fastparse.Decoder // topics with a format of their own
	formats     []string                            // output format per archive
	ttls        []int64                             // ttl per archive, seconds (0: not set)
	// flushOnExit closes open windows at shutdown (partial rollups):
	// for the demo. The service keeps them for the checkpoint instead.
	flushOnExit bool
	// exactlyOnce: transactional output; txnID and txnTimeout then set.
	exactlyOnce bool
	txnID       string
	txnTimeout  time.Duration
}

// archiveRoute is where an archive's rollups go: its topic and format, and
// how long the store keeps them (ttl, seconds; 0: not set).
type archiveRoute struct {
	topic, format string
	ttl           int64
}

// outputFormats are the --output-format and format= choices.
var outputFormats = emit.OutputFormatNames(true)

// parseArchiveRoute splits "STEP:AGGS[:topic=NAME][:format=NAME]" (the
// options in any order); def gives what is not set.
func parseArchiveRoute(spec string, def archiveRoute) (window.Archive, archiveRoute, error) {
	route := def
	for {
		i := strings.LastIndex(spec, ":")
		if i < 0 {
			break
		}
		key, val, ok := strings.Cut(spec[i+1:], "=")
		if !ok {
			break // the aggregators
		}
		switch key {
		case "topic":
			route.topic = val
		case "ttl":
			ttl, err := window.ParseStep(val)
			if err != nil {
				return window.Archive{}, route, fmt.Errorf("archive %q: ttl: %w", spec, err)
			}
			route.ttl = ttl
		case "format":
			if !slices.Contains(outputFormats, val) {
				return window.Archive{}, route, fmt.Errorf("archive %q: unknown format %q (valid: %s)", spec, val, strings.Join(outputFormats, ", "))
			}
			route.format = val
		default:
			return window.Archive{}, route, fmt.Errorf("archive %q: unknown option %q (valid: topic=, format=, ttl=)", spec, key)
		}
		if val == "" {
			return window.Archive{}, route, fmt.Errorf("archive %q: empty %s=", spec, key)
		}
		spec = spec[:i]
	}
	ar, err := window.ParseArchive(spec)
	return ar, route, err
}

func (r *runCmd) config(log *slog.Logger) (*runConfig, error) {
	rc := &runConfig{kafkaFormat: r.OutputFormat, fetchHealth: &pipeline.FetchHealth{}}
	cfg := &rc.engine
	routeOf := map[string]archiveRoute{}
	for _, spec := range r.Archive {
		ar, route, err := parseArchiveRoute(spec, archiveRoute{topic: r.OutputTopic, format: r.OutputFormat})
		if err != nil {
			return nil, err
		}
		cfg.Window.Archives = append(cfg.Window.Archives, ar)
		routeOf[ar.Name] = route
	}
	cfg.Window.Lateness = r.Lateness
	cfg.Window.SeriesTTL = r.SeriesTTL
	prec, err := fastparse.ParsePrecision(r.Precision)
	if err != nil {
		return nil, err
	}
	cfg.Precision = prec
	switch r.DefaultTime {
	case "record":
		cfg.DefaultTimeRecord = true
	case "now":
	default:
		t, err := parseTime(r.DefaultTime)
		if err != nil {
			return nil, fmt.Errorf("--default-time: %w (or record, or now)", err)
		}
		cfg.DefaultTime = t
	}
	decOpts := fastparse.DecoderOptions{Precision: prec, OpenTSDBMaxTags: r.InputOpenTSDBMaxTags, OpenTSDBSpecialChars: r.InputOpenTSDBSpecialChars,
		MetrictankOrg: r.InputMetrictankOrg}
	if _, err := fastparse.NewDecoder(r.InputFormat, decOpts); err != nil {
		return nil, err
	}
	format := r.InputFormat
	cfg.NewDecoder = func() fastparse.Decoder {
		d, _ := fastparse.NewDecoder(format, decOpts)
		return d
	}
	for _, t := range r.Topic {
		name, f, ok := strings.Cut(t, ":")
		rc.inTopics = append(rc.inTopics, name)
		if !ok || f == r.InputFormat {
			continue
		}
		if _, err := fastparse.NewDecoder(f, decOpts); err != nil {
			return nil, fmt.Errorf("--topic %s: %w", t, err)
		}
		if rc.decoders == nil {
			rc.decoders = map[string]func() fastparse.Decoder{}
		}
		rc.decoders[name] = func() fastparse.Decoder {
			d, _ := fastparse.NewDecoder(f, decOpts)
			return d
		}
	}
	cfg.MetricSeparator = r.MetricSeparator
	if r.MaxFuture <= 0 {
		return nil, errors.New("--max-future must be positive")
	}
	cfg.MaxFuture = r.MaxFuture
	cfg.IdleTimeout = r.IdleTimeout
	switch {
	case r.MaxSkew == 0 && len(cfg.Window.Archives) > 0:
		finest := int64(math.MaxInt64)
		for _, a := range cfg.Window.Archives {
			finest = min(finest, a.Step)
		}
		rc.maxSkew = 4 * time.Duration(finest) * time.Second
	case r.MaxSkew > 0:
		rc.maxSkew = r.MaxSkew
	}
	if r.FetchMaxPartitionBytes < 1024 {
		return nil, errors.New("--fetch-max-partition-bytes must be at least 1024")
	}
	if r.FetchMaxWait < 10*time.Millisecond {
		return nil, errors.New("--fetch-max-wait must be at least 10ms")
	}
	if idle := r.IdleTimeout; idle > 0 {
		// An outage must be noticed before a partition it silences
		// counts as idle: after 4 fetch waits without an answer, at
		// the next idle check.
		if notice := fetchStall(r) + pipeline.IdleCheck(idle); idle <= notice {
			return nil, fmt.Errorf("--idle-timeout %s cannot be honoured: a broker outage is noticed only after %s without a fetch answer (4 x --fetch-max-wait %s) plus the idle check (%s); give more than %s, or lower --fetch-max-wait",
				idle, fetchStall(r), r.FetchMaxWait, pipeline.IdleCheck(idle), notice)
		}
	}
	cfg.Shards = r.Shards
	cfg.RouteByTags = r.RouteBy == "tags"
	cfg.MaxSeries = r.MaxSeries
	cfg.MaxFieldsPerLine = r.MaxFieldsPerLine
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Validate sorted the archives finest first: look their routes up by name.
	formatOf := map[string]string{}
	for _, ar := range cfg.Window.Archives {
		route := routeOf[ar.Name]
		rc.topics = append(rc.topics, route.topic)
		rc.formats = append(rc.formats, route.format)
		if f, ok := formatOf[route.topic]; ok && f != route.format {
			return nil, fmt.Errorf("topic %s gets archives in two formats (%s and %s): give each format its own topic", route.topic, f, route.format)
		}
		formatOf[route.topic] = route.format
		rc.ttls = append(rc.ttls, route.ttl)
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
	// A service that reads its own output counts every rollup again, and
	// again: refuse it.
	for _, t := range rc.topics {
		if slices.Contains(rc.inTopics, t) {
			return nil, fmt.Errorf("output topic %s is also an input topic (--topic): the service would read its own rollups", t)
		}
		if rc.topicRegex != nil && pipeline.WholeName(rc.topicRegex).MatchString(t) {
			return nil, fmt.Errorf("output topic %s matches --topic-regex %s: the service would read its own rollups", t, r.TopicRegex)
		}
	}
	if len(r.Brokers) == 0 {
		return nil, errors.New("no --brokers")
	}
	for _, b := range r.Brokers {
		if strings.TrimSpace(b) == "" {
			return nil, fmt.Errorf("--brokers %q has an empty entry", strings.Join(r.Brokers, ","))
		}
	}
	if rc.kafkaOpts, err = r.kafkaSecurity.opts(); err != nil {
		return nil, err
	}
	for i, ar := range cfg.Window.Archives {
		if rc.formats[i] != "opentsdb" {
			continue
		}
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
	if r.MetrictankOrg == 0 {
		return nil, errors.New("--metrictank-org must not be 0 (metrictank refuses org 0)")
	}
	for _, f := range rc.formats {
		if f == "metrictank" {
			continue // no line encoder: emit's Kafka output writes it
		}
		if _, err := emit.NewEncoder(f, emit.Options{OpenTSDBMaxTags: r.OpenTSDBMaxTags, InfluxStepTag: r.InfluxStepTag, CarbonNoStep: r.CarbonNoStep}); err != nil {
			return nil, err
		}
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
	if r.CarbonSchemas != "" {
		if _, err := checkCarbonSchemas(r.CarbonSchemas, cfg.Window.Archives, log); err != nil {
			return nil, err
		}
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
				src := strings.Join(rc.inTopics, ",")
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
			if slices.Contains(rc.inTopics, r.MarkerTopic) || slices.Contains(rc.topics, r.MarkerTopic) ||
				rc.topicRegex != nil && pipeline.WholeName(rc.topicRegex).MatchString(r.MarkerTopic) {
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

func (r *runCmd) Run(kctx *kong.Context, log *slog.Logger, std stdio) error {
	rc, err := r.config(log)
	if err != nil {
		return usageError{err}
	}
	if r.DryRun {
		fmt.Fprintln(std.out, "configuration valid")
		for i, ar := range rc.engine.Window.Archives {
			fmt.Fprintf(std.out, "archive %s: %v -> topic %s\n", ar.Name, ar.Aggregators, rc.topics[i])
			if rc.formats[i] != r.OutputFormat {
				fmt.Fprintf(std.out, "archive %s: format %s\n", ar.Name, rc.formats[i])
			}
			if rc.ttls[i] > 0 {
				fmt.Fprintf(std.out, "archive %s: ttl %s\n", ar.Name, time.Duration(rc.ttls[i])*time.Second)
			}
		}
		switch {
		case r.Checkpoint == "":
			fmt.Fprintln(std.out, "checkpoints: none (a restart loses the open windows); delivery at-least-once")
		case rc.exactlyOnce:
			fmt.Fprintf(std.out, "checkpoints: %s every %s, keep %d; delivery exactly-once (transactional id %s, marker topic %s, transaction timeout %s)\n",
				r.Checkpoint, r.CheckpointInterval, r.CheckpointKeep, rc.txnID, r.MarkerTopic, rc.txnTimeout)
		default:
			fmt.Fprintf(std.out, "checkpoints: %s every %s, keep %d; delivery at-least-once\n", r.Checkpoint, r.CheckpointInterval, r.CheckpointKeep)
		}
		printEffective(std.out, kctx)
		return nil
	}
	stopProfile, err := r.start()
	if err != nil {
		return err
	}
	defer stopProfile()
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
// service once it consumes (tests use it). The lifecycle is
// pipeline.Service's; serve creates the Kafka clients, the /metrics
// server and the systemd notifications around it.
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
		kgo.ProducerBatchCompression(compressionCodec(r.OutputCompression)),
		kgo.MetadataMaxAge(r.MetadataInterval),
		kgo.MetadataMinAge(min(r.MetadataInterval, 5*time.Second)),
	}, append(rc.kafkaOpts, txnOpts(rc)...)...)...)
	if err != nil {
		return fmt.Errorf("cannot create Kafka producer: %w", err)
	}
	// The clients close after the service stopped, within what is left of
	// --shutdown-timeout (closeReserve is kept back for it).
	closeReserve := min(time.Second, r.ShutdownTimeout/5)
	var closeBy time.Time
	defer closeWithin(producer, &closeBy, log)
	consumer, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.Brokers...),
		kgo.ClientID("rollup"),
		kgo.WithLogger(kafkaLog),
		kgo.MetadataMaxAge(r.MetadataInterval),
		kgo.MetadataMinAge(min(r.MetadataInterval, 5*time.Second)),
		kgo.FetchMaxWait(r.FetchMaxWait),
		kgo.FetchMaxPartitionBytes(r.FetchMaxPartitionBytes),
		kgo.WithHooks(rc.fetchHealth),
	}, rc.kafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("cannot create Kafka consumer: %w", err)
	}
	defer closeWithin(consumer, &closeBy, log)

	cfg := pipeline.ServiceConfig{
		Engine: rc.engine,
		Source: pipeline.SourceConfig{Topics: rc.inTopics, Decoders: rc.decoders, TopicRegex: rc.topicRegex, StartLatest: r.Start == "latest",
			MetadataInterval: r.MetadataInterval, Parsers: r.Parsers, Health: rc.fetchHealth, FetchStall: fetchStall(r), MaxSkew: rc.maxSkew},
		Output: emit.KafkaConfig{Format: rc.kafkaFormat, Formats: rc.formats,
			Metrictank: emit.MetrictankOptions{OrgID: r.MetrictankOrg, Scheme: r.MetrictankScheme, Announce: r.MdmAnnounceInterval},
			Options:    emit.Options{OpenTSDBMaxTags: r.OpenTSDBMaxTags, InfluxStepTag: r.InfluxStepTag, CarbonNoStep: r.CarbonNoStep},
			Topics:     rc.topics, RecordBytes: r.OutputRecordBytes, MaxHeldBytes: r.ProduceBufferBytes},
		Producer: producer, Consumer: consumer, Brokers: r.Brokers, CreateTopics: createTopicSpecs(r, rc),
		MetadataInterval: r.MetadataInterval, ShutdownTimeout: r.ShutdownTimeout, ShutdownReserve: closeReserve, FlushOnExit: rc.flushOnExit,
		Log: log, Notify: func(state string) { sdNotify(state) },
	}
	if r.Checkpoint != "" {
		cfg.Checkpoint = &pipeline.CheckpointSettings{
			Location: r.Checkpoint, Open: openCheckpointBackend, BackendName: backendName(r.Checkpoint),
			Interval: r.CheckpointInterval, Keep: r.CheckpointKeep, Discard: r.CheckpointDiscard, Require: r.CheckpointRequire,
			ExactlyOnce: rc.exactlyOnce, TransactionalID: rc.txnID, MarkerTopic: r.MarkerTopic,
			MarkerReader: append([]kgo.Opt{kgo.SeedBrokers(r.Brokers...), kgo.ClientID("rollup"), kgo.WithLogger(kafkaLog)}, rc.kafkaOpts...),
			Hook:         crashHook(log),
		}
	}
	// The metrics listener comes first: /healthz and /metrics answer
	// while the service waits for the brokers and its topics, and a
	// port taken is an error before anything else.
	var current atomic.Pointer[service]
	stopListener, err := r.metricsListener.serve(log, &current)
	if err != nil {
		return err
	}
	defer stopListener()
	ps, err := pipeline.StartService(ctx, cfg)
	if err != nil || ps == nil {
		return err // nil: ctx ended while waiting for the brokers
	}
	svc := &service{engine: ps.Engine, source: ps.Source, output: ps.Output, ckpt: ps.Checkpointer,
		ckptLocation: r.Checkpoint, start: ps.Started}
	current.Store(svc)

	if _, err := sdNotify("READY=1\nSTATUS=consuming"); err != nil {
		log.Warn("systemd notification failed", "error", err)
	}
	if ready != nil {
		ready <- svc
	}
	if iv, ok := sdWatchdogInterval(); ok {
		go svc.watchdog(ctx, log, iv)
	}
	err = ps.Wait(ctx)
	closeBy = time.Now().Add(closeReserve)
	return err
}

// fetchStall is how long no fetch may be answered before the brokers are
// taken to be unreachable.
func fetchStall(r *runCmd) time.Duration { return 4 * r.FetchMaxWait }

// closeWithin closes a Kafka client, waiting for it until *by at most
// (a client whose broker is gone can take long to close; past the
// shutdown timeout the process exits without it).
func closeWithin(cl *kgo.Client, by *time.Time, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		cl.Close()
		close(done)
	}()
	if by.IsZero() { // not shutting down: a start that failed
		<-done
		return
	}
	select {
	case <-done:
	case <-time.After(time.Until(*by)):
		log.Warn("Kafka client still closing at the shutdown timeout; not waiting for it")
	}
}

// createTopicSpecs lists the output topics for --create-topics (nil
// without it): each with the longest ttl of its archives.
func createTopicSpecs(r *runCmd, rc *runConfig) []emit.TopicSpec {
	if !r.CreateTopics {
		return nil
	}
	var specs []emit.TopicSpec
	index := map[string]int{}
	for i, t := range rc.topics {
		ttl := time.Duration(rc.ttls[i]) * time.Second
		if j, ok := index[t]; ok {
			specs[j].Retention = max(specs[j].Retention, ttl)
			continue
		}
		index[t] = len(specs)
		specs = append(specs, emit.TopicSpec{Name: t, Partitions: r.CreateTopicsPartitions, Retention: ttl})
	}
	return specs
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

// compressionCodec is the franz-go codec of an --output-compression name.
func compressionCodec(name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.SnappyCompression()
}

// txnOpts are the producer options of exactly-once delivery.
func txnOpts(rc *runConfig) []kgo.Opt {
	if !rc.exactlyOnce {
		return nil
	}
	return []kgo.Opt{kgo.TransactionalID(rc.txnID), kgo.TransactionTimeout(rc.txnTimeout)}
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
	return &slogKgo{log: log.With("component", "kafka"), level: level, throttles: map[string]*pipeline.Throttle{}}
}

// slogKgo logs the Kafka client's messages through slog. Its warnings and
// errors repeat for every connection attempt while a broker is down: each
// distinct message is throttled as malformed lines are (5 per 10s, then the
// count of those held back).
type slogKgo struct {
	log       *slog.Logger
	level     kgo.LogLevel
	mu        sync.Mutex
	throttles map[string]*pipeline.Throttle
}

// allow applies msg's throttle; it returns whether to log and how many
// were held back since the last one logged.
func (l *slogKgo) allow(msg string) (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.throttles[msg]
	if t == nil {
		if len(l.throttles) >= 256 { // the client's messages are constants; bound it anyway
			clear(l.throttles)
		}
		t = pipeline.NewThrottle(5, 10*time.Second)
		l.throttles[msg] = t
	}
	return t.Allow(time.Now())
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
	if sl >= slog.LevelWarn {
		ok, suppressed := l.allow(msg)
		if !ok {
			return
		}
		if suppressed > 0 {
			keyvals = append(keyvals, "suppressed_since_last", suppressed)
		}
	}
	l.log.Log(context.Background(), sl, msg, keyvals...)
}
