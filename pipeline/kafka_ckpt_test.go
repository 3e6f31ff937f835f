package pipeline

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
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
