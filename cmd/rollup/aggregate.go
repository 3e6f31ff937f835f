package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

type aggregateCmd struct {
	Archive                   []string      `help:"Archive as STEP:AGG[,AGG...] (repeatable, or several separated by ;). STEP is a Go duration or Nd for days, a whole number of seconds; every step must be a multiple of the finest. Aggregators: sum, count, min, max, first, last, avg (default ${default})." default:"1m:sum,count,min,max" sep:";" env:"ROLLUP_ARCHIVE" placeholder:"STEP:AGGS"`
	Lateness                  time.Duration `help:"How far behind the newest point of the input a point may be and still count (e.g. 30s). Older points are counted as late and dropped." default:"0s" env:"ROLLUP_LATENESS"`
	InputFormat               string        `help:"Format of the input: ${text_input_formats_help}. OpenTSDB and carbon metric names are kept as they are. (metrictank and opentsdb-keyed records need Kafka's framing: use run.)" default:"influx" enum:"${text_input_formats}" env:"ROLLUP_INPUT_FORMAT"`
	Precision                 string        `help:"Unit of line-protocol timestamps: ns, us, ms or s (OpenTSDB timestamps are seconds or milliseconds by magnitude)." default:"ns" enum:"ns,us,ms,s" env:"ROLLUP_PRECISION"`
	InputOpenTSDBMaxTags      int           `name:"input-opentsdb-max-tags" help:"With --input-format opentsdb or opentsdb-keyed: most tags a put line may have (OpenTSDB's tsd.storage.max_tags)." default:"8" env:"ROLLUP_INPUT_OPENTSDB_MAX_TAGS"`
	InputOpenTSDBSpecialChars string        `name:"input-opentsdb-special-chars" help:"With --input-format opentsdb or opentsdb-keyed: more characters allowed in metrics and tags (OpenTSDB's tsd.core.tag.allow_specialchars)." default:"" env:"ROLLUP_INPUT_OPENTSDB_SPECIAL_CHARS"`
	CarbonSchemas             string        `name:"carbon-schemas" help:"With --input-format carbon: a storage-schemas.conf, read as metrictank reads it (the first retention of the first matching pattern is a series' raw interval); a warning names every pattern whose raw interval is longer than the finest archive step." env:"ROLLUP_CARBON_SCHEMAS" placeholder:"FILE" type:"existingfile"`
	DefaultTime               string        `help:"Time for lines without a timestamp, as Unix nanoseconds or RFC 3339 (default: the time the line is read)." env:"ROLLUP_DEFAULT_TIME" placeholder:"TIME"`
	MetricSeparator           string        `help:"Joins measurement and field into the metric name." default:"_" env:"ROLLUP_METRIC_SEPARATOR"`
	MaxFuture                 time.Duration `help:"Reject points more than this far ahead of the wall clock." default:"1h" env:"ROLLUP_MAX_FUTURE"`
	OutputFormat              string        `help:"Rollup output: ${file_output_formats_help}." default:"jsonl" enum:"${file_output_formats}" env:"ROLLUP_OUTPUT_FORMAT"`
	InfluxStepTag             string        `name:"influx-step-tag" help:"With --output-format influx: the tag that carries the archive step (e.g. step=1m)." default:"step" env:"ROLLUP_INFLUX_STEP_TAG"`
	CarbonNoStep              bool          `name:"carbon-no-step" help:"With --output-format carbon: leave the step out of the path (<metric>.<aggregator>), e.g. when each archive goes to its own Graphite." env:"ROLLUP_CARBON_NO_STEP"`
	Shards                    int           `help:"Series shards, one goroutine each (default: GOMAXPROCS)." default:"0" env:"ROLLUP_SHARDS"`
	RouteBy                   string        `name:"route-by" help:"How series are spread over shards: series (by each series' whole key: an even spread whatever the tags) or tags (by tag set: a line's points stay together, about 10 % more points per second on two shards with Telegraf data, but every series of one tag set lands in one shard, and --max-series is enforced per shard as its share). Only matters with more than one shard; a restore places series by the current setting." default:"series" enum:"series,tags" env:"ROLLUP_ROUTE_BY"`
	SeriesTTL                 time.Duration `help:"Forget a series after this long without points (0: the coarsest step; negative: never)." default:"0s" env:"ROLLUP_SERIES_TTL"`
	MaxSeries                 int           `help:"Most live series; points of new series beyond it are counted and dropped (0: no limit)." default:"0" env:"ROLLUP_MAX_SERIES"`
	MaxFieldsPerLine          int           `name:"max-fields-per-line" help:"A line with more fields is skipped and counted (rollup_lines_malformed_total{reason=\"too_many_fields\"}): one line must not create unbounded series." default:"1000" env:"ROLLUP_MAX_FIELDS_PER_LINE"`
	cpuProfile

	Files []string `arg:"" optional:"" help:"Line-protocol files, read in order as one stream (stdin when none)." type:"existingfile"`
}

func (a *aggregateCmd) config() (pipeline.Config, error) {
	var cfg pipeline.Config
	for _, spec := range a.Archive {
		ar, err := window.ParseArchive(spec)
		if err != nil {
			return cfg, err
		}
		cfg.Window.Archives = append(cfg.Window.Archives, ar)
	}
	cfg.Window.Lateness = a.Lateness
	cfg.Window.SeriesTTL = a.SeriesTTL
	prec, err := fastparse.ParsePrecision(a.Precision)
	if err != nil {
		return cfg, err
	}
	cfg.Precision = prec
	decOpts := fastparse.DecoderOptions{Precision: prec, OpenTSDBMaxTags: a.InputOpenTSDBMaxTags, OpenTSDBSpecialChars: a.InputOpenTSDBSpecialChars}
	if _, err := fastparse.NewDecoder(a.InputFormat, decOpts); err != nil {
		return cfg, err
	}
	format := a.InputFormat
	cfg.NewDecoder = func() fastparse.Decoder {
		d, _ := fastparse.NewDecoder(format, decOpts)
		return d
	}
	if a.DefaultTime != "" {
		t, err := parseTime(a.DefaultTime)
		if err != nil {
			return cfg, err
		}
		cfg.DefaultTime = t
	}
	cfg.MetricSeparator = a.MetricSeparator
	cfg.MaxFuture = a.MaxFuture
	if a.MaxFuture == 0 {
		return cfg, errors.New("--max-future must be positive")
	}
	cfg.Shards = a.Shards
	cfg.RouteByTags = a.RouteBy == "tags"
	cfg.MaxSeries = a.MaxSeries
	cfg.MaxFieldsPerLine = a.MaxFieldsPerLine
	enc, err := emit.NewEncoder(a.OutputFormat, emit.Options{InfluxStepTag: a.InfluxStepTag, CarbonNoStep: a.CarbonNoStep})
	if err != nil {
		return cfg, err
	}
	cfg.Encoder = enc
	if a.OutputFormat == "opentsdb" {
		cfg.Separator = []byte("\n") // one object per line; jsonl ends its own lines
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if a.OutputFormat == "opentsdb" {
		for _, ar := range cfg.Window.Archives {
			if err := emit.ValidateOpenTSDBInterval(ar.Name); err != nil {
				return cfg, fmt.Errorf("archive %s: %w", ar.Name, err)
			}
		}
	}
	return cfg, nil
}

// parseTime accepts Unix nanoseconds or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(0, ns), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("default time %q is neither Unix nanoseconds nor RFC 3339", s)
	}
	return t, nil
}

func (a *aggregateCmd) Run(log *slog.Logger, std stdio) error {
	cfg, err := a.config()
	if err != nil {
		return usageError{err}
	}
	if a.CarbonSchemas != "" {
		if _, err := checkCarbonSchemas(a.CarbonSchemas, cfg.Window.Archives, log); err != nil {
			return err
		}
	}
	stopProfile, err := a.start()
	if err != nil {
		return err
	}
	defer stopProfile()
	// No bufio in between: every shard already hands over 256 KiB at a
	// time, and a second buffer would copy every output byte once more.
	eng, err := pipeline.New(cfg, std.out)
	if err != nil {
		return err
	}
	stream := eng.NewStream()
	throttle := pipeline.NewThrottle(10, time.Second)
	name := "-"
	stream.OnMalformed = func(e *fastparse.ParseError) {
		ok, suppressed := throttle.Allow(time.Now())
		if !ok {
			return
		}
		log.Warn("malformed line skipped", "input", name, "line", e.Line, "col", e.Col, "offset", e.Offset,
			"reason", e.Reason.String(), "error", e.Error(), "suppressed_since_last", suppressed)
	}
	var readErr error
	if len(a.Files) == 0 {
		_, readErr = stream.ReadFrom(std.in)
	}
	for _, path := range a.Files {
		name = path
		f, err := os.Open(path)
		if err != nil {
			readErr = err
			break
		}
		err = readFile(stream, f)
		f.Close()
		if err != nil {
			readErr = fmt.Errorf("cannot read %s: %w", path, err)
			break
		}
	}
	closeErr := eng.Close()
	if n := throttle.Suppressed(); n > 0 {
		log.Warn("similar malformed-line messages suppressed", "count", n)
	}
	c := eng.Counters()
	if _, ok := log.Handler().(*slog.JSONHandler); ok {
		// --log-format json: the summary is a record like the others,
		// each counter a field.
		attrs := []any{}
		for _, kv := range c.SummaryPairs() {
			attrs = append(attrs, kv.Key, kv.Value)
		}
		log.Info("rollup aggregate summary", attrs...)
	} else {
		fmt.Fprintln(std.err, "rollup aggregate:", c.Summary())
	}
	if readErr != nil {
		return readErr
	}
	if closeErr != nil {
		return fmt.Errorf("cannot write rollups: %w", closeErr)
	}
	return nil
}

// checkCarbonSchemas reads a storage-schemas.conf and warns, for every
// schema whose raw interval is longer than the finest archive step, that
// windows of the series it matches hold at most one point.
func checkCarbonSchemas(path string, archives []window.Archive, log *slog.Logger) (*fastparse.CarbonSchemas, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--carbon-schemas: %w", err)
	}
	defer f.Close()
	s, err := fastparse.ParseCarbonSchemas(path, f)
	if err != nil {
		return nil, fmt.Errorf("--carbon-schemas: %w", err)
	}
	fine := archives[0]
	for _, sc := range s.Schemas {
		if sc.Interval > fine.Step {
			log.Warn("a carbon schema's raw interval is longer than the finest archive step: its series get at most one point per window",
				"schema", sc.Name, "pattern", sc.Pattern.String(), "interval_seconds", sc.Interval, "archive", fine.Name)
		}
	}
	return s, nil
}
