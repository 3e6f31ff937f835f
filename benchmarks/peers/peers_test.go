package peers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// peers lists the implementations compared, each aggregating all of buf
// from fresh state and returning the number of rollups it produced.
var peers = []struct {
	name string
	run  func(buf []byte, rec recorder) (int, error)
}{
	{"rollup", func(buf []byte, rec recorder) (int, error) {
		if rec == nil {
			return runRollup(buf, io.Discard)
		}
		var out bytes.Buffer
		n, err := runRollup(buf, &out)
		if err != nil {
			return 0, err
		}
		return n, recordJSONL(&out, rec)
	}},
	{"victoriametrics", runVictoriaMetrics},
	{"telegraf", runTelegraf},
}

// BenchmarkPeers aggregates the same bytes with each peer on one P and
// reports points per CPU-second (user+system time of the process, so the
// peers' helper goroutines and the GC count too).
//
//	cd benchmarks/peers && go test -run '^$' -bench Peers -benchtime 1x -count 5
func BenchmarkPeers(b *testing.B) {
	in := benchmarkInput(b)
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			b.SetBytes(int64(len(in.buf)))
			b.ReportAllocs()
			var cpu time.Duration
			outputs := 0
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				runtime.GC() // do not charge one peer for another's garbage
				cpu0 := cpuTime()
				b.StartTimer()
				n, err := p.run(in.buf, nil)
				b.StopTimer()
				cpu += cpuTime() - cpu0
				if err != nil {
					b.Fatal(err)
				}
				if n != in.outputs() {
					b.Fatalf("%d rollups, want %d (%d series x %d windows x %d aggregators)",
						n, in.outputs(), in.series, in.windows, len(aggNames))
				}
				outputs = n
			}
			points := float64(in.points) * float64(b.N)
			b.ReportMetric(points/cpu.Seconds(), "points/cpu-s")
			b.ReportMetric(float64(in.points), "points")
			b.ReportMetric(float64(outputs), "outputs")
		})
	}
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPeersAgree checks that the benchmark compares like with like: on a
// small input (20 hosts, 12 intervals of 10s starting 20s into a minute,
// so three windows, the first and last partial) every peer produces, for
// every window and aggregator, a rollup for the same series with the same
// value.
func TestPeersAgree(t *testing.T) {
	in := newInput(20, 12)
	type key struct {
		window      int64
		agg, series string
	}
	results := make([]map[key]float64, len(peers))
	for i, p := range peers {
		got := map[key]float64{}
		n, err := p.run(in.buf, func(window int64, agg, series string, v float64) {
			k := key{window, agg, series}
			if _, dup := got[k]; dup {
				t.Errorf("%s: two rollups for %v", p.name, k)
			}
			got[k] = v
		})
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if n != len(got) || n != in.outputs() {
			t.Fatalf("%s: returned %d rollups, recorded %d, want %d", p.name, n, len(got), in.outputs())
		}
		results[i] = got
	}
	// Rollups per window and aggregator, as a table in the log.
	counts := make([]map[string]int, len(peers))
	for i, got := range results {
		counts[i] = map[string]int{}
		for k := range got {
			counts[i][fmt.Sprintf("%d/%s", k.window, k.agg)]++
		}
	}
	var cells []string
	for c := range counts[0] {
		cells = append(cells, c)
	}
	sort.Strings(cells)
	for _, c := range cells {
		line := fmt.Sprintf("window/agg %-20s", c)
		for i, p := range peers {
			line += fmt.Sprintf(" %s=%d", p.name, counts[i][c])
		}
		t.Log(line)
	}
	if len(cells) != in.windows*len(aggNames) {
		t.Errorf("%d window/aggregator cells, want %d", len(cells), in.windows*len(aggNames))
	}
	for i := 1; i < len(peers); i++ {
		bad := 0
		for k, want := range results[0] {
			got, ok := results[i][k]
			if ok && (got == want || math.Abs(got-want) <= 1e-9*math.Abs(want)) {
				continue
			}
			if bad++; bad <= 5 {
				t.Errorf("%s %v = %v (present %v), rollup = %v", peers[i].name, k, got, ok, want)
			}
		}
		if bad > 0 {
			t.Errorf("%s disagrees with rollup on %d of %d rollups", peers[i].name, bad, len(results[0]))
		}
	}
}

// recordJSONL reads rollup's jsonl output into rec.
func recordJSONL(r io.Reader, rec recorder) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var v struct {
			Metric     string            `json:"metric"`
			Tags       map[string]string `json:"tags"`
			Start      int64             `json:"start"`
			Aggregator string            `json:"aggregator"`
			Value      float64           `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return fmt.Errorf("rollup jsonl %q: %w", sc.Text(), err)
		}
		tags := make([]string, 0, len(v.Tags))
		for k, val := range v.Tags {
			tags = append(tags, ","+k+"="+val)
		}
		sort.Strings(tags)
		rec(v.Start, v.Aggregator, v.Metric+strings.Join(tags, ""), v.Value)
	}
	return sc.Err()
}
