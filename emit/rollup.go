package emit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rollupd/rollup/shard"
)

// Tag is one tag of a series. Key and Value are not retained by encoders.
type Tag struct{ Key, Value []byte }

// Rollup is one aggregated value of one series for one window.
type Rollup struct {
	Metric     []byte
	Tags       []Tag  // sorted by key, no duplicates (caller guarantees)
	Step       string // the archive step exactly as the operator wrote it, e.g. "1m", "1d"
	Start      int64  // window start, Unix seconds (may be negative for pre-1970 data)
	Aggregator string // "sum","count","min","max","first","last","avg"
	Value      float64
}

// AggValue is the value of one aggregator in a Window.
type AggValue struct {
	Aggregator string
	Value      float64
}

// Window is every rollup of one series for one window: the rollups share
// the series part, which AppendWindow encodes only once.
type Window struct {
	// Key, when set (SetKey), is the series' canonical key in package
	// shard's layout, and Metric and Tags stay empty until Split fills
	// them from it: the jsonl encoder writes straight from the key and
	// never needs them apart. Windows built with Metric and Tags have no
	// Key.
	Key    []byte
	Metric []byte
	Tags   []Tag  // sorted by key, no duplicates (caller guarantees)
	Step   string // as the operator wrote it, e.g. "1m"
	// StepSeconds is the step in seconds (metrictank's interval).
	StepSeconds int64
	Start       int64
	Values      []AggValue
	// Series identifies the series within its shard for as long as it
	// lives (until SeriesDeleted), so a sink can keep per-series state
	// in a slice instead of hashing the key again.
	Series uint32

	split     bool        // Metric and Tags hold Key's parts
	shardTags []shard.Tag // Split's buffers, reused
	tagBuf    []Tag

	startText []byte // StartText's digits, of startFor
	startFor  int64
	tail      seriesTail
}

// seriesTail holds the bytes an encoder last wrote for what follows a
// window's metric (its tags, step and start) and what they were made
// from. A shard emits its series in table order, where the fields of one
// line, which share their tags, sit side by side: consecutive windows
// mostly share the tail, and the encoder copies it instead of writing it
// again. The key is the encoder's kind, not its options: the archives of
// one output share one set of options (the influx step tag, the opentsdb
// tag limit, which is checked again anyway).
type seriesTail struct {
	format uint8 // the encoder that wrote it (tailJSONL...), 0 for none
	tags   []byte
	step   string
	start  int64 // 0 for an encoder whose tail has no start
	bytes  []byte

	// The encoder's verdict on the tags, and their number (opentsdb
	// checks it against its option).
	ntags  int
	reason DropReason
}

// Encoders that use the tail cache.
const (
	tailJSONL = 1 + iota
	tailOpenTSDB
	tailInflux
	tailCarbon
)

// tailFor looks up the window's tail cache for an encoder (format), keyed
// by the window's tags, step and start (0 for an encoder whose tail has no
// start). metric is the metric of a window given by a canonical key, nil
// for one built from its metric and tags. On a hit the cache holds the
// encoder's tail and verdict for this window. On a miss it is emptied and
// keyed for this window (left unkeyed for a window without a canonical
// key), for the encoder to fill in.
func (w *Window) tailFor(format uint8, start int64) (metric []byte, t *seriesTail, hit bool) {
	t = &w.tail
	var tags []byte
	if w.Key != nil && !w.split {
		if m := bytes.LastIndexByte(w.Key, 0x01); m >= 0 {
			metric, tags = w.Key[m+1:], w.Key[:m]
			if t.format == format && t.start == start && t.step == w.Step && bytes.Equal(t.tags, tags) {
				return metric, t, true
			}
		}
	}
	t.bytes, t.ntags, t.reason, t.format = t.bytes[:0], 0, DropNone, 0
	if metric != nil {
		t.format, t.step, t.start = format, w.Step, start
		t.tags = append(t.tags[:0], tags...)
	}
	return metric, t, false
}

// SetKey makes key, a canonical key, the window's series; Split splits it
// when an encoder needs the metric and tags.
func (w *Window) SetKey(key []byte) {
	w.Key, w.Metric, w.Tags, w.split = key, nil, nil, false
}

// StartText returns Start in decimal, valid until the next call. The
// windows that close together share their start, so the digits are kept
// and written again only when Start changes.
func (w *Window) StartText() []byte {
	if w.startFor != w.Start || len(w.startText) == 0 {
		w.startText = strconv.AppendInt(w.startText[:0], w.Start, 10)
		w.startFor = w.Start
	}
	return w.startText
}

// Split fills Metric and Tags from Key, once per SetKey. A window without
// a Key keeps the Metric and Tags it was built with.
func (w *Window) Split() {
	if w.Key == nil || w.split {
		return
	}
	w.Metric, w.shardTags, _ = shard.SplitKey(w.Key, w.shardTags[:0])
	w.tagBuf = w.tagBuf[:0]
	for _, t := range w.shardTags {
		w.tagBuf = append(w.tagBuf, Tag(t))
	}
	w.Tags, w.split = w.tagBuf, true
}

// DropReason says why a rollup could not be encoded; 0 = encoded.
//
// String returns a stable snake_case name meant for metric labels
// (e.g. rollup_dropped_total{reason="opentsdb_bad_char"}).
type DropReason uint8

const (
	DropNone DropReason = iota
	// DropNonFinite: the value is NaN or +-Inf (e.g. a sum that overflowed).
	// JSON has no literal for them and OpenTSDB rejects them.
	DropNonFinite
	// DropNoTags: OpenTSDB needs at least one tag.
	DropNoTags
	// DropTooManyTags: more tags than Options.OpenTSDBMaxTags
	// (tsd.storage.max_tags on the TSD).
	DropTooManyTags
	// DropBadChar: the metric, a tag key or a tag value is empty or has a
	// character OpenTSDB rejects (see opentsdb.go).
	DropBadChar
	// DropDerivedAgg: avg or dev. OpenTSDB derives avg from the sum and count
	// rollups at query time and, with tsd.rollups.block_derived (default
	// true), rejects them on write.
	DropDerivedAgg
	// DropTimestamp: window start <= 0 or >= 2^32. OpenTSDB wants positive
	// seconds for rollups and rejects anything with the high 32 bits set.
	DropTimestamp
	// DropAggTag: a tag named _aggregate (tsd.rollups.agg_tag_key). On a
	// plain rollup the TSD compares it with the absent group-by aggregator
	// and throws, losing the rest of the Kafka record.
	DropAggTag
	// DropInfluxBadName: line protocol cannot carry the series: a name
	// with a control byte, invalid UTF-8 or a trailing backslash, a
	// measurement starting with '#', or a tag named like the step tag.
	DropInfluxBadName
	// DropCarbonBadName: carbon plaintext cannot carry the series
	// (whitespace, NUL or non-ASCII in a name, ';' in the metric, ';' or
	// '=' in a tag key) or its start (outside 0..2^32-1).
	DropCarbonBadName
	// DropMetrictankTime: metrictank drops points at or before the epoch
	// and from 2^31-1 seconds on.
	DropMetrictankTime

	numDropReasons // keep last
)

var dropReasonNames = [numDropReasons]string{
	DropNone:           "none",
	DropNonFinite:      "non_finite",
	DropNoTags:         "opentsdb_no_tags",
	DropTooManyTags:    "opentsdb_too_many_tags",
	DropBadChar:        "opentsdb_bad_char",
	DropDerivedAgg:     "opentsdb_derived_aggregator",
	DropTimestamp:      "opentsdb_timestamp",
	DropAggTag:         "opentsdb_aggregate_tag",
	DropInfluxBadName:  "influx_bad_name",
	DropCarbonBadName:  "carbon_bad_name",
	DropMetrictankTime: "metrictank_time",
}

// String returns the label value for r, e.g. "opentsdb_bad_char".
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "drop_reason_" + strconv.Itoa(int(r))
}

// AllDropReasons lists every reason except DropNone, in numeric order, so
// callers can pre-create one counter per reason.
var AllDropReasons = []DropReason{
	DropNonFinite,
	DropNoTags,
	DropTooManyTags,
	DropBadChar,
	DropDerivedAgg,
	DropTimestamp,
	DropAggTag,
	DropInfluxBadName,
	DropCarbonBadName,
	DropMetrictankTime,
}

// OutputFormat is one output format.
type OutputFormat struct {
	Name, Help string
	// KafkaOnly formats are written by KafkaOutput itself (they need
	// records and partitions), not by an Encoder.
	KafkaOnly bool
}

// OutputFormats lists every output format: the flags' enums, --help,
// NewEncoder and its error message all follow it.
var OutputFormats = []OutputFormat{
	{"opentsdb", "opentsdb-rpc-kafka Aggregate objects (a JSON array per Kafka record, an object per line in a file); avg and rollups OpenTSDB would reject are counted, not sent", false},
	{"jsonl", "one JSON object per line, many lines per record", false},
	{"influx", "line protocol: one line per series, window and archive with a field per aggregator and the step as a tag; many lines per record", false},
	{"carbon", "Graphite plaintext: <metric>.<aggregator>.<step>;tag=value... value start", false},
	{"metrictank", "Grafana metrictank kafka-mdm: each <metric>.<aggregator> a series with the step as its interval; its MetricData first, then its points in MetricPointArray records, partitioned by --metrictank-partition-scheme", true},
}

// OutputFormatNames returns the names of OutputFormats (without the
// KafkaOnly ones unless kafka).
func OutputFormatNames(kafka bool) []string {
	var names []string
	for _, f := range OutputFormats {
		if kafka || !f.KafkaOnly {
			names = append(names, f.Name)
		}
	}
	return names
}

// Framing is how an encoder's rollups are put together in one Kafka
// record: Begin, then each rollup followed by Sep, except that End takes
// the place of the last Sep. Line formats end each line themselves and
// need none of it.
type Framing struct{ Begin, Sep, End []byte }

// Encoder turns rollups into one output format.
type Encoder interface {
	// Framing is the format's record framing.
	Framing() Framing
	// Append encodes r (one complete record line/object, see formats) onto dst and returns it;
	// on a DropReason != DropNone it returns dst unchanged.
	Append(dst []byte, r *Rollup) ([]byte, DropReason)
	// AppendWindow appends the rollup of every value of w, each byte for
	// byte as Append would write it and followed by sep. It counts the
	// rollups it cannot encode in drops (indexed by DropReason; len(drops)
	// must exceed every reason) and returns dst and the number written.
	// Encoding the series part once makes it several times cheaper than
	// one Append per value.
	AppendWindow(dst []byte, w *Window, sep []byte, drops []uint64) ([]byte, int)
}

// Options configures NewEncoder. The zero value is ready to use.
type Options struct {
	// OpenTSDBMaxTags is the most tags an OpenTSDB rollup may carry; it must
	// match tsd.storage.max_tags on the TSDs. Default 8 when 0. If the TSDs
	// run with tsd.rollups.tag_raw = true they add an _aggregate tag to every
	// rollup, which counts toward their limit: set this one lower by one.
	OpenTSDBMaxTags int
	// InfluxStepTag names the tag of the archive step in line-protocol
	// output. Default DefaultInfluxStepTag.
	InfluxStepTag string
	// CarbonNoStep leaves the step out of carbon paths
	// (<metric>.<aggregator> instead of <metric>.<aggregator>.<step>):
	// for one archive per Graphite cluster.
	CarbonNoStep bool
}

// DefaultOpenTSDBMaxTags is OpenTSDB's default tsd.storage.max_tags.
const DefaultOpenTSDBMaxTags = 8

// ErrUnknownFormat is returned (wrapped) by NewEncoder for a format name it
// does not know.
var ErrUnknownFormat = errors.New("unknown output format")

// NewEncoder returns the encoder of a format of OutputFormats that is not
// KafkaOnly.
func NewEncoder(format string, opts Options) (Encoder, error) {
	switch format {
	case "jsonl":
		return jsonlEncoder{}, nil
	case "opentsdb":
		maxTags := opts.OpenTSDBMaxTags
		if maxTags == 0 {
			maxTags = DefaultOpenTSDBMaxTags
		}
		if maxTags < 0 {
			return nil, fmt.Errorf("cannot create opentsdb encoder: max tags %d is negative (0 means the default, %d)",
				opts.OpenTSDBMaxTags, DefaultOpenTSDBMaxTags)
		}
		return opentsdbEncoder{maxTags: maxTags}, nil
	case "influx":
		tag := opts.InfluxStepTag
		if tag == "" {
			tag = DefaultInfluxStepTag
		}
		if !influxNameOK([]byte(tag)) {
			return nil, fmt.Errorf("cannot create influx encoder: step tag %q has a control byte, invalid UTF-8 or a trailing backslash", tag)
		}
		return influxEncoder{stepTag: tag}, nil
	case "carbon":
		return carbonEncoder{step: !opts.CarbonNoStep}, nil
	}
	return nil, fmt.Errorf("%w %q: valid formats are %s", ErrUnknownFormat, format, strings.Join(OutputFormatNames(false), ", "))
}

// appendOne encodes one rollup through an encoder's AppendWindow, for the
// encoders whose single rollup is a window of one value.
func appendOne(e Encoder, dst []byte, r *Rollup) ([]byte, DropReason) {
	w := Window{Metric: r.Metric, Tags: r.Tags, Step: r.Step, Start: r.Start, Values: []AggValue{{r.Aggregator, r.Value}}}
	var drops [numDropReasons]uint64
	out, n := e.AppendWindow(dst, &w, nil, drops[:])
	if n == 1 {
		return out, DropNone
	}
	for i, c := range drops {
		if c > 0 {
			return dst, DropReason(i)
		}
	}
	return dst, DropNonFinite
}
