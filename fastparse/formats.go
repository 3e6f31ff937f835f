package fastparse

import (
	"fmt"
	"strings"
)

// InputFormat is one input format the pipeline reads.
type InputFormat struct {
	Name string
	Help string
}

// InputFormats lists every input format: the flags' enums, --help, NewDecoder
// and its error message all follow it.
var InputFormats = []InputFormat{
	{"influx", "InfluxDB line protocol (what Telegraf's influx serializer writes; a record may hold one line or many)"},
	{"opentsdb", "OpenTSDB telnet put lines (put <metric> <timestamp> <value> <tagk=tagv>...; seconds or milliseconds)"},
	{"carbon", "Graphite carbon plaintext (<path> <value> <seconds>; tagged series as <name>;<tag>=<value>...)"},
	{"auto", "told per record from its first line: influx, opentsdb or carbon (records that fit none are counted as unknown_format)"},
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
}

// NewDecoder returns a decoder of the named format.
func NewDecoder(format string, o DecoderOptions) (Decoder, error) {
	switch format {
	case "influx":
		return &InfluxLines{Precision: o.Precision}, nil
	case "opentsdb":
		return &OpenTSDBDecoder{MaxTags: o.OpenTSDBMaxTags, AllowSpecialChars: o.OpenTSDBSpecialChars}, nil
	case "carbon":
		return &CarbonDecoder{}, nil
	case "auto":
		d := &AutoDecoder{}
		d.Influx.Precision = o.Precision
		d.OpenTSDB.MaxTags, d.OpenTSDB.AllowSpecialChars = o.OpenTSDBMaxTags, o.OpenTSDBSpecialChars
		return d, nil
	}
	return nil, fmt.Errorf("unknown input format %q (valid: %s)", format, InputFormatNames())
}
