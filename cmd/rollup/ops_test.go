package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRunDefaultTimeRecord: in a backlog (ten-minute-old data read now),
// a line without a timestamp takes its Kafka record's timestamp, so it
// does not move its partition's watermark to the wall clock and drop every
// later point as late (which --default-time now does: the old behaviour).
func TestRunDefaultTimeRecord(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	for _, c := range []struct {
		mode     string
		wantLate bool
	}{{"record", false}, {"now", true}} {
		t.Run(c.mode, func(t *testing.T) {
			addrs := kfakeAddrs(t, kfake.SeedTopics(1, "in", "rollups"))
			var recs []*kgo.Record
			for i := range 121 {
				ts := t0.Add(time.Duration(i) * 5 * time.Second)
				line := fmt.Sprintf("cpu,host=a idle=%d %d\n", i, ts.UnixNano())
				if i == 60 {
					line = fmt.Sprintf("cpu,host=a idle=%d\n", i) // as Telegraf never writes, but scripts do
				}
				recs = append(recs, &kgo.Record{Value: []byte(line), Timestamp: ts})
			}
			produce(t, addrs, "in", recs...)
			svc, stop := serveUntil(t, "--brokers", addrs[0], "--topic", "in", "--output-format", "jsonl", "--archive", "1m:sum,count",
				"--lateness", "10s", "--idle-timeout", "1h", "--metrics-listen", "", "--metadata-interval", "200ms", "--default-time", c.mode)
			waitRecords(t, svc, 121)
			cnt := svc.engine.Counters()
			if late := cnt.Late > 0; late != c.wantLate || cnt.Aggregated+cnt.Late != 121 {
				t.Fatalf("--default-time %s: %d aggregated, %d late", c.mode, cnt.Aggregated, cnt.Late)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An output topic that is also an input (named, or matched by the regex,
// also where leftmost-first matching alone would miss it) is refused.
func TestRunRefusesReadingItsOutput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "telegraf,rollups"}, "output topic rollups is also an input topic (--topic)"},
		{[]string{"--topic", "telegraf", "--archive", "1m:sum", "--archive", "1h:sum:topic=telegraf"}, "output topic telegraf is also an input topic"},
		{[]string{"--topic-regex", "tele.*|roll|rollups"}, "output topic rollups matches --topic-regex tele.*|roll|rollups"},
		{[]string{"--topic-regex", "in.*", "--checkpoint", t.TempDir(), "--marker-topic", "input-commits"}, "--marker-topic input-commits is also an input or output topic"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"run", "--dry-run", "--brokers", "127.0.0.1:1"}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, errOut)
		}
	}
}

// aggregate applies --max-series and --max-fields-per-line as run does.
func TestAggregateLimits(t *testing.T) {
	var in strings.Builder
	for s := range 5 {
		fmt.Fprintf(&in, "m,s=%d v=1 1700000000000000000\n", s)
	}
	in.WriteString("w a=1,b=2,c=3 1700000000000000000\n")
	code, out, errOut := runCLI(t, in.String(), "aggregate", "--archive", "1m:count", "--max-series", "2", "--shards", "1", "--max-fields-per-line", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := len(sortedLines(out)); n != 2 || !strings.Contains(errOut, "dropped_series_limit=3") || !strings.Contains(errOut, "malformed_too_many_fields=1") {
		t.Fatalf("%d rollups; summary: %s", n, errOut)
	}
}
