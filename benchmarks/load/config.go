package load

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

// Topologies.
const (
	Flat = "flat" // Telegraf: topic per host % Topics, key = host
	MapR = "mapr" // MapR collectd: topic per host and measurement
)

// Defaults of the zero Config fields.
const (
	DefaultTopics         = 1
	DefaultTopicPrefix    = "telegraf"
	DefaultPartitions     = 4
	DefaultLinesPerRecord = 1
	DefaultDisorderBound  = 100
	DefaultLateBy         = 2 * time.Minute
	DefaultStreams        = 16
	DefaultStreamPrefix   = "metrics"
	DefaultInterval       = 10 * time.Second // without a Rate
	DefaultFlushTimeout   = 30 * time.Second
)

// Config describes one load run. Zero fields take the defaults above.
type Config struct {
	// Series is the number of series; rounded up to whole hosts of 90
	// series (see Hosts). Required.
	Series int
	// Rate is the target in points per second; 0 = as fast as the broker
	// takes them, but never ahead of the wall clock (see the package doc).
	Rate float64
	// Duration is how long to produce; 0 = until the context is canceled.
	Duration time.Duration
	// Interval is the event-time step between two reports of a host.
	// Default: points-per-round / Rate with a Rate, else 10s.
	Interval time.Duration

	// Topology is Flat (default) or MapR.
	Topology string
	// Topics is the number of topics of the flat topology (default 1).
	Topics int
	// TopicPrefix names the flat topics (default "telegraf"): the prefix
	// itself when Topics == 1, else <prefix>-<i>.
	TopicPrefix string
	// Streams is the N of djb2(measurement, N) in MapR topic names
	// (default 16).
	Streams int
	// StreamPrefix starts MapR topic names (default "metrics").
	StreamPrefix string
	// Partitions is the partition count of each topic EnsureTopics creates
	// (default 4). Existing topics keep theirs.
	Partitions int
	// LinesPerRecord is how many lines of one host (and, for MapR, one
	// topic) go into one record value (default 1, Telegraf's framing).
	// A host's report is split into records of this many lines; the last
	// record of a report may hold fewer.
	LinesPerRecord int

	// Disorder is the fraction (0..1) of lines held back until
	// 1..DisorderBound later lines of their partition have been produced.
	Disorder float64
	// DisorderBound is the most lines of its partition that overtake a
	// disordered line (default 100).
	DisorderBound int
	// Late is the fraction (0..1) of lines whose timestamp is LateBy older
	// than their report's.
	Late float64
	// LateBy is how much older late lines are (default 2m). Set it beyond
	// the pipeline's lateness plus its finest step so they really are
	// dropped as late.
	LateBy time.Duration
	// Bad is the fraction (0..1) of lines made malformed. Late + Bad must
	// not exceed 1: a line is at most one of them.
	Bad float64

	// Seed varies the values and the injected faults, not the shape.
	Seed uint64
	// FlushTimeout bounds the wait for outstanding acknowledgements at the
	// end (default 30s); what is still buffered then is aborted.
	FlushTimeout time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Topics, DefaultTopics)
	def(&c.Partitions, DefaultPartitions)
	def(&c.LinesPerRecord, DefaultLinesPerRecord)
	def(&c.DisorderBound, DefaultDisorderBound)
	def(&c.Streams, DefaultStreams)
	if c.Topology == "" {
		c.Topology = Flat
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.StreamPrefix == "" {
		c.StreamPrefix = DefaultStreamPrefix
	}
	if c.LateBy == 0 {
		c.LateBy = DefaultLateBy
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
		if c.Rate > 0 && c.Series > 0 {
			perRound := float64(c.Hosts() * reportShape().points)
			// Clamped: a tiny rate would overflow a Duration.
			c.Interval = time.Duration(min(max(perRound/c.Rate*1e9, 1), float64(24*time.Hour)))
		}
	}
	return c
}

// Hosts is the number of hosts that carry Series series.
func (c Config) Hosts() int {
	p := reportShape().points
	return (c.Series + p - 1) / p
}

// SeriesPerHost is the number of series (points per report) of a host: 90.
func SeriesPerHost() int { return reportShape().points }

// EventInterval is the event time between two reports of a host: Interval,
// or its default (see Interval).
func (c Config) EventInterval() time.Duration { return c.withDefaults().Interval }

// Validate checks the bounds of every field; zero fields (defaults) pass.
func (c Config) Validate() error {
	const (
		isInt = iota
		isFloat
		isDur
	)
	// One row per numeric field: the value and its inclusive bounds.
	rows := []struct {
		name    string
		v       float64
		lo, hi  float64
		kind    int
		minNote string // why lo, if not obvious
	}{
		{"series", float64(c.Series), 1, 1e8, isInt, ""},
		{"rate", c.Rate, 0, 1e9, isFloat, ""},
		{"duration", float64(c.Duration), 0, math.MaxInt64, isDur, ""},
		{"interval", float64(c.Interval), 0, float64(24 * time.Hour), isDur, ""},
		{"topics", float64(c.Topics), 0, 100000, isInt, ""},
		{"partitions", float64(c.Partitions), 0, 100000, isInt, ""},
		{"lines per record", float64(c.LinesPerRecord), 0, 100000, isInt, ""},
		{"disorder", c.Disorder, 0, 1, isFloat, ""},
		{"disorder bound", float64(c.DisorderBound), 0, 1e6, isInt, ""},
		{"late", c.Late, 0, 1, isFloat, ""},
		{"late by", float64(c.LateBy), 0, float64(365 * 24 * time.Hour), isDur, ""},
		{"bad", c.Bad, 0, 1, isFloat, ""},
		{"streams", float64(c.Streams), 0, math.MaxInt32, isInt, ""},
		{"flush timeout", float64(c.FlushTimeout), 0, math.MaxInt64, isDur, ""},
	}
	for _, r := range rows {
		show := func(v float64) string {
			switch r.kind {
			case isInt:
				return strconv.FormatFloat(v, 'f', -1, 64)
			case isDur:
				return time.Duration(v).String()
			}
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		switch {
		case math.IsNaN(r.v):
			return fmt.Errorf("%s is not a number", r.name)
		case r.v < 0 && r.lo == 0:
			return fmt.Errorf("%s %s is negative", r.name, show(r.v))
		case r.v < r.lo:
			return fmt.Errorf("%s %s is below the minimum of %s", r.name, show(r.v), show(r.lo))
		case r.v > r.hi:
			return fmt.Errorf("%s %s exceeds the maximum of %s", r.name, show(r.v), show(r.hi))
		}
	}
	if c.Late+c.Bad > 1 {
		return fmt.Errorf("late %g plus bad %g exceeds 1 (a line is at most one of them)", c.Late, c.Bad)
	}
	switch c.Topology {
	case "", Flat, MapR:
	default:
		return fmt.Errorf("topology %q is neither %q nor %q", c.Topology, Flat, MapR)
	}
	for _, p := range []struct{ name, v string }{{"topic prefix", c.TopicPrefix}, {"stream prefix", c.StreamPrefix}} {
		if !topicChars.MatchString(p.v) {
			return fmt.Errorf("%s %q is not a valid Kafka topic name start (allowed: a-z A-Z 0-9 . _ -)", p.name, p.v)
		}
		// Leave room for "-<i>" or "-<stream>.<host>_<measurement>" in
		// Kafka's 249-byte limit.
		if len(p.v) > 200 {
			return fmt.Errorf("%s is %d bytes long, above the maximum of 200", p.name, len(p.v))
		}
	}
	return nil
}

var topicChars = regexp.MustCompile(`^[a-zA-Z0-9._-]*$`)
