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
// A Stream is used by one goroutine. Engine methods are safe for concurrent
// use except Close, which must be called once, after every stream is done.
package pipeline
