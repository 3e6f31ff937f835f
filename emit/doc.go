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
// What this package must not do: no I/O, no goroutines, no locks, no logging,
// no fmt or encoding/json on the Append path (it runs once per rollup), no
// dependency beyond the standard library. Counting drops by reason and
// deciding how many objects go into one Kafka record is the caller's job.
//
// Lifetime rules: an Encoder keeps nothing between calls. Append and
// AppendWindow read their argument and the byte slices it points to only
// during the call and appends
// to the caller's dst; it never retains dst or the Rollup. Encoders hold
// only their immutable Options, so one Encoder may be shared by goroutines.
// An ArrayWriter holds one counter and belongs to one goroutine.
package emit
