// Package ckpt holds the checkpoint file format and the backends that
// store checkpoint files: FS (a local directory) here, HDFS in ckpt/hdfs,
// so that this package stays standard library only.
//
// A checkpoint is one file per epoch, named ckpt-<epoch, 20 digits>.rollup.
// Backends write it under a temporary name (TempPrefix...), make it durable,
// then rename it, so a crash never leaves a half-written checkpoint under a
// checkpoint's name; the caller keeps the newest few.
//
// This package frames and checksums sections; it does not know what they
// mean. The types that own the state encode their payloads (shard.Table,
// window.Store, pipeline for the partitions and the header), and pipeline
// composes the file. Parse verifies a whole file before anything is
// decoded: it stops at the first failing check and says which section, at
// what byte offset, and what failed. Restores map the file (FS) and read
// the fixed-size records in place.
//
// # Byte layout (version 1, all integers little-endian)
//
// Every section and payload starts at a multiple of 8 bytes.
//
//	file header, 32 bytes
//	  0  [8]byte  magic "ROLLCKPT"
//	  8  uint32   version (1)
//	 12  uint32   flags (0)
//	 16  uint64   epoch
//	 24  uint32   reserved (0)
//	 28  uint32   crc32c of bytes 0..27
//	sections, each
//	  0  uint32   kind
//	  4  uint32   scope: the shard or input partition, for kinds per shard or partition; 0 otherwise
//	  8  uint64   count of records (meaning depends on kind)
//	 16  uint64   payload length n, a multiple of 8
//	 24  uint32   crc32c of the payload (padding included)
//	 28  uint32   crc32c of bytes 0..27 of this header
//	 32  [n]byte  payload, zero-padded
//	the end section (kind 0xffff), last
//	  count = number of sections before it; payload = uint64 file length
//
// Payloads by kind (scope: 0 unless "per shard"):
//
//	1 meta (count 0)
//	  0 int64 created (Unix ns)     8 int64 global watermark (Unix ns)
//	 16 uint32 shards that wrote it 20 uint32 delivery (1 at-least-once, 2 exactly-once)
//	 24 uint64 xxhash64 of the config text
//	 32 uint32 config text length T 36 uint32 transactional id length I
//	 40 [24]byte reserved           64 config text, then transactional id
//	2 partitions (count N): N records of 48 bytes, then topic names
//	  0 uint32 name offset  4 uint32 name length  8 int32 partition
//	 12 uint32 flags (bit 0: a valid point was seen)
//	 16 int64 next offset (-1: none read)  24 int64 newest point (Unix ns)
//	 32 int64 watermark last published     40 [8]byte reserved
//	3 series, per shard (count N): N records {uint32 index, uint32 key
//	  length}, then the canonical keys back to back
//	4 store, per shard (count 0): int64 closed-through time, int64 next
//	  expiry sweep (both Unix ns)
//	5 idle ages, per shard (count = pages): per page {uint32 first index,
//	  uint32 0, 1024 x uint8 age}
//	6 window, per shard, one per open window (count = pages): uint32
//	  archive, uint32 0, int64 window start (Unix ns); per page {uint32
//	  first index, uint32 0, 1024 x 64-byte aggregate}; aggregate = f64
//	  sum, u64 count (0: empty), f64 min, f64 max, f64 first, i64 first
//	  time, f64 last, i64 last time
//	7 ids, per input partition (scope = its record's index in section 2;
//	  count N; only for partitions of metrictank input): the partition's
//	  metrictank id index, N entries {16-byte MKey, uint32 org, uint32
//	  last seen (Unix s), uint32 definition length D, D bytes: uint16
//	  name length, name, uint16 tag count, per tag uint16 length and
//	  key, uint16 length and value}
//
// Series indexes are those of the shard that wrote the file; a restore
// inserts each key anew into the shard its hash picks now and translates
// the indexes, so a checkpoint taken on 2 shards restores on 32. Sections
// scoped by shard leave room for sections scoped by input partition (a new
// kind), which scale-out across processes will need to move a partition's
// series with the partition.
//
// Changing the format: see the comment at the top of format.go.
package ckpt
