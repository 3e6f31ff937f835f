package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/shard"
	"github.com/rollupd/rollup/window"
)

// Snapshot is a consistent copy of an engine's state, taken at a barrier
// (Source.Snapshot): every record before the partitions' Next offsets is in
// it and none after. Writing it (WriteCheckpoint) may take as long as it
// likes while the engine goes on.
type Snapshot struct {
	Taken      time.Time
	Watermark  int64 // global, Unix ns (math.MinInt64: none yet)
	Partitions []PartitionSnapshot
	// Pause is how long ingestion waited for the snapshot.
	Pause time.Duration

	shards []*shardSnapshot
}

// PartitionSnapshot is the state of one input partition.
type PartitionSnapshot struct {
	Topic     string
	Partition int32
	Next      int64 // next offset to read; -1: nothing read yet
	Newest    int64 // newest valid timestamp delivered, Unix ns
	Seen      bool  // whether Newest is set
	Published int64 // watermark last published, Unix ns
	// IDs is the partition's metrictank id index as a checkpoint payload
	// (fastparse.MKeyIndex.AppendIndex), IDCount its entries.
	IDs     []byte
	IDCount uint64
}

// shardSnapshot holds one shard's checkpoint payloads.
type shardSnapshot struct {
	header     []byte
	recs, keys []byte
	series     int
	idle       []byte
	idlePages  int
	windows    [][]byte
	pages      []int
}

// Series returns the number of series in the snapshot.
func (s *Snapshot) Series() int {
	n := 0
	for _, ss := range s.shards {
		n += ss.series
	}
	return n
}

// Bytes returns the size of the snapshot's payloads.
func (s *Snapshot) Bytes() int {
	n := 0
	for _, ss := range s.shards {
		n += len(ss.header) + len(ss.recs) + len(ss.keys) + len(ss.idle)
		for _, w := range ss.windows {
			n += len(w)
		}
	}
	return n
}

func (w *shardWorker) snapshot(ss *shardSnapshot) {
	ss.header = w.store.AppendHeader(ss.header[:0])
	ss.recs, ss.keys, ss.series = w.table.AppendSeries(ss.recs[:0], ss.keys[:0])
	ss.idle, ss.idlePages = w.store.AppendIdle(ss.idle[:0])
	ss.pages = ss.pages[:0]
	ss.windows = w.store.AppendWindows(ss.windows, func(_ []byte, pages int) {
		ss.pages = append(ss.pages, pages)
	})
}

// Snapshot copies the state of every shard (in parallel, each in its own
// goroutine) and the watermark state of parts. Nothing may feed the engine
// meanwhile: Source.Snapshot pauses its parsers first. Each shard hands its
// buffered output on before copying, so every rollup of a window closed
// before the snapshot has reached the output. atCut, if not nil, runs once
// every shard has copied its state and before any can close another window
// (e.g. to hold the output back for the next transaction).
func (e *Engine) Snapshot(parts []*Partition, atCut func()) *Snapshot {
	// mu keeps watermark advances (Tick) out until every shard has
	// copied its state, so all copies are of one moment.
	e.mu.Lock()
	defer e.mu.Unlock()
	snap := &Snapshot{Taken: e.cfg.Now(), Watermark: e.watermark, shards: make([]*shardSnapshot, len(e.shards))}
	for _, p := range parts {
		newest, seen := p.wm.State()
		snap.Partitions = append(snap.Partitions, PartitionSnapshot{Newest: newest, Seen: seen, Published: p.published, Next: -1})
	}
	done := make(chan struct{}, len(e.shards))
	for i, w := range e.shards {
		ss := &shardSnapshot{}
		if i < len(e.spare) {
			ss = e.spare[i]
		}
		snap.shards[i] = ss
		w.in <- message{barrier: done, do: func(w *shardWorker) { w.snapshot(ss) }}
	}
	for range e.shards {
		<-done
	}
	e.spare = nil
	if atCut != nil {
		atCut()
	}
	return snap
}

// Release gives the snapshot's buffers back to the engine for the next
// snapshot. The snapshot is unusable after.
func (e *Engine) Release(s *Snapshot) {
	e.mu.Lock()
	if len(s.shards) == len(e.shards) {
		e.spare = s.shards
	}
	e.mu.Unlock()
	s.shards = nil
}

// Delivery is the output guarantee a checkpoint was written under.
type Delivery uint32

// The delivery modes.
const (
	AtLeastOnce Delivery = 1
	ExactlyOnce Delivery = 2
)

func (d Delivery) String() string {
	switch d {
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return fmt.Sprintf("delivery(%d)", uint32(d))
}

// CheckpointMeta is what a checkpoint says about who wrote it.
type CheckpointMeta struct {
	Epoch           uint64
	Delivery        Delivery
	TransactionalID string
}

// ConfigText describes the parts of cfg a checkpoint depends on, one
// archive a line ("archive 1m 60s sum,count"): a checkpoint restores only
// under the same text (see Checkpoint.Fingerprint).
func ConfigText(cfg *Config) string {
	var b strings.Builder
	for _, a := range cfg.Window.Archives {
		names := make([]string, len(a.Aggregators))
		for i, g := range a.Aggregators {
			names[i] = g.String()
		}
		fmt.Fprintf(&b, "archive %s %ds %s\n", a.Name, a.Step, strings.Join(names, ","))
	}
	return b.String()
}

// Fingerprint hashes a ConfigText.
func Fingerprint(text string) uint64 { return xxhash.Sum64String(text) }

const (
	maxShards      = 1 << 16 // far above Config's 1024, far below a hostile count
	metaFixed      = 64
	partitionBytes = 48
)

// WriteCheckpoint writes snap as a checkpoint file (see ckpt/doc.go) to w.
// It returns the number of bytes written.
func (e *Engine) WriteCheckpoint(w io.Writer, snap *Snapshot, meta CheckpointMeta) (int64, error) {
	cw, err := ckpt.NewWriter(w, meta.Epoch)
	if err != nil {
		return 0, err
	}
	text := ConfigText(&e.cfg)
	m := make([]byte, metaFixed, metaFixed+len(text)+len(meta.TransactionalID))
	binary.LittleEndian.PutUint64(m[0:], uint64(snap.Taken.UnixNano()))
	binary.LittleEndian.PutUint64(m[8:], uint64(snap.Watermark))
	binary.LittleEndian.PutUint32(m[16:], uint32(len(snap.shards)))
	binary.LittleEndian.PutUint32(m[20:], uint32(meta.Delivery))
	binary.LittleEndian.PutUint64(m[24:], Fingerprint(text))
	binary.LittleEndian.PutUint32(m[32:], uint32(len(text)))
	binary.LittleEndian.PutUint32(m[36:], uint32(len(meta.TransactionalID)))
	m = append(append(m, text...), meta.TransactionalID...)
	cw.Section(ckpt.KindMeta, 0, 0, m)

	recs := make([]byte, 0, len(snap.Partitions)*partitionBytes)
	var names []byte
	for _, p := range snap.Partitions {
		var r [partitionBytes]byte
		binary.LittleEndian.PutUint32(r[0:], uint32(len(names)))
		binary.LittleEndian.PutUint32(r[4:], uint32(len(p.Topic)))
		binary.LittleEndian.PutUint32(r[8:], uint32(p.Partition))
		if p.Seen {
			r[12] = 1
		}
		binary.LittleEndian.PutUint64(r[16:], uint64(p.Next))
		binary.LittleEndian.PutUint64(r[24:], uint64(p.Newest))
		binary.LittleEndian.PutUint64(r[32:], uint64(p.Published))
		recs = append(recs, r[:]...)
		names = append(names, p.Topic...)
	}
	cw.Section(ckpt.KindPartitions, 0, uint64(len(snap.Partitions)), recs, names)
	for i, p := range snap.Partitions {
		if p.IDCount > 0 {
			cw.Section(ckpt.KindIDs, uint32(i), p.IDCount, p.IDs)
		}
	}

	for i, ss := range snap.shards {
		scope := uint32(i)
		cw.Section(ckpt.KindStore, scope, 0, ss.header)
		cw.Section(ckpt.KindSeries, scope, uint64(ss.series), ss.recs, ss.keys)
		cw.Section(ckpt.KindIdle, scope, uint64(ss.idlePages), ss.idle)
		for j, wb := range ss.windows {
			cw.Section(ckpt.KindWindow, scope, uint64(ss.pages[j]), wb)
		}
	}
	err = cw.Close()
	return int64(cw.Size()), err
}

// Checkpoint is a parsed and verified checkpoint file.
type Checkpoint struct {
	Epoch           uint64
	Created         time.Time
	Watermark       int64
	Shards          int
	Delivery        Delivery
	Fingerprint     uint64
	Config          string // ConfigText of the engine that wrote it
	TransactionalID string
	Partitions      []PartitionSnapshot
	Size            int

	file *ckpt.File
}

// ParseCheckpoint verifies data (every checksum) and decodes its header
// sections. The per-shard sections are decoded by Engine.Restore. The
// result aliases data.
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	f, err := ckpt.Parse(data)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Epoch: f.Epoch, Size: f.Size, file: f}
	bad := func(s *ckpt.Section, format string, args ...any) error {
		return fmt.Errorf("checkpoint epoch %d: %s section at byte %d: %s", f.Epoch, s.Kind, s.Offset, fmt.Sprintf(format, args...))
	}
	var meta, parts *ckpt.Section
	for i := range f.Sections {
		s := &f.Sections[i]
		switch s.Kind {
		case ckpt.KindMeta:
			meta = s
		case ckpt.KindPartitions:
			parts = s
		case ckpt.KindStore, ckpt.KindSeries, ckpt.KindIdle, ckpt.KindWindow, ckpt.KindIDs:
		default:
			return nil, bad(s, "unknown section kind %d", uint32(s.Kind))
		}
	}
	if meta == nil || parts == nil {
		return nil, fmt.Errorf("checkpoint epoch %d: no meta or partitions section", f.Epoch)
	}
	m := meta.Data
	if len(m) < metaFixed {
		return nil, bad(meta, "%d bytes, want at least %d", len(m), metaFixed)
	}
	c.Created = time.Unix(0, int64(binary.LittleEndian.Uint64(m[0:])))
	c.Watermark = int64(binary.LittleEndian.Uint64(m[8:]))
	c.Shards = int(binary.LittleEndian.Uint32(m[16:]))
	c.Delivery = Delivery(binary.LittleEndian.Uint32(m[20:]))
	c.Fingerprint = binary.LittleEndian.Uint64(m[24:])
	tl, il := int(binary.LittleEndian.Uint32(m[32:])), int(binary.LittleEndian.Uint32(m[36:]))
	if tl > len(m)-metaFixed || il > len(m)-metaFixed-tl {
		return nil, bad(meta, "config text of %d and id of %d bytes overrun it", tl, il)
	}
	c.Config = string(m[metaFixed : metaFixed+tl])
	c.TransactionalID = string(m[metaFixed+tl : metaFixed+tl+il])
	if c.Shards < 1 || c.Shards > maxShards {
		return nil, bad(meta, "%d shards, want 1..%d", c.Shards, maxShards)
	}
	if Fingerprint(c.Config) != c.Fingerprint {
		return nil, bad(meta, "fingerprint does not match the configuration text")
	}
	n := parts.Count
	if n > uint64(len(parts.Data))/partitionBytes {
		return nil, bad(parts, "%d partitions do not fit in %d bytes", n, len(parts.Data))
	}
	names := parts.Data[n*partitionBytes:]
	for i := uint64(0); i < n; i++ {
		r := parts.Data[i*partitionBytes:]
		off, l := int(binary.LittleEndian.Uint32(r[0:])), int(binary.LittleEndian.Uint32(r[4:]))
		if off > len(names) || l > len(names)-off {
			return nil, bad(parts, "partition %d: topic name overruns the section", i)
		}
		c.Partitions = append(c.Partitions, PartitionSnapshot{
			Topic:     string(names[off : off+l]),
			Partition: int32(binary.LittleEndian.Uint32(r[8:])),
			Seen:      r[12]&1 != 0,
			Next:      int64(binary.LittleEndian.Uint64(r[16:])),
			Newest:    int64(binary.LittleEndian.Uint64(r[24:])),
			Published: int64(binary.LittleEndian.Uint64(r[32:])),
		})
	}
	for i := range f.Sections {
		s := &f.Sections[i]
		switch s.Kind {
		case ckpt.KindMeta, ckpt.KindPartitions:
		case ckpt.KindIDs:
			if int(s.Scope) >= len(c.Partitions) {
				return nil, bad(s, "ids of partition %d of %d", s.Scope, len(c.Partitions))
			}
			p := &c.Partitions[s.Scope]
			if p.IDCount > 0 {
				return nil, bad(s, "second ids section of partition %d", s.Scope)
			}
			// Copied: the partitions outlive the (mapped) file, which
			// is closed once the engine has restored its shards.
			p.IDs, p.IDCount = bytes.Clone(s.Data), s.Count
		default:
			if int(s.Scope) >= c.Shards {
				return nil, bad(s, "shard %d of a checkpoint of %d shards", s.Scope, c.Shards)
			}
		}
	}
	return c, nil
}

// Sections returns the file's sections (for inspection).
func (c *Checkpoint) Sections() []ckpt.Section { return c.file.Sections }

// ErrRestoreAfterStart is returned by Restore once a stream exists.
var ErrRestoreAfterStart = errors.New("restore: the engine has already been fed")

// Restore loads the series and open windows of c into the engine, which
// must be new (no stream yet). Series are re-routed by their key, so a
// checkpoint restores onto any shard count. Each shard loads its own part
// in its own goroutine. Partition state is restored by the Source.
func (e *Engine) Restore(c *Checkpoint) error {
	e.regMu.Lock()
	fed := len(e.streams) > 0
	e.regMu.Unlock()
	if fed {
		return ErrRestoreAfterStart
	}
	errs := make([]error, len(e.shards))
	done := make(chan struct{}, len(e.shards))
	for i, w := range e.shards {
		w.in <- message{barrier: done, do: func(w *shardWorker) {
			errs[i] = w.restore(c, i, len(e.shards))
		}}
	}
	for range e.shards {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("checkpoint epoch %d: %w", c.Epoch, err)
	}
	e.mu.Lock()
	if c.Watermark > e.watermark {
		e.watermark = c.Watermark
		e.wmRead.Store(c.Watermark)
	}
	e.mu.Unlock()
	return nil
}

// notMine marks, in a restore's index translation, a series another shard
// took.
const notMine = math.MaxUint32

// restore loads the series of c that route to shard i of n, with their
// idle ages and aggregates.
func (w *shardWorker) restore(c *Checkpoint, i, n int) error {
	// Old shard -> old index -> new index+1 (or notMine). Paged, so that
	// a sparse table (many series expired) or a hostile file costs pages
	// only where indexes are.
	trans := make([]shard.Paged[uint32], c.Shards)
	// Series go where this engine routes them, whatever routed them
	// when the checkpoint was written.
	route := shard.RouteHash
	if w.cfg.RouteByTags {
		route = shard.RouteHashTags
	}
	secs := c.file.Sections
	var total uint64
	for k := range secs {
		if secs[k].Kind == ckpt.KindSeries {
			// Counted by what the section can hold, not what it
			// claims, so a hostile count cannot reserve memory.
			total += min(secs[k].Count, uint64(len(secs[k].Data)/shard.SeriesRecordSize))
		}
	}
	// Series spread evenly by hash; a little slack for the spread.
	w.table.Reserve(int(total/uint64(n) + total/uint64(8*n) + 16))
	for k := range secs {
		s := &secs[k]
		switch s.Kind {
		case ckpt.KindStore:
			closed, next, err := window.ReadHeader(s.Data)
			if err != nil {
				return fmt.Errorf("shard %d: %w", s.Scope, err)
			}
			w.store.Restore(closed, next)
		case ckpt.KindSeries:
			t := &trans[s.Scope]
			err := shard.ReadSeries(s.Data, s.Count, func(idx uint32, key []byte) error {
				slot := t.At(idx)
				if *slot != 0 {
					return fmt.Errorf("series index %d listed twice", idx)
				}
				if n > 1 && shard.ShardOf(route(key), n) != i {
					*slot = notMine
					return nil
				}
				if !shard.ValidKey(key) {
					return fmt.Errorf("series index %d: key %.64q is not a canonical series key", idx, key)
				}
				ni, dup, err := w.table.InsertUnique(shard.Hash(key), key)
				if err != nil {
					return err
				}
				if dup {
					return fmt.Errorf("series %.64q listed twice", key)
				}
				*slot = ni + 1
				return nil
			})
			if err != nil {
				return fmt.Errorf("shard %d: %w", s.Scope, err)
			}
		}
	}
	lookup := func(scope, idx uint32) (uint32, bool, error) {
		v := trans[scope].Get(idx)
		if v == nil || *v == 0 {
			return 0, false, fmt.Errorf("shard %d: state of series index %d, which the series section does not list", scope, idx)
		}
		if *v == notMine {
			return 0, false, nil
		}
		return *v - 1, true, nil
	}
	for k := range secs {
		s := &secs[k]
		switch s.Kind {
		case ckpt.KindIdle:
			err := window.ReadIdle(s.Data, s.Count, func(idx uint32, age uint8) error {
				ni, mine, err := lookup(s.Scope, idx)
				if mine {
					w.store.SetIdle(ni, age)
				}
				return err
			})
			if err != nil {
				return err
			}
		case ckpt.KindWindow:
			err := window.ReadWindow(s.Data, s.Count, func(arch int, start int64, idx uint32, a *window.Agg) error {
				ni, mine, err := lookup(s.Scope, idx)
				if err != nil || !mine {
					return err
				}
				return w.store.RestoreAgg(arch, start, ni, a)
			})
			if err != nil {
				return fmt.Errorf("shard %d: %w", s.Scope, err)
			}
		}
	}
	w.publishCounters()
	return nil
}
