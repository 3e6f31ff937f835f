// Package emit encodes rollups (one aggregated value of one series for one
// closed window) into the output formats the service writes to Kafka.
//
// Two formats exist, one file each:
//
//   - "jsonl" (jsonl.go): one JSON object per line, newline-terminated, for
//     our own consumers and for debugging.
//   - "opentsdb" (opentsdb.go): one opentsdb-rpc-kafka "Aggregate" object,
//     no newline, ready to be written alone as a Kafka record value or
//     framed into a JSON array with ArrayWriter.
//
// Encoders validate before they write. OpenTSDB's Kafka consumer does not
// catch the exception an invalid Aggregate raises: the rest of the record is
// lost and five such records in a row kill the consumer thread. So the
// opentsdb encoder refuses (returns a DropReason, writes nothing) everything
// the TSD would reject: no tags, too many tags, a character outside OpenTSDB's
// set, a derived aggregator, a timestamp that is not positive 32-bit seconds,
// a value that is NaN or infinite, an _aggregate tag. The interval string is
// checked once, at configuration time, by ValidateOpenTSDBInterval, not per
// rollup.
//
// AppendWindow encodes every aggregator of one series window at once: the
// series part (metric, tags, step, start) is escaped and validated once and
// copied for each value, which is what makes encoding cheap enough to keep
// up with the engine when every point yields about one rollup.
//
// The encoders must not do I/O, start goroutines, lock, log, or use fmt or
// encoding/json on the Append path (it runs once per rollup); they use the
// standard library only.
//
// The Kafka output (kafka.go) is the one part with I/O: a KafkaSink per
// shard goroutine batches encoded windows into one open record per output
// partition (a JSON array for opentsdb, lines for jsonl, at most
// RecordBytes), in bytebufferpool buffers that go back to the pool when the
// broker acknowledges the record; KafkaOutput holds the franz-go client, the
// partition counts and the delivery counters. Producing blocks when the
// client's buffer is full: that backpressure is what bounds memory while a
// broker is down.
//
// Lifetime rules: an Encoder keeps nothing between calls. Append and
// AppendWindow read their argument and the byte slices it points to only
// during the call and appends
// to the caller's dst; it never retains dst or the Rollup. Encoders hold
// only their immutable Options, so one Encoder may be shared by goroutines.
// What is worth keeping from one window to the next is kept in the Window
// itself, which its owner reuses for the windows of one shard: the digits
// of its start, and the bytes an encoder wrote after the metric (tags,
// step, start), which the next window of the same tags copies (both are
// copies, not slices of what the window was given). So a Window belongs to
// one goroutine.
// An ArrayWriter holds one counter and belongs to one goroutine, and so does
// a KafkaSink; a KafkaOutput is safe for concurrent use.
package emit
