// Package pipeline wires decoders, shards, windows and encoders into an
// engine: input streams decode bytes and route points to shard goroutines in
// batches; each shard goroutine owns a series table and a window store and
// encodes the rollups of the windows it closes.
//
// Ordering rule that makes lateness exact: a stream sends every batch it has
// built before it publishes its new watermark, and the engine sends the
// resulting "advance" to each shard's channel after that, so a shard always
// sees a point before the close of the window the point belongs to (its
// window ends after its own stream's watermark, which bounds the global one).
//
// Watermarks belong to Partitions (one per Kafka partition, or one for the
// offline input); a Stream is one goroutine's decoder and batches, and may
// feed many partitions in turn (Use flushes before switching, so the rule
// above holds per partition). With Config.IdleTimeout, a partition that
// delivered nothing for that long (and is not behind its broker's high
// watermark) stops holding the global watermark back, and when all are idle
// the wall clock advances it (Engine.Tick); SuspendIdle turns idleness off
// while the brokers are unreachable.
//
// Output goes through a ShardSink per shard goroutine: WriterOutput for an
// io.Writer, KafkaOutput for emit's Kafka batcher.
//
// Source (kafka.go) reads Kafka: it finds partitions itself (a metadata
// request every MetadataInterval, so new partitions and regex-matched topics
// are picked up from their earliest offset), hands each partition's fetches
// to a fixed parser goroutine, and keeps per-partition offsets, lag and
// watermark for /metrics. When its context ends it stops fetching and
// applies everything already fetched before returning.
//
// Checkpoints (checkpoint.go, checkpointer.go): Source.Snapshot takes a
// consistent cut (dispatch to the parsers pauses, they drain, every shard
// copies its state in its own goroutine, ingestion resumes);
// WriteCheckpoint frames the copy for package ckpt; Engine.Restore loads
// one onto any shard count; a Checkpointer takes them at an interval,
// writes them in the background and keeps the newest few. Exactly-once
// output (txn.go): the output is held from the cut until the epoch's
// Kafka transaction commits with its marker record.
//
// Service (service.go) is the lifecycle of `rollup run`: StartService
// starts output, transactions, restore, source and checkpoints in that
// order; Wait stops them in reverse order within the shutdown timeout.
//
// A Stream is used by one goroutine. Engine methods are safe for concurrent
// use except Close and Stop, one of which must be called once, after every
// stream is done. Counters may be read at any time.
package pipeline
