package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/rollupd/rollup/ckpt"
)

// TestKafkaCheckpointResume: a service stopped after a checkpoint and a new
// one restored from it (on another shard and parser count) together emit
// exactly the rollups of the whole input read offline; the partitions
// resume at the checkpoint's offsets, so nothing is read twice or skipped.
func TestKafkaCheckpointResume(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(3, "a", "b"), kfake.SeedTopics(4, "out"))
	clock := newTestClock(time.Unix(1700003600, 0))
	archives := []string{"1m:sum,count,min,max,first,last", "5m:sum,count,last", "1h:sum,count"}
	recs, all := genRecords(12, 60, []string{"a", "b"}, 3)
	half := len(recs) / 2

	cfgA := testConfig(t, 2, 10*time.Second, archives...)
	cfgA.Now, cfgA.IdleTimeout = clock.now, time.Minute
	a := startRig(t, c, cfgA, SourceConfig{Topics: []string{"a", "b"}, Parsers: 2})
	a.produceRecords(recs[:half])
	waitFor(t, "first half read", func() bool {
		var n int64
		for _, p := range a.src.Partitions() {
			n += p.Records
		}
		return n == int64(half)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := a.src.Snapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if _, err := a.e.WriteCheckpoint(&file, snap, CheckpointMeta{Epoch: 1, Delivery: AtLeastOnce}); err != nil {
		t.Fatal(err)
	}
	var next int64
	for _, p := range snap.Partitions {
		next += p.Next
	}
	if len(snap.Partitions) != 6 || next != int64(half) {
		t.Fatalf("snapshot: %d partitions, offsets sum to %d; want 6 and %d", len(snap.Partitions), next, half)
	}
	a.stop()

	ck, err := ParseCheckpoint(file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cfgB := testConfig(t, 3, 10*time.Second, archives...)
	cfgB.Now, cfgB.IdleTimeout = clock.now, time.Minute
	b := startRigRestored(t, c, cfgB, SourceConfig{Topics: []string{"a", "b"}, Parsers: 1, Restore: ck.Partitions}, ck)
	b.produceRecords(recs[half:])
	waitFor(t, "second half read", func() bool {
		var n int64
		for _, p := range b.src.Partitions() {
			n += p.Records
		}
		return n == int64(len(recs)-half)
	})
	clock.add(2 * time.Minute)
	ref := testConfig(t, 1, 10*time.Second, archives...)
	want, _ := run(t, ref, bytes.NewReader(all))
	got := readOutput(t, b.addrs, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("rollups of the two runs differ from offline: got %d, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}
}

// failingBackend is an FS whose writes fail while fail is set, as a full
// disk makes them.
type failingBackend struct {
	*ckpt.FS
	fail atomic.Bool
}

func (f *failingBackend) Write(ctx context.Context, name string, write func(io.Writer) error) error {
	if f.fail.Load() {
		return fmt.Errorf("cannot write %s: %w", name, syscall.ENOSPC)
	}
	return f.FS.Write(ctx, name, write)
}

// TestCheckpointerBackendFailure: a full disk fails checkpoints (counted,
// retried until the attempt's time is up) but ingestion goes on, the last
// good checkpoint stays loadable, and checkpoints resume when the disk
// has room again.
func TestCheckpointerBackendFailure(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "out"))
	clock := newTestClock(time.Unix(1700003600, 0))
	cfg := testConfig(t, 2, 10*time.Second, "1m:sum,count")
	cfg.Now = clock.now
	r := startRig(t, c, cfg, SourceConfig{Topics: []string{"in"}})
	fs, err := ckpt.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &failingBackend{FS: fs}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp, err := NewCheckpointer(CheckpointerConfig{Backend: b, Log: log, FlushOutput: r.out.Flush}, r.e, r.src, 0)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := genRecords(4, 30, []string{"in"}, 1)
	read := func(n int) {
		waitFor(t, fmt.Sprintf("%d records read", n), func() bool {
			ps := r.src.Partitions()
			return len(ps) == 1 && ps[0].Records == int64(n)
		})
	}
	r.produceRecords(recs[:40])
	read(40)
	ctx := context.Background()
	if err := cp.Take(ctx); err != nil {
		t.Fatal(err)
	}
	b.fail.Store(true)
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = cp.Take(tctx)
	cancel()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Take on a full disk: %v", err)
	}
	if st := cp.Stats(); st.Failures["no_space"] == 0 || st.Epoch != 1 {
		t.Fatalf("failure not counted or epoch moved: %+v", st)
	}
	r.produceRecords(recs[40:80]) // ingestion goes on
	read(80)
	loaded, _, err := LoadNewest(ctx, b, log)
	if err != nil || loaded == nil || loaded.Checkpoint.Epoch != 1 {
		t.Fatalf("last good checkpoint not loadable: %v %v", loaded, err)
	}
	if got := loaded.Checkpoint.Partitions[0].Next; got != 40 {
		t.Fatalf("last good checkpoint at offset %d, want 40", got)
	}
	loaded.Release()
	b.fail.Store(false)
	if err := cp.Take(ctx); err != nil {
		t.Fatal(err)
	}
	loaded, _, _ = LoadNewest(ctx, b, log)
	if loaded.Checkpoint.Epoch != 2 || loaded.Checkpoint.Partitions[0].Next != 80 {
		t.Fatalf("after the disk recovered: epoch %d offset %d", loaded.Checkpoint.Epoch, loaded.Checkpoint.Partitions[0].Next)
	}
	loaded.Release()
}

// TestKafkaStartLatestCheckpoint: with StartLatest, a partition's start is
// resolved to its end offset at discovery, so a checkpoint taken before its
// first record resumes there: neither what was skipped at the first start
// is read after a restart, nor what arrived in between is lost.
func TestKafkaStartLatestCheckpoint(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "out"))
	cfg := testConfig(t, 1, 10*time.Second, "1m:sum")
	recs, _ := genRecords(2, 20, []string{"in"}, 1)
	a := startRig(t, c, cfg, SourceConfig{Topics: []string{"in"}, StartLatest: true})
	a.produceRecords(recs[:10]) // may land before or after discovery: wait for it first
	a.stop()

	b := startRig(t, c, cfg, SourceConfig{Topics: []string{"in"}, StartLatest: true})
	waitFor(t, "partition discovered", func() bool { return len(b.src.Partitions()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := b.src.Snapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Partitions[0].Next; got != 10 {
		t.Fatalf("next offset before the first record: %d, want the end offset 10", got)
	}
	var file bytes.Buffer
	b.e.WriteCheckpoint(&file, snap, CheckpointMeta{Epoch: 1, Delivery: AtLeastOnce})
	b.stop()
	ck, err := ParseCheckpoint(file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b.produceRecords(recs[10:15]) // while no service runs
	r := startRigRestored(t, c, cfg, SourceConfig{Topics: []string{"in"}, StartLatest: true, Restore: ck.Partitions}, ck)
	waitFor(t, "the 5 records since the checkpoint", func() bool {
		ps := r.src.Partitions()
		return len(ps) == 1 && ps[0].Records == 5 && ps[0].Offset == 15
	})
}
