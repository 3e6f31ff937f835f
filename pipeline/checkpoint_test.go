package pipeline

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// splitLines cuts text into n pieces at line boundaries.
func splitLines(text string, n int) []string {
	var out []string
	for i := 1; i < n; i++ {
		cut := len(text) / (n - i + 1)
		j := strings.IndexByte(text[cut:], '\n')
		if j < 0 {
			break
		}
		out = append(out, text[:cut+j+1])
		text = text[cut+j+1:]
	}
	return append(out, text)
}

func sortedLines(b *bytes.Buffer) []string {
	if b.Len() == 0 {
		return nil
	}
	l := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	sort.Strings(l)
	return l
}

// feedChunks feeds chunk i of every input to its partition's stream,
// round robin, from chunk `from` to `to`.
func feedChunks(t *testing.T, streams []*Stream, chunks [][]string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		for k, s := range streams {
			if _, err := s.ReadFrom(strings.NewReader(chunks[k][i])); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A run stopped at a checkpoint and resumed from it, on any shard count,
// emits exactly what an uninterrupted run emits: the rollups before the
// checkpoint plus those after are the uninterrupted run's, none twice.
func TestCheckpointResumeEqualsUninterrupted(t *testing.T) {
	const nChunks = 12
	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 5))
		shardsA, shardsB := 1+rng.IntN(3), 1+rng.IntN(4)
		cut := 1 + rng.IntN(nChunks-1)
		t.Run(fmt.Sprintf("seed=%d/shards=%d-%d/cut=%d", seed, shardsA, shardsB, cut), func(t *testing.T) {
			cfg := testConfig(t, shardsA, 20*time.Second,
				"10s:sum,count,min,max,first,last", "1m:sum,count,first,last", "5m:sum,count,min,max")
			cfg.Window.SeriesTTL = 90 * time.Second // expiry mid-run, idle ages in the checkpoint
			base := int64(1700000000) * int64(time.Second)
			var chunks [][]string
			for _, host := range []string{"a", "b"} {
				text, _, _ := randomInput(rng, 2500, base, host)
				chunks = append(chunks, splitLines(text, nChunks))
			}

			// Uninterrupted.
			var whole bytes.Buffer
			u, err := New(cfg, &whole)
			if err != nil {
				t.Fatal(err)
			}
			us := []*Stream{u.NewStream(), u.NewStream()}
			feedChunks(t, us, chunks, 0, nChunks)
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}

			// Stopped at a checkpoint after chunk cut.
			var before bytes.Buffer
			x, err := New(cfg, &before)
			if err != nil {
				t.Fatal(err)
			}
			xs := []*Stream{x.NewStream(), x.NewStream()}
			feedChunks(t, xs, chunks, 0, cut)
			snap := x.Snapshot([]*Partition{xs[0].cur, xs[1].cur}, nil)
			var file bytes.Buffer
			if _, err := x.WriteCheckpoint(&file, snap, CheckpointMeta{Epoch: 3, Delivery: AtLeastOnce}); err != nil {
				t.Fatal(err)
			}
			if err := x.Stop(); err != nil {
				t.Fatal(err)
			}

			// Resumed on another shard count.
			c, err := ParseCheckpoint(file.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if c.Epoch != 3 || c.Shards != shardsA || len(c.Partitions) != 2 || c.Config != ConfigText(&cfg) {
				t.Fatalf("checkpoint header: epoch %d shards %d partitions %d config %q", c.Epoch, c.Shards, len(c.Partitions), c.Config)
			}
			cfgB := cfg
			cfgB.Shards = shardsB
			var after bytes.Buffer
			y, err := New(cfgB, &after)
			if err != nil {
				t.Fatal(err)
			}
			if err := y.Restore(c); err != nil {
				t.Fatal(err)
			}
			var ys []*Stream
			for _, ps := range c.Partitions {
				s := y.NewRouter()
				s.Use(y.RestorePartition(ps))
				ys = append(ys, s)
			}
			feedChunks(t, ys, chunks, cut, nChunks)
			if err := y.Close(); err != nil {
				t.Fatal(err)
			}

			want := sortedLines(&whole)
			got := append(sortedLines(&before), sortedLines(&after)...)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("resumed run differs from the uninterrupted one (%d vs %d rollups):\n%s", len(got), len(want), firstLines(diffLines(got, want), 20))
			}
			if len(sortedLines(&before)) == 0 || len(sortedLines(&after)) == 0 {
				t.Fatalf("cut left no output on one side (%d before, %d after)", before.Len(), after.Len())
			}
		})
	}
}
