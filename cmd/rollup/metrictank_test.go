package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
)

// mdmPoint is one MetricPoint without its org, for a MetricPointArray.
func mdmPoint(key [16]byte, v float64, ts int64) []byte {
	return emit.AppendMetricPoint(nil, key, v, uint32(ts))
}

// waitRecords waits until svc has read n records in all.
func waitRecords(t *testing.T, svc *service, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got int64
		for _, p := range svc.source.Partitions() {
			got += p.Records
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunMetrictankInput: `rollup run --input-format metrictank` resolves
// MetricPoints through the MetricData of their partition, counts points of
// ids no MetricData described there as unknown_id, and keeps the ids in
// its checkpoint: after a restart, points alone still resolve.
func TestRunMetrictankInput(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(2, "mdm"), kfake.SeedTopics(1, "rollups"))
	dir := t.TempDir()
	args := []string{"--brokers", addrs[0], "--topic", "mdm", "--input-format", "metrictank", "--output-format", "jsonl",
		"--archive", "1m:sum,count", "--lateness", "0s", "--idle-timeout", "1s", "--fetch-max-wait", "100ms", "--metrics-listen", "", "--metadata-interval", "200ms",
		"--checkpoint", dir, "--checkpoint-interval", "300ms"}
	// Ten minutes ahead: the idle clock (now) cannot close its windows,
	// so the first run leaves them open in its checkpoint.
	w0 := time.Now().Unix()/60*60 + 600
	md := emit.MetricData{OrgID: 1, Name: "some.metric", Interval: 10, Value: 1.5, Unit: "unknown", Time: w0, Mtype: "gauge",
		Tags: []string{"host=a", "dc=x"}}
	key := md.MetricKey()
	arr := func(points ...[]byte) []byte {
		rec := []byte{fastparse.MdmMetricPointArray, fastparse.MdmMetricPointNoOrg}
		for _, p := range points {
			rec = append(rec, p...)
		}
		return rec
	}
	withOrg := append([]byte{fastparse.MdmMetricPoint}, mdmPoint(key, 100, w0+5)...)
	withOrg = binary.LittleEndian.AppendUint32(withOrg, 1)

	svc, stop := serveUntil(t, args...)
	produce(t, addrs, "mdm",
		&kgo.Record{Partition: 0, Value: emit.AppendMetricData(nil, &md, key)},
		&kgo.Record{Partition: 0, Value: arr(mdmPoint(key, 2, w0+10), mdmPoint(key, 3, w0+20))},
		&kgo.Record{Partition: 1, Value: withOrg}, // partition 1 has not seen the MetricData
	)
	waitRecords(t, svc, 3)
	if n := svc.engine.Counters().Malformed[fastparse.ReasonUnknownID]; n != 1 {
		t.Fatalf("unknown_id %d, want 1", n)
	}
	for _, p := range svc.source.Partitions() {
		if want := int64(1 - p.Partition); p.IDs != want { // the MetricData went to partition 0
			t.Fatalf("partition %d knows %d ids, want %d", p.Partition, p.IDs, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Second run: only points; the window closes with the last one.
	svc, stop = serveUntil(t, args...)
	if svc == nil {
		t.Fatalf("second start failed: %v", stop())
	}
	produce(t, addrs, "mdm",
		&kgo.Record{Partition: 0, Value: append([]byte{fastparse.MdmMetricPointNoOrg}, mdmPoint(key, 4, w0+30)...)},
		&kgo.Record{Partition: 0, Value: arr(mdmPoint(key, 5, w0+70))},
	)
	start := w0
	want := []string{
		`{"metric":"some.metric","tags":{"dc":"x","host":"a"},"step":"1m","start":` + strconv.FormatInt(start, 10) + `,"aggregator":"count","value":4}`,
		`{"metric":"some.metric","tags":{"dc":"x","host":"a"},"step":"1m","start":` + strconv.FormatInt(start, 10) + `,"aggregator":"sum","value":10.5}`,
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := svc.engine.Counters().Malformed[fastparse.ReasonUnknownID]; n != 0 {
		t.Fatalf("after the restart %d unknown ids: the index was not restored", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMetrictankRoundTrip: what our metrictank output writes, our
// metrictank input reads back as the same series with the same values:
// one service rolls line protocol up into a metrictank topic, a second
// reads that topic and rolls it up again at the same step (one point per
// window, so its sum is the value sent).
func TestMetrictankRoundTrip(t *testing.T) {
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(3, "mdm"), kfake.SeedTopics(1, "rollups"))
	common := []string{"--brokers", addrs[0], "--lateness", "0s", "--metrics-listen", "", "--metadata-interval", "200ms"}
	// The first service's last windows close when it goes idle (1s);
	// the second must not go idle (and close them) before they arrive.
	_, stopA := serveUntil(t, append([]string{"--topic", "in", "--output-topic", "mdm", "--output-format", "metrictank",
		"--metrictank-partition-scheme", "bySeriesWithTags", "--archive", "1m:sum,max", "--idle-timeout", "1s", "--fetch-max-wait", "100ms"}, common...)...)
	_, stopB := serveUntil(t, append([]string{"--topic", "mdm", "--input-format", "metrictank", "--output-format", "jsonl",
		"--archive", "1m:sum,count", "--idle-timeout", "4s"}, common...)...)
	produce(t, addrs, "in", &kgo.Record{Value: []byte(
		"cpu,host=a,dc=x idle=2.25 1700000000000000000\ncpu,host=a,dc=x idle=3 1700000010000000000\n" +
			"cpu,host=b idle=0.1 1700000070000000000\ncpu,host=b idle=1e-300 1700000130000000000\n")})
	want := []string{
		`{"metric":"cpu_idle.max","tags":{"dc":"x","host":"a"},"step":"1m","start":1699999980,"aggregator":"count","value":1}`,
		`{"metric":"cpu_idle.max","tags":{"dc":"x","host":"a"},"step":"1m","start":1699999980,"aggregator":"sum","value":3}`,
		`{"metric":"cpu_idle.max","tags":{"host":"b"},"step":"1m","start":1700000040,"aggregator":"count","value":1}`,
		`{"metric":"cpu_idle.max","tags":{"host":"b"},"step":"1m","start":1700000040,"aggregator":"sum","value":0.1}`,
		`{"metric":"cpu_idle.max","tags":{"host":"b"},"step":"1m","start":1700000100,"aggregator":"count","value":1}`,
		`{"metric":"cpu_idle.max","tags":{"host":"b"},"step":"1m","start":1700000100,"aggregator":"sum","value":1e-300}`,
		`{"metric":"cpu_idle.sum","tags":{"dc":"x","host":"a"},"step":"1m","start":1699999980,"aggregator":"count","value":1}`,
		`{"metric":"cpu_idle.sum","tags":{"dc":"x","host":"a"},"step":"1m","start":1699999980,"aggregator":"sum","value":5.25}`,
		`{"metric":"cpu_idle.sum","tags":{"host":"b"},"step":"1m","start":1700000040,"aggregator":"count","value":1}`,
		`{"metric":"cpu_idle.sum","tags":{"host":"b"},"step":"1m","start":1700000040,"aggregator":"sum","value":0.1}`,
		`{"metric":"cpu_idle.sum","tags":{"host":"b"},"step":"1m","start":1700000100,"aggregator":"count","value":1}`,
		`{"metric":"cpu_idle.sum","tags":{"host":"b"},"step":"1m","start":1700000100,"aggregator":"sum","value":1e-300}`,
	}
	got := consumeLines(t, addrs, "rollups", len(want))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, stop := range []func() error{stopA, stopB} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKcatMetrictankInput: kcat (librdkafka) produces metrictank records,
// one file each (a MetricData, then a MetricPointArray); the rollups read
// back with kcat are exact.
func TestKcatMetrictankInput(t *testing.T) {
	kcat := kcatPath(t)
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "mdm"), kfake.SeedTopics(1, "rollups"))
	startService(t, "--brokers", addrs[0], "--topic", "mdm", "--input-format", "metrictank", "--output-format", "influx",
		"--archive", "1m:sum,count", "--lateness", "1s", "--idle-timeout", "300ms", "--fetch-max-wait", "50ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	w0 := time.Now().Add(-time.Minute).Unix() / 60 * 60
	md := emit.MetricData{OrgID: 1, Name: "sys.load", Interval: 10, Value: 1, Unit: "unknown", Time: w0, Mtype: "gauge", Tags: []string{"host=a"}}
	key := md.MetricKey()
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "1"), filepath.Join(dir, "2")}
	arr := append([]byte{fastparse.MdmMetricPointArray, fastparse.MdmMetricPointNoOrg}, mdmPoint(key, 3, w0+10)...)
	arr = append(arr, mdmPoint(key, 5, w0+20)...)
	for i, v := range [][]byte{emit.AppendMetricData(nil, &md, key), arr} {
		if err := os.WriteFile(files[i], v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, kcat, append([]string{"-P", "-b", addrs[0], "-t", "mdm"}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	want := fmt.Sprintf("sys.load,host=a,step=1m sum=9,count=3i %d000000000", w0)
	if got := kcatRead(ctx, t, kcat, addrs[0], "rollups"); got != want {
		t.Fatalf("rollups read with kcat:\n got %q\nwant %q", got, want)
	}
}
