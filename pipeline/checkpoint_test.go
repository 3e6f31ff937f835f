package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
	"github.com/rollupd/rollup/window"
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
	type resumeCase struct {
		seed             uint64
		rng              *rand.Rand // for the input, after the draws that made the case
		shardsA, shardsB int
		cut              int
		byTagsA, byTagsB bool // Config.RouteByTags before and after
	}
	var cases []resumeCase
	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 5))
		shardsA, shardsB := 1+rng.IntN(3), 1+rng.IntN(4)
		cases = append(cases, resumeCase{seed, rng, shardsA, shardsB, 1 + rng.IntN(nChunks-1), false, false})
	}
	// The routing may change across the restart: series must be placed
	// by the restoring engine's routing, or a series would live in two
	// shards.
	for i, m := range [][2]bool{{true, true}, {true, false}, {false, true}} {
		seed := uint64(20 + i)
		cases = append(cases, resumeCase{seed, rand.New(rand.NewPCG(seed, 5)), 3, 2, 6, m[0], m[1]})
	}
	for _, tc := range cases {
		seed, rng, shardsA, shardsB, cut, byTagsA, byTagsB := tc.seed, tc.rng, tc.shardsA, tc.shardsB, tc.cut, tc.byTagsA, tc.byTagsB
		t.Run(fmt.Sprintf("seed=%d/shards=%d-%d/cut=%d/bytags=%v-%v", seed, shardsA, shardsB, cut, byTagsA, byTagsB), func(t *testing.T) {
			cfg := testConfig(t, shardsA, 20*time.Second,
				"10s:sum,count,min,max,first,last", "1m:sum,count,first,last", "5m:sum,count,min,max")
			cfg.RouteByTags = byTagsA
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
			cfgB.Shards, cfgB.RouteByTags = shardsB, byTagsB
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

// stateDump describes an engine's state canonically (by series key, not
// index): every open window's aggregate and every idle age, sorted.
func stateDump(t *testing.T, e *Engine) []string {
	t.Helper()
	var out []string
	done := make(chan struct{}, len(e.shards))
	dumps := make([][]string, len(e.shards))
	for i, w := range e.shards {
		w.in <- message{barrier: done, do: func(w *shardWorker) {
			var d []string
			ss := &shardSnapshot{}
			w.snapshot(ss)
			keys := map[uint32]string{}
			for idx, key := range w.table.All() {
				keys[idx] = string(key)
			}
			for j, payload := range ss.windows {
				window.ReadWindow(payload, uint64(ss.pages[j]), func(arch int, start int64, idx uint32, a *window.Agg) error {
					d = append(d, fmt.Sprintf("%q a%d %d %+v", keys[idx], arch, start, *a))
					return nil
				})
			}
			window.ReadIdle(ss.idle, uint64(ss.idlePages), func(idx uint32, age uint8) error {
				d = append(d, fmt.Sprintf("%q idle %d", keys[idx], age))
				return nil
			})
			for _, k := range keys {
				d = append(d, fmt.Sprintf("%q series", k))
			}
			dumps[i] = d
		}}
	}
	for range e.shards {
		<-done
	}
	for _, d := range dumps {
		out = append(out, d...)
	}
	sort.Strings(out)
	return out
}

// Write, read and restore give back exactly the state, by series key:
// empty, one series, and many series with several open fine windows,
// coarse archives mid-window, expired series (free-list holes); onto the
// same and other shard counts.
func TestCheckpointRoundTripState(t *testing.T) {
	base := int64(1700000000) * int64(time.Second)
	inputs := map[string]string{
		"empty":      "",
		"one series": fmt.Sprintf("cpu,host=a usage=1 %d\n", base),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	many, _, _ := randomInput(rng, 20000, base, "h")
	inputs["many"] = many
	for name, input := range inputs {
		for _, shards := range [][2]int{{1, 1}, {2, 2}, {3, 1}, {1, 4}} {
			t.Run(fmt.Sprintf("%s/shards=%d-%d", name, shards[0], shards[1]), func(t *testing.T) {
				cfg := testConfig(t, shards[0], 20*time.Second, "10s:sum,count,min,max,first,last", "1m:sum", "5m:sum")
				cfg.Window.SeriesTTL = 30 * time.Second
				e, err := New(cfg, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				s := e.NewStream()
				s.ReadFrom(strings.NewReader(input))
				e.Sync()
				before := stateDump(t, e)
				var file bytes.Buffer
				snap := e.Snapshot([]*Partition{s.cur}, nil)
				if _, err := e.WriteCheckpoint(&file, snap, CheckpointMeta{Epoch: 1, Delivery: AtLeastOnce}); err != nil {
					t.Fatal(err)
				}
				c, err := ParseCheckpoint(file.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				if c.Watermark != e.Watermark() {
					t.Fatalf("watermark %d, want %d", c.Watermark, e.Watermark())
				}
				cfg.Shards = shards[1]
				r, err := New(cfg, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Restore(c); err != nil {
					t.Fatal(err)
				}
				after := stateDump(t, r)
				if !slices.Equal(before, after) {
					t.Fatalf("state differs after the round trip (%d vs %d lines):\n%s", len(before), len(after), firstLines(diffLines(after, before), 10))
				}
				if name == "many" && (!slices.ContainsFunc(before, func(l string) bool { return strings.Contains(l, " a2 ") }) ||
					e.Counters().Series == 0 || r.Counters().Series != e.Counters().Series) {
					t.Fatalf("state lacks coarse windows or series: %d series", e.Counters().Series)
				}
				e.Stop()
				r.Stop()
			})
		}
	}
}

// A byte changed in any section of a real checkpoint is reported with that
// section's kind and offset.
func TestCheckpointEverySectionCorruption(t *testing.T) {
	cfg := testConfig(t, 2, 20*time.Second, "10s:sum", "1m:sum")
	e, _ := New(cfg, io.Discard)
	s := e.NewStream()
	s.ReadFrom(strings.NewReader("cpu,host=a usage=1 1700000000000000000\ncpu,host=b usage=2 1700000031000000000\n"))
	var file bytes.Buffer
	snap := e.Snapshot([]*Partition{s.cur}, nil)
	// A metrictank id index, as a partition of metrictank input has.
	md := emit.MetricData{OrgID: 1, Name: "some.metric", Interval: 10, Value: 1.5, Unit: "unknown", Time: 1700000000, Mtype: "gauge"}
	ids := fastparse.NewMKeyIndex(0, 0)
	dec := fastparse.MdmDecoder{Index: ids}
	dec.Reset(emit.AppendMetricData(nil, &md, md.MetricKey()), 0)
	for dec.Next() {
	}
	var n int
	snap.Partitions[0].IDs, n = ids.AppendIndex(nil)
	snap.Partitions[0].IDCount = uint64(n)
	e.WriteCheckpoint(&file, snap, CheckpointMeta{Epoch: 2, Delivery: AtLeastOnce})
	e.Stop()
	f, err := ckpt.Parse(file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCheckpoint(file.Bytes())
	if err != nil || c.Partitions[0].IDCount != 1 || fastparse.NewMKeyIndex(0, 0).ReadIndex(c.Partitions[0].IDs, 1) != nil {
		t.Fatalf("ids section does not read back: %v %+v", err, c.Partitions)
	}
	kinds := map[ckpt.Kind]bool{}
	for i, sec := range f.Sections {
		kinds[sec.Kind] = true
		for _, off := range []int{sec.Offset + 3, sec.Offset + 40} { // header, payload
			if off >= sec.Offset+32+len(sec.Data) {
				continue
			}
			b := bytes.Clone(file.Bytes())
			b[off] ^= 0x10
			_, err := ParseCheckpoint(b)
			want := fmt.Sprintf("section %d", i)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("byte %d of section %d (%s): %v", off, i, sec.Kind, err)
			}
		}
	}
	for _, k := range []ckpt.Kind{ckpt.KindMeta, ckpt.KindPartitions, ckpt.KindSeries, ckpt.KindStore, ckpt.KindIdle, ckpt.KindWindow, ckpt.KindIDs} {
		if !kinds[k] {
			t.Errorf("checkpoint has no %s section", k)
		}
	}
}
