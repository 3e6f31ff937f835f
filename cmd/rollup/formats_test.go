package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// kcatPath returns kcat's path, or skips the test where it is not
// installed; under ROLLUP_REQUIRE_KCAT (CI) its absence is a failure.
func kcatPath(t *testing.T) string {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("ROLLUP_REQUIRE_KCAT") != "" {
			t.Fatal("kcat not found and ROLLUP_REQUIRE_KCAT is set")
		}
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	return kcat
}

// kcatRead reads topic from the beginning with kcat, each record's value
// as it is, until there is something or 20s pass; it returns what it read,
// trimmed.
func kcatRead(ctx context.Context, t *testing.T, kcat, broker, topic string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s").Output()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		if got = strings.TrimSpace(string(out)); got != "" {
			break
		}
	}
	return got
}

// TestKcatOpenTSDBKeyed: kcat (librdkafka) produces OpenTSDB puts keyed by
// metric name (Conversant's framing: key = metric, value = the rest, in
// either word order, one line or several); the rollups read back are exact.
func TestKcatOpenTSDBKeyed(t *testing.T) {
	kcat := kcatPath(t)
	addrs := kfakeAddrs(t, kfake.SeedTopics(1, "puts"), kfake.SeedTopics(1, "rollups"))
	startService(t, "--brokers", addrs[0], "--topic", "puts", "--input-format", "opentsdb-keyed", "--output-format", "influx",
		"--archive", "1m:sum,count", "--lateness", "1s", "--idle-timeout", "300ms", "--fetch-max-wait", "50ms", "--metrics-listen", "", "--metadata-interval", "200ms")
	w0 := time.Now().Add(-time.Minute).Unix() / 60 * 60
	// -K '#' splits key from value, -D '|' separates records.
	in := fmt.Sprintf("sys.load#%d 1 host=a\n%d host=a 3|sys.load#%d000 5 host=a|#%d 9 host=a", w0, w0+10, w0+20, w0+30)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod := exec.CommandContext(ctx, kcat, "-P", "-b", addrs[0], "-t", "puts", "-K", "#", "-D", "|")
	prod.Stdin = strings.NewReader(in)
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	want := fmt.Sprintf("sys.load,host=a,step=1m sum=9,count=3i %d000000000", w0)
	if got := kcatRead(ctx, t, kcat, addrs[0], "rollups"); got != want {
		t.Fatalf("rollups read with kcat (the record without a key is counted, not aggregated):\n got %q\nwant %q", got, want)
	}
}
