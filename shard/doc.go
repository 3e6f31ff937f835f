// Package shard routes series to shards and stores them.
//
// A series is identified by its canonical key (see key.go): the tag set sorted
// by key followed by the metric name. Keys are hashed with xxhash64; the hash
// picks the shard (low bits) and the home slot in that shard's Table (high
// bits). A Table is an open-addressed hash table of series indexes with the
// key bytes kept once in an arena; a lookup always compares the stored key, so
// two keys whose hashes collide stay two series.
//
// Series indexes are small dense integers (reused after Delete), so per-series
// state elsewhere (package window) lives in fixed-size records in paged arrays
// indexed by them, which a checkpoint can write and reload sequentially.
//
// This package does no I/O, starts no goroutines and takes no locks: a Table
// is owned by exactly one goroutine. Batches carry points from a parser
// goroutine to a shard goroutine; a Batch is owned by one goroutine at a time.
//
// Lifetime rules: a key returned by Table.Key or Batch.Key is valid until the
// next call that mutates that Table or Batch.
package shard
