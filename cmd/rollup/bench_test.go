package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/rollupd/rollup/benchmarks/load"
)

// parseBench fills a benchCmd from flags with kong, so the tags' defaults
// apply, without going through run().
func parseBench(t *testing.T, args ...string) *benchCmd {
	t.Helper()
	var b benchCmd
	parser, err := kong.New(&b, kong.Name("bench"), kong.Exit(func(int) { t.Fatal("kong exit") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &b
}

// reportValue returns the first number after "key:" in the report.
func reportValue(t *testing.T, report, key string) int64 {
	t.Helper()
	for _, l := range strings.Split(report, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return n
		}
	}
	t.Fatalf("report lacks %q:\n%s", key, report)
	return 0
}

// TestBenchEmbedded runs the command for 2s against its embedded broker.
func TestBenchEmbedded(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the embedded broker keeps its data
	b := parseBench(t, "--series=2000", "--rate=50000", "--duration=2s", "--lines-per-record=5",
		"--bad=0.01", "--late=0.01", "--disorder=0.01", "--progress=bar")
	var out, errb bytes.Buffer
	log := slog.New(slog.NewTextHandler(&errb, nil))
	if err := b.Run(log, stdio{strings.NewReader(""), &out, &errb}); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	report := out.String()
	t.Logf("report:\n%s", report)
	for _, k := range []string{"topology", "topics", "partitions", "series", "duration", "points", "lines", "records",
		"bytes", "points/s", "requested", "records/s", "MB/s", "injected late", "injected bad", "injected disordered", "produce errors"} {
		if !strings.Contains(report, "\n"+k+":") && !strings.HasPrefix(report, k+":") {
			t.Errorf("report lacks %q", k)
		}
	}
	if p := reportValue(t, report, "points"); p < 50000 || p > 150000 {
		t.Errorf("%d points at 50000/s for 2s", p)
	}
	if reportValue(t, report, "produce errors") != 0 || reportValue(t, report, "injected bad") == 0 {
		t.Errorf("unexpected report:\n%s", report)
	}
	if !strings.Contains(errb.String(), "\r[") || !strings.Contains(errb.String(), "points/s") {
		t.Errorf("no progress bar on stderr:\n%q", errb.String())
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the embedded broker's data was left in %s: %v", tmp, ents)
	}
}

// TestBenchSignal: SIGINT stops an endless run, which still reports.
func TestBenchSignal(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	b := parseBench(t, "--series=900", "--rate=10000", "--duration=0s", "--topology=mapr", "--partitions=1")
	var out bytes.Buffer
	var errb syncWriter
	log := slog.New(slog.NewTextHandler(&errb, nil))
	done := make(chan error, 1)
	go func() { done <- b.Run(log, stdio{strings.NewReader(""), &out, &errb}) }()
	// The handler is installed before the broker starts, and "producing"
	// comes after the topics exist.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "msg=producing") {
		if time.Now().After(deadline) {
			t.Fatalf("never started producing:\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGINT:\n%s", errb.String())
	}
	if reportValue(t, out.String(), "points") == 0 || !regexp.MustCompile(`(?m)^topology: +mapr$`).MatchString(out.String()) {
		t.Errorf("report:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "stopped early") {
		t.Errorf("log:\n%s", errb.String())
	}
}

func TestBenchValidate(t *testing.T) {
	b := parseBench(t, "--disorder=2")
	err := b.Run(slog.New(slog.NewTextHandler(io.Discard, nil)), stdio{strings.NewReader(""), io.Discard, io.Discard})
	if err == nil || err.Error() != "disorder 2 exceeds the maximum of 1" {
		t.Fatalf("err = %v", err)
	}
}

// TestBenchE2E: the load goes through a child pipeline process (this test
// binary, see TestMain) on the embedded broker: every point produced is
// read, the malformed lines injected are exactly the ones the pipeline
// counts, and late lines are dropped as late. Flat and MapR topologies.
func TestBenchE2E(t *testing.T) {
	for _, topo := range [][]string{
		{"--topology", "flat", "--bad", "0.02", "--late", "0.02"},
		{"--topology", "mapr", "--streams", "4", "--partitions", "1"},
	} {
		t.Run(topo[1], func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "run.html")
			args := append([]string{"bench", "--series", "900", "--rate", "20000", "--duration", "3s", "--progress", "none",
				"--e2e", "--e2e-archive", "1s:sum,count", "--e2e-lateness", "0s", "--e2e-output-format", "jsonl", "--report", report}, topo...)
			code, out, errOut := runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
			}
			var produced, badLines, badPoints, latePoints, lines, malformed, read, aggregated, late, rollups int
			for _, l := range strings.Split(out, "\n") {
				fmt.Sscanf(l, "points: %d", &produced)
				fmt.Sscanf(l, "injected bad: %d lines (%d points)", &badLines, &badPoints)
				fmt.Sscanf(l, "injected late: %d lines (%d points)", new(int), &latePoints)
				fmt.Sscanf(l, "lines read: %d (malformed %d)", &lines, &malformed)
				fmt.Sscanf(l, "points read: %d (aggregated %d, late %d)", &read, &aggregated, &late)
				fmt.Sscanf(l, "rollups: %d", &rollups)
			}
			if produced < 30000 || malformed != badLines || read != produced-badPoints || rollups == 0 {
				t.Fatalf("produced %d (bad lines %d, bad points %d), read %d, malformed %d, rollups %d:\n%s",
					produced, badLines, badPoints, read, malformed, rollups, out)
			}
			if topo[1] == "flat" && (badLines == 0 || latePoints == 0) {
				t.Fatalf("no faults injected: bad lines %d, late points %d", badLines, latePoints)
			}
			// A late line is 2m old: late unless it is its partition's
			// very first point.
			if late < latePoints*9/10 || late > latePoints || aggregated != read-late {
				t.Errorf("late %d of %d injected late points; aggregated %d of %d read", late, latePoints, aggregated, read)
			}
			for _, k := range []string{"points/cpu-second:", "emit latency:", "peak memory:"} {
				if !strings.Contains(out, k) {
					t.Errorf("report lacks %q", k)
				}
			}
			checkBenchReport(t, report)
		})
	}
}

// A run that falls short of its rate says why; the live rate is smoothed.
func TestBenchShortfallAndSmoothing(t *testing.T) {
	for _, c := range []struct {
		st   load.Stats
		want string
	}{
		{load.Stats{FailedRecords: 3, Elapsed: 10 * time.Second}, "3 records failed"},
		{load.Stats{ProduceWait: 4 * time.Second, Elapsed: 10 * time.Second}, "it waited 4s (40% of the run) for the producer's buffer"},
		{load.Stats{ProduceWait: 100 * time.Millisecond, Elapsed: 10 * time.Second}, "the generator could not make points faster"},
	} {
		if got := shortfall(c.st); !strings.Contains(got, c.want) {
			t.Errorf("%+v: %q, want it to say %q", c.st, got, c.want)
		}
	}
	var out bytes.Buffer
	p := newProgress("bar", &out, 0)
	p.update(load.Stats{Points: 1000, Elapsed: time.Second})
	p.update(load.Stats{Points: 1000, Elapsed: 2 * time.Second}) // a one-second stall
	if p.smooth < 500 || p.smooth > 1000 {
		t.Errorf("smoothed rate %.0f after 1000/s then a 1s stall, want between", p.smooth)
	}
}

// checkBenchReport: the --report page has the run's parameters, its
// figures, and the four plots, each with a line drawn from samples.
func checkBenchReport(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"<th>series</th>", "<th>archives</th>", "1s:sum,count", "<th>pipeline points/s</th>",
		`data-plot="Throughput"`, `data-plot="Consumer lag"`, `data-plot="Pipeline memory"`, `data-plot="Emit latency`,
		`data-line="produced"`, `data-line="consumed by the pipeline"`, `data-line="resident"`, `data-line="p99"`} {
		if !strings.Contains(page, want) {
			t.Errorf("report %s lacks %s", path, want)
		}
	}
	if strings.Contains(page, "no data") {
		t.Errorf("a plot of the report has no data")
	}
}
