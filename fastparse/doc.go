// Package fastparse decodes metric wire formats into reusable state without
// allocating. point.go holds what every format shares: the point types
// (Tag, Field) and the Decoder interface the pipeline decodes any format
// through. influx.go holds the InfluxDB line-protocol decoder
// (InfluxDecoder; InfluxLines is it as a Decoder), which Telegraf's influx
// serializer writes and the pipeline reads from Kafka records.
// opentsdb.go, carbon.go and mdm.go decode OpenTSDB put lines, Graphite
// carbon plaintext and metrictank's kafka-mdm records (mkeyindex.go is the
// id index those need); auto.go tells them apart per record.
//
// # What it must not do
//
// The package is a pure leaf: the standard library and tinylib/msgp's
// allocation-free readers (for metrictank's MetricData), no I/O, no logging,
// no goroutines, no global mutable state. It does not decide what a bad
// line means for the pipeline; it reports the line's position and a
// Reason to count, and carries on with the next line. It must not allocate
// per line once its scratch buffers have grown to fit the input - including
// for lines with escapes, unsorted tags and malformed lines. (One exception,
// see parseFloatSlow: an overflowing hexadecimal float such as 0x1p1024 is
// left to strconv, whose error allocates.)
//
// # Lifetime of results
//
// The decoder returns sub-slices of the buffer given to Reset and of its own
// scratch buffers. THE SLICES RETURNED BY Measurement, Tags AND Fields (AND
// THE Key, Value AND Str SLICES INSIDE THEM) ARE VALID ONLY UNTIL THE NEXT
// CALL TO Next OR Reset, AND ONLY AS LONG AS THE BUFFER IS NOT MODIFIED.
// Copy whatever must outlive the line (a new series key goes into the
// shard's arena). The *ParseError returned by Err is overwritten by the next
// call to Next or Reset as well; a copy of the struct is self-contained.
//
// # Compatibility with line-protocol v2
//
// The accepted language and the decoded values match
// github.com/influxdata/line-protocol/v2 v2.2.1 (lineprotocol.Decoder used
// with Measurement, NextTag, NextField and Time), which the differential test
// in benchmarks/peer checks: the same lines are accepted and rejected, a
// buffer is split into the same lines (including after errors), and
// accepted lines give the same measurement, tags, fields (floats
// bit-for-bit) and time. In particular, as in v2:
//
//   - escapes are per element (measurement: \, and \space; tag keys, tag
//     values and field keys: \, \= and \space; string values: \\ \" \n \r
//     \t); a backslash before any other byte is kept verbatim;
//   - a quoted string may contain raw newlines and any control byte, so a
//     line can span several physical lines;
//   - numbers follow strconv: floats may be written "1.", ".5", "1e5",
//     "0x1p-2" or "1_000" (strconv's Go-literal syntax), integers "01i";
//     "NaN", "Inf", "+1" and "1e5i" are rejected;
//   - a timestamp follows strconv.ParseInt, so leading zeros may make it
//     longer than 19 digits;
//   - lines may start with spaces and use several spaces as separators,
//     but a TAB is not a separator; a lone CR is an error;
//   - after an error decoding resumes after the next LF following the point
//     where the error was found, even if that LF is inside a quoted string
//     that comes later in the line; and where v2 resumes at a lone CR (text
//     that is not a timestamp after the fields, e.g. "m f=1 x\ry"), the CR
//     starts one more rejected line, so one physical line can yield two
//     errors.
//
// The one deliberate difference: a line in which a tag key occurs twice
// is rejected with ReasonDuplicateTag (v2 returns both tags and leaves the
// choice to the caller; we promise sorted, unique tags so that a series
// key can be built from them directly).
//
// Error messages and positions are this package's own; Reason classifies
// the error for metrics.
package fastparse
