package fastparse

import (
	"fmt"
	"strings"
)

// InputFormat is one input format the pipeline reads.
type InputFormat struct {
	Name string
	Help string
	// Records: the format needs Kafka's record framing (binary records,
	// or the record key), so it cannot be read from a byte stream (a
	// file, stdin).
	Records bool
}

// InputFormats lists every input format: the flags' enums, --help, NewDecoder
// and its error message all follow it.
var InputFormats = []InputFormat{
	{"influx", "InfluxDB line protocol (what Telegraf's influx serializer writes; a record may hold one line or many)", false},
	{"opentsdb", "OpenTSDB telnet put lines (put <metric> <timestamp> <value> <tagk=tagv>...; seconds or milliseconds)", false},
	{"opentsdb-keyed", "OpenTSDB puts keyed by metric (Conversant): record key = metric, value = <timestamp> <value> <tagk=tagv>... lines (the value may also come after the tags)", true},
	{"carbon", "Graphite carbon plaintext (<path> <value> <seconds>; tagged series as <name>;<tag>=<value>...)", false},
	{"metrictank", "Grafana metrictank kafka-mdm records: msgpack MetricData, MetricPoint (0x02, 0x03) and MetricPointArray (0x05); a point counts once a MetricData on its partition described its id", true},
	{"auto", "told per record: metrictank by its first byte, else influx, opentsdb or carbon by its first line (records that fit none are counted as unknown_format)", false},
}

// InputFormatNames returns the names of InputFormats, comma-separated.
func InputFormatNames() string {
	names := make([]string, len(InputFormats))
	for i, f := range InputFormats {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// DecoderOptions are the options of every format's decoder; each reads its
// own.
type DecoderOptions struct {
	// Precision of line-protocol timestamps (influx).
	Precision Precision
	// OpenTSDBMaxTags and OpenTSDBSpecialChars: see OpenTSDBDecoder.
	OpenTSDBMaxTags      int
	OpenTSDBSpecialChars string
	// MetrictankOrg is the org of metrictank points that carry none
	// (format 0x03). Default 1.
	MetrictankOrg uint32
}

// NewDecoder returns a decoder of the named format.
func NewDecoder(format string, o DecoderOptions) (Decoder, error) {
	switch format {
	case "influx":
		return &InfluxLines{Precision: o.Precision}, nil
	case "opentsdb":
		return &OpenTSDBDecoder{MaxTags: o.OpenTSDBMaxTags, AllowSpecialChars: o.OpenTSDBSpecialChars}, nil
	case "opentsdb-keyed":
		d := &OpenTSDBKeyedDecoder{}
		d.MaxTags, d.AllowSpecialChars = o.OpenTSDBMaxTags, o.OpenTSDBSpecialChars
		return d, nil
	case "carbon":
		return &CarbonDecoder{}, nil
	case "metrictank":
		return &MdmDecoder{Org: o.MetrictankOrg}, nil
	case "auto":
		d := &AutoDecoder{}
		d.Influx.Precision = o.Precision
		d.OpenTSDB.MaxTags, d.OpenTSDB.AllowSpecialChars = o.OpenTSDBMaxTags, o.OpenTSDBSpecialChars
		d.Metrictank.Org = o.MetrictankOrg
		return d, nil
	}
	return nil, fmt.Errorf("unknown input format %q (valid: %s)", format, InputFormatNames())
}

// IndexUser is a decoder that resolves metrictank ids: the pipeline gives
// it the index of the input partition whose records it decodes next.
type IndexUser interface {
	UseIndex(*MKeyIndex)
}
