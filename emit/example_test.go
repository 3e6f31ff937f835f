package emit_test

import (
	"fmt"

	"github.com/rollupd/rollup/emit"
)

func ExampleNewEncoder() {
	r := emit.Rollup{
		Metric:     []byte("cpu_usage_idle"),
		Tags:       []emit.Tag{{Key: []byte("cpu"), Value: []byte("cpu0")}, {Key: []byte("host"), Value: []byte("h1")}},
		Step:       "1m",
		Start:      1700000040,
		Aggregator: "sum",
		Value:      12.5,
	}
	var buf []byte
	for _, format := range []string{"jsonl", "opentsdb"} {
		enc, err := emit.NewEncoder(format, emit.Options{})
		if err != nil {
			panic(err)
		}
		var reason emit.DropReason
		buf, reason = enc.Append(buf[:0], &r)
		// jsonl lines end in a newline (hence the blank line below);
		// opentsdb objects do not.
		fmt.Printf("%s %v: %s\n", format, reason, buf)
	}

	r.Aggregator = "avg"
	enc, _ := emit.NewEncoder("opentsdb", emit.Options{})
	_, reason := enc.Append(buf[:0], &r)
	fmt.Println("avg to opentsdb:", reason)
	// Output:
	// jsonl none: {"metric":"cpu_usage_idle","tags":{"cpu":"cpu0","host":"h1"},"step":"1m","start":1700000040,"aggregator":"sum","value":12.5}
	//
	// opentsdb none: {"type":"Aggregate","metric":"cpu_usage_idle","timestamp":1700000040,"value":"12.5","tags":{"cpu":"cpu0","host":"h1"},"interval":"1m","aggregator":"sum"}
	// avg to opentsdb: opentsdb_derived_aggregator
}

// A Kafka record for opentsdb-rpc-kafka holding the sum and count of one
// window; the avg in between is dropped without leaving a stray comma.
func ExampleArrayWriter() {
	enc, _ := emit.NewEncoder("opentsdb", emit.Options{})
	r := emit.Rollup{
		Metric: []byte("sys.cpu.user"),
		Tags:   []emit.Tag{{Key: []byte("host"), Value: []byte("web01")}},
		Step:   "1h",
		Start:  1699999200,
	}
	var w emit.ArrayWriter
	rec := w.Begin(nil)
	for _, a := range []struct {
		agg string
		v   float64
	}{{"sum", 1234.5}, {"avg", 20.575}, {"count", 60}} {
		r.Aggregator, r.Value = a.agg, a.v
		var reason emit.DropReason
		if rec, reason = w.Append(rec, enc, &r); reason != emit.DropNone {
			fmt.Println("dropped", a.agg+":", reason)
		}
	}
	rec = w.End(rec)
	fmt.Println(w.Len(), "objects:", string(rec))
	// Output:
	// dropped avg: opentsdb_derived_aggregator
	// 2 objects: [{"type":"Aggregate","metric":"sys.cpu.user","timestamp":1699999200,"value":"1234.5","tags":{"host":"web01"},"interval":"1h","aggregator":"sum"},{"type":"Aggregate","metric":"sys.cpu.user","timestamp":1699999200,"value":"60","tags":{"host":"web01"},"interval":"1h","aggregator":"count"}]
}

func ExampleValidateOpenTSDBInterval() {
	for _, step := range []string{"1h", "1h30m", "1M"} {
		fmt.Println(step, "->", emit.ValidateOpenTSDBInterval(step))
	}
	// Output:
	// 1h -> <nil>
	// 1h30m -> invalid opentsdb interval "1h30m": compound or unknown unit "h30m"; want a positive integer and one unit of s, m, h, d, w, n (30 days) or y (365 days), like "1m" or "1h"
	// 1M -> invalid opentsdb interval "1M": unit must be lower case; want a positive integer and one unit of s, m, h, d, w, n (30 days) or y (365 days), like "1m" or "1h"
}
