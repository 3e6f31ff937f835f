package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestMain lets `bench --e2e` start this test binary as its child
// `rollup run` process.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, stdio{strings.NewReader(stdin), &out, &errb})
	return code, out.String(), errb.String()
}

func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(l)
	return l
}

// TestAggregateGolden runs the command on the hand-computed golden input of
// package pipeline, from a file and from stdin.
func TestAggregateGolden(t *testing.T) {
	want, err := os.ReadFile("../../pipeline/testdata/basic.golden")
	if err != nil {
		t.Fatal(err)
	}
	input, err := os.ReadFile("../../pipeline/testdata/basic.lp")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"aggregate", "--archive", "10s:sum,count,min,max,first,last,avg", "--archive", "30s:sum,count,first,last",
		"--lateness", "5s", "--max-future", "876000h"}
	for _, viaFile := range []bool{true, false} {
		a := slices.Clone(args)
		stdin := ""
		if viaFile {
			a = append(a, "../../pipeline/testdata/basic.lp")
		} else {
			stdin = string(input)
		}
		code, out, errOut := runCLI(t, stdin, a...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got := sortedLines(out); !slices.Equal(got, sortedLines(string(want))) {
			t.Fatalf("file=%v: output differs from golden:\n%s", viaFile, out)
		}
		for _, s := range []string{"lines=12", "points=12", "series=3", "rollups=62", "malformed_syntax=1", "dropped_late=2", "skipped_string_field=1"} {
			if !summaryHas(errOut, s) {
				t.Errorf("summary lacks %q:\n%s", s, errOut)
			}
		}
		if !strings.Contains(errOut, "line=11 col=9") {
			t.Errorf("malformed line not logged with its position:\n%s", errOut)
		}
	}
}

// TestAggregateRouteBy: both routings over several shards give the golden
// output, and an unknown routing is refused.
func TestAggregateRouteBy(t *testing.T) {
	want, err := os.ReadFile("../../pipeline/testdata/basic.golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, by := range []string{"series", "tags"} {
		code, out, errOut := runCLI(t, "", "aggregate", "--archive", "10s:sum,count,min,max,first,last,avg", "--archive", "30s:sum,count,first,last",
			"--lateness", "5s", "--max-future", "876000h", "--shards", "3", "--route-by", by, "../../pipeline/testdata/basic.lp")
		if code != 0 {
			t.Fatalf("--route-by %s: exit %d: %s", by, code, errOut)
		}
		if got := sortedLines(out); !slices.Equal(got, sortedLines(string(want))) {
			t.Fatalf("--route-by %s: output differs from golden:\n%s", by, out)
		}
	}
	if code, _, errOut := runCLI(t, "", "aggregate", "--route-by", "host", "../../pipeline/testdata/basic.lp"); code == 0 || !strings.Contains(errOut, "--route-by") {
		t.Fatalf("--route-by host: exit %d, %s", code, errOut)
	}
}

// TestAggregateFilesFormOneStream: the watermark carries across files, and
// an unterminated last line of one file does not run into the next.
func TestAggregateFilesFormOneStream(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.lp")
	b := filepath.Join(dir, "b.lp")
	// a ends without a newline and with an open quote.
	os.WriteFile(a, []byte("m,h=x f=1 1700000030000000000\nm,h=x s=\"open"), 0o644)
	// In b the first point is late against a's watermark (lateness 0).
	os.WriteFile(b, []byte("m,h=x f=5 1700000000000000000\nm,h=x f=2 1700000031000000000\n"), 0o644)
	code, out, errOut := runCLI(t, "", "aggregate", "--archive", "10s:sum,count", "--max-future", "876000h", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := []string{
		`{"metric":"m_f","tags":{"h":"x"},"step":"10s","start":1700000030,"aggregator":"count","value":2}`,
		`{"metric":"m_f","tags":{"h":"x"},"step":"10s","start":1700000030,"aggregator":"sum","value":3}`,
	}
	if got := sortedLines(out); !slices.Equal(got, want) {
		t.Fatalf("got\n%s", out)
	}
	for _, s := range []string{"dropped_late=1", "malformed_syntax=1"} {
		if !summaryHas(errOut, s) {
			t.Errorf("summary lacks %q:\n%s", s, errOut)
		}
	}
}

func TestAggregateOpenTSDB(t *testing.T) {
	in := "cpu,host=a idle=1 1700000000000000000\ncpu idle=2 1700000000000000000\n"
	code, out, errOut := runCLI(t, in, "aggregate", "--archive", "1m:sum,avg", "--output-format", "opentsdb", "--max-future", "876000h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `{"type":"Aggregate","metric":"cpu_idle","timestamp":1699999980,"value":"1","tags":{"host":"a"},"interval":"1m","aggregator":"sum"}` + "\n"
	if out != want {
		t.Fatalf("got %q\nwant %q", out, want)
	}
	// avg for both series, and the tagless series' sum.
	for _, s := range []string{"unemitted_opentsdb_derived_aggregator=2", "unemitted_opentsdb_no_tags=1", "rollups=1"} {
		if !summaryHas(errOut, s) {
			t.Errorf("summary lacks %q:\n%s", s, errOut)
		}
	}
	code, _, errOut = runCLI(t, "", "aggregate", "--archive", "1h30m:sum", "--output-format", "opentsdb")
	if code != 2 || !strings.Contains(errOut, "archive 1h30m") {
		t.Fatalf("compound-unit OpenTSDB interval: exit %d %s", code, errOut)
	}
}

func TestAggregateConfigErrors(t *testing.T) {
	cases := map[string][]string{
		"have the same step":                    {"--archive", "1m:sum", "--archive", "60s:count"},
		"aggregator sum listed twice":           {"--archive", "1m:sum,sum"},
		"not a whole multiple":                  {"--archive", "1m:sum", "--archive", "90s:sum"},
		"unknown aggregator":                    {"--archive", "1m:median"},
		"whole number of seconds":               {"--archive", "1500ms:sum"},
		"neither Unix nanoseconds nor RFC 3339": {"--default-time", "yesterday"},
		"lateness -1s is negative":              {"--lateness=-1s"},
	}
	for want, args := range cases {
		code, _, errOut := runCLI(t, "", append([]string{"aggregate"}, args...)...)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", args, code, errOut, want)
		}
	}
	if code, _, _ := runCLI(t, "", "aggregate", "--precision", "ps"); code != 2 {
		t.Errorf("bad --precision: exit %d, want 2", code)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	code, out, _ := runCLI(t, "", "aggregate", "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, f := range []string{"--archive", "--lateness", "--precision", "--default-time", "--metric-separator", "--max-future", "--output-format", "--shards", "--series-ttl"} {
		if !strings.Contains(out, f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestGenerateThenAggregate(t *testing.T) {
	code, data, errOut := runCLI(t, "", "generate", "--hosts", "3", "--intervals", "12")
	if code != 0 {
		t.Fatalf("generate: exit %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, data, "aggregate", "--archive", "1m:count", "--max-future", "876000h")
	if code != 0 {
		t.Fatalf("aggregate: exit %d %s", code, errOut)
	}
	// 3 hosts x 90 series, 12 intervals of 10s from 1700000000 (= 20s into
	// a minute): windows get 4, 6 and 2 points.
	lines := sortedLines(out)
	if len(lines) != 270*3 {
		t.Fatalf("%d rollups, want 810", len(lines))
	}
	counts := map[string]int{}
	for _, l := range lines {
		counts[l[strings.Index(l, `"start"`):]]++
	}
	want := map[string]int{
		`"start":1699999980,"aggregator":"count","value":4}`: 270,
		`"start":1700000040,"aggregator":"count","value":6}`: 270,
		`"start":1700000100,"aggregator":"count","value":2}`: 270,
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%d rollups ending %s, want %d (all: %v)", counts[k], k, v, counts)
		}
	}
	if !strings.Contains(errOut, "points=3240 ") || !strings.Contains(errOut, "series=270 ") {
		t.Errorf("summary: %s", errOut)
	}
}

// summaryHas reports whether the summary line in out has the key=value
// pair kv (a whole word: "late=1" does not match "late=12").
func summaryHas(out, kv string) bool {
	for _, w := range strings.Fields(out) {
		if w == kv {
			return true
		}
	}
	return false
}
