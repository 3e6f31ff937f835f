package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testReport has one plot per case the renderer must handle: a NaN gap,
// a single sample next to a flat line, negative values and no data.
func testReport() benchReport {
	nan := math.NaN()
	var t, produced, consumed []float64
	for i := range 11 {
		t = append(t, float64(i))
		produced = append(produced, float64(i)*120e3) // up to 1.2M
		consumed = append(consumed, float64(i)*100e3)
	}
	produced[5] = nan
	return benchReport{
		Title:   `Bench <1> & "x"`,
		Created: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Params:  [][2]string{{"series", "10000"}, {"brokers", `<script>&"`}},
		Summary: [][2]string{{"points", "1.2M"}, {"lag <p99>", "2s & 'more'"}},
		Plots: []reportPlot{
			{Title: "Throughput", Unit: "points/s", Lines: []reportLine{
				{Name: "produced", T: t, V: produced},
				{Name: "consumed", T: t, V: consumed},
			}},
			{Title: "Memory", Unit: "bytes", Lines: []reportLine{
				{Name: "heap", T: []float64{0, 60, 120}, V: []float64{3 << 30, 3 << 30, 3 << 30}},
				{Name: "rss <once>", T: []float64{0, 60, 120}, V: []float64{nan, 1.5 * (1 << 30), nan}},
			}},
			{Title: "Skew", Unit: "seconds", Lines: []reportLine{
				{Name: "min", T: []float64{0, 1, 2}, V: []float64{-5, -2.5, 0.5}},
			}},
			{Title: "Lag", Unit: "seconds", Lines: []reportLine{
				{Name: "p99", T: []float64{0, 1}, V: []float64{nan, nan}},
				{Name: "empty"},
			}},
		},
	}
}

// svgElem is one element inside a plot, with its attributes.
type svgElem struct {
	name  string
	attrs map[string]string
	text  string
}

// parsePlots splits the page into its svg.plot elements and parses each
// strictly as XML, which also checks that the SVG is well formed.
func parsePlots(t *testing.T, page string) [][]svgElem {
	t.Helper()
	var plots [][]svgElem
	for rest := page; ; {
		i := strings.Index(rest, "<svg")
		if i < 0 {
			return plots
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatalf("unterminated <svg> at %q", rest[i:min(len(rest), i+80)])
		}
		frag := rest[i : i+j+len("</svg>")]
		rest = rest[i+j:]
		var elems []svgElem
		var open []int // indexes in elems of the elements not yet closed
		d := xml.NewDecoder(strings.NewReader(frag))
		for {
			tok, err := d.Token()
			if err != nil {
				if err != io.EOF {
					t.Fatalf("svg is not well-formed: %v\n%s", err, frag)
				}
				break
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				e := svgElem{name: tok.Name.Local, attrs: map[string]string{}}
				for _, a := range tok.Attr {
					e.attrs[a.Name.Local] = a.Value
				}
				open = append(open, len(elems))
				elems = append(elems, e)
			case xml.EndElement:
				open = open[:len(open)-1]
			case xml.CharData:
				if len(open) > 0 {
					elems[open[len(open)-1]].text += strings.TrimSpace(string(tok))
				}
			}
		}
		plots = append(plots, elems)
	}
}

func TestReportHTML(t *testing.T) {
	r := testReport()
	var buf bytes.Buffer
	if err := writeReportHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	page := buf.String()

	for _, want := range []string{
		"<!DOCTYPE html>\n",
		`<meta charset="utf-8">`,
		"<title>Bench &lt;1&gt; &amp; &#34;x&#34;</title>",
		`<time datetime="2025-03-04T05:06:07Z">`,
		"<tr><th>series</th><td>10000</td></tr>",
		"<tr><th>brokers</th><td>&lt;script&gt;&amp;&#34;</td></tr>",
		"<tr><th>points</th><td>1.2M</td></tr>",
		"<tr><th>lag &lt;p99&gt;</th><td>2s &amp; &#39;more&#39;</td></tr>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, "<table"); n != 2 {
		t.Errorf("%d tables, want 2", n)
	}
	for _, bad := range []string{"<script", "http", "//", "xmlns", "NaN", "Inf"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}

	plots := parsePlots(t, page)
	if len(plots) != len(r.Plots) {
		t.Fatalf("%d svg elements, want %d", len(plots), len(r.Plots))
	}
	// Segments per line of each plot: the NaN splits "produced" in two, the
	// lone sample of "rss <once>" is one marker, no-data lines draw nothing.
	wantLines := []map[string][]string{
		{"produced": {"polyline", "polyline"}, "consumed": {"polyline"}},
		{"heap": {"polyline"}, "rss <once>": {"circle"}},
		{"min": {"polyline"}},
		{},
	}
	// Round tick labels in the unit of each plot (y axis, then x axis).
	wantTicks := [][]string{
		{"0", "500k", "1M", "1.5M", "0s", "2s", "4s", "6s", "8s", "10s"},
		{"0B", "1GiB", "2GiB", "3GiB", "0s", "30s", "1m", "1m30s", "2m"},
		{"-6s", "-4s", "-2s", "0s", "2s", "0s", "500ms", "1s", "1.5s", "2s"},
		nil,
	}
	for i, elems := range plots {
		p := r.Plots[i]
		svg := elems[0]
		if svg.name != "svg" || svg.attrs["class"] != "plot" || svg.attrs["data-plot"] != p.Title {
			t.Fatalf("plot %d: root %s %v, want svg.plot data-plot=%q", i, svg.name, svg.attrs, p.Title)
		}
		got := map[string][]string{}
		var texts []string
		noData := false
		for _, e := range elems[1:] {
			if e.attrs["class"] == "line" {
				got[e.attrs["data-line"]] = append(got[e.attrs["data-line"]], e.name)
			}
			if e.name == "text" {
				texts = append(texts, e.text)
				noData = noData || e.text == "no data"
			}
		}
		checkCoords(t, elems)
		if len(got) != len(wantLines[i]) {
			t.Errorf("plot %q: line elements %v, want %v", p.Title, got, wantLines[i])
		}
		for name, want := range wantLines[i] {
			if strings.Join(got[name], " ") != strings.Join(want, " ") {
				t.Errorf("plot %q line %q: elements %v, want %v", p.Title, name, got[name], want)
			}
		}
		if wantData := len(wantLines[i]) > 0; noData == wantData {
			t.Errorf("plot %q: \"no data\" shown = %v, want %v", p.Title, noData, !wantData)
		}
		if wantTicks[i] != nil {
			// texts: the title, y ticks, x ticks, then the legend.
			if len(texts) < 1+len(wantTicks[i]) || strings.Join(texts[1:1+len(wantTicks[i])], " ") != strings.Join(wantTicks[i], " ") {
				t.Errorf("plot %q: texts %q, want title then ticks %q", p.Title, texts, wantTicks[i])
			}
		}
	}

	// The points follow the data: "consumed" rises linearly from the
	// bottom-left corner of the plot area to its right edge, 1M of 1.5M up.
	consumed := regexp.MustCompile(`data-line="consumed" stroke="[^"]*" points="([^"]*)"`).FindStringSubmatch(page)
	if consumed == nil {
		t.Fatal("no polyline for consumed")
	}
	pts := strings.Fields(consumed[1])
	if len(pts) != 11 || pts[0] != "64,236" || pts[10] != "704,102.7" {
		t.Errorf("consumed points %q, want 11 from 64,236 to 704,102.7", pts)
	}
}

// checkCoords checks that every coordinate of a plot is a compact number
// (at most one decimal) inside its viewBox "0 0 W H".
func checkCoords(t *testing.T, elems []svgElem) {
	t.Helper()
	plot := elems[0].attrs["data-plot"]
	var vw, vh float64
	if _, err := fmt.Sscanf(elems[0].attrs["viewBox"], "0 0 %g %g", &vw, &vh); err != nil {
		t.Fatalf("plot %q: viewBox %q: %v", plot, elems[0].attrs["viewBox"], err)
	}
	num := regexp.MustCompile(`^-?[0-9]+(\.[0-9])?$`)
	for _, e := range elems[1:] {
		var xs, ys []string
		for _, k := range []string{"x", "x1", "x2", "cx"} {
			if v, ok := e.attrs[k]; ok {
				xs = append(xs, v)
			}
		}
		for _, k := range []string{"y", "y1", "y2", "cy"} {
			if v, ok := e.attrs[k]; ok {
				ys = append(ys, v)
			}
		}
		for _, pt := range strings.Fields(e.attrs["points"]) {
			x, y, _ := strings.Cut(pt, ",")
			xs, ys = append(xs, x), append(ys, y)
		}
		for j, c := range append(xs, ys...) {
			limit := vw
			if j >= len(xs) {
				limit = vh
			}
			v, err := strconv.ParseFloat(c, 64)
			if !num.MatchString(c) || err != nil || v < 0 || v > limit {
				t.Errorf("plot %q: <%s> coordinate %q outside 0..%g", plot, e.name, c, limit)
			}
		}
	}
}

// Degenerate and extreme inputs still give a finite plot inside its box.
func TestReportEdgeCases(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	var many []reportLine
	for i := range 14 { // past the palette, and legend rows that wrap
		many = append(many, reportLine{Name: strings.Repeat("x", i*3), T: []float64{0, 1}, V: []float64{float64(i), 1}})
	}
	plots := []reportPlot{
		{Title: "one sample late", Lines: []reportLine{{Name: "a", T: []float64{5}, V: []float64{7}}}},
		{Title: "zeros", Lines: []reportLine{{Name: "a", T: []float64{0, 1}, V: []float64{0, 0}}}},
		{Title: "negative only", Unit: "seconds", Lines: []reportLine{{Name: "a", T: []float64{0, 1, 2}, V: []float64{-3, -2, -1}}}},
		{Title: "huge", Unit: "bytes", Lines: []reportLine{{Name: "a", T: []float64{0, 1e6}, V: []float64{0, 1e300}}}},
		{Title: "tiny", Lines: []reportLine{{Name: "a", T: []float64{0, 1e-3}, V: []float64{1e-9, 2e-9}}}},
		{Title: "inf and short V", Lines: []reportLine{{Name: "a", T: []float64{0, 1, 2, 3}, V: []float64{inf, 1, 2}}}},
		{Title: "nan T", Lines: []reportLine{{Name: "a", T: []float64{0, nan, 2}, V: []float64{1, 1, 1}}}},
		{Title: "many", Lines: many},
		{Title: "none"},
	}
	var buf bytes.Buffer
	if err := writeReportHTML(&buf, benchReport{Title: "edge", Plots: plots}); err != nil {
		t.Fatal(err)
	}
	got := parsePlots(t, buf.String())
	if len(got) != len(plots) {
		t.Fatalf("%d plots, want %d", len(got), len(plots))
	}
	for _, elems := range got {
		checkCoords(t, elems)
	}
	if s := buf.String(); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Error("NaN or Inf in the page")
	}
	if n := strings.Count(buf.String(), `stroke-dasharray`); n != 2*4 { // lines 10..13, plot and legend
		t.Errorf("%d dashed strokes, want 8", n)
	}
}

func TestReportTickFormat(t *testing.T) {
	f := func(v float64, unit, want string) {
		t.Helper()
		if got := reportLabel(v, unit); got != want {
			t.Errorf("reportLabel(%g, %q) = %q, want %q", v, unit, got, want)
		}
	}
	f(0, "points", "0")
	f(350e3, "points/s", "350k")
	f(1.2e6, "points/s", "1.2M")
	f(-2.5e9, "points", "-2.5G")
	f(0.1*3, "points", "0.3")
	f(0, "bytes", "0B")
	f(512, "bytes", "512B")
	f(1536, "bytes", "1.5KiB")
	f(256<<20, "bytes", "256MiB")
	f(3<<30, "bytes", "3GiB")
	f(0.25, "seconds", "250ms")
	f(0.0005, "seconds", "500us")
	f(30, "seconds", "30s")
	f(90, "seconds", "1m30s")
	f(120, "seconds", "2m")
	f(5400, "seconds", "1h30m")
	f(7200, "seconds", "2h")
	f(-60, "seconds", "-1m")
	g := func(raw float64, unit string, want float64) {
		t.Helper()
		if got := reportStep(raw, unit); got != want {
			t.Errorf("reportStep(%g, %q) = %g, want %g", raw, unit, got, want)
		}
	}
	g(0.3e6, "points/s", 0.5e6)
	g(0.75*(1<<30), "bytes", 1<<30)
	g(3*(1<<20), "bytes", 4<<20)
	g(300*(1<<20), "bytes", 512<<20)
	g(24, "seconds", 30)
	g(400, "seconds", 600)
	g(0.03, "seconds", 0.05)
	g(0, "points", 1)
}

// The report really draws in a browser: every plot has a size and every
// line a length. CI sets ROLLUP_REQUIRE_CHROMIUM, so there it cannot skip.
func TestReportRendersInChromium(t *testing.T) {
	var browser string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("ROLLUP_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium not found and ROLLUP_REQUIRE_CHROMIUM is set")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}

	r := testReport()
	r.Plots = r.Plots[:3] // the no-data plot has no lines to measure
	var buf bytes.Buffer
	if err := writeReportHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Count(buf.String(), `class="line"`)

	// The report has no script by design; the check is added to a copy.
	// Layout is synchronous, so measuring at the end of <body> sees the
	// drawn plots, and --dump-dom prints the attribute it leaves behind.
	const check = `<script>
const plots = [...document.querySelectorAll('svg.plot')].map(svg => {
  const r = svg.getBoundingClientRect();
  return {plot: svg.dataset.plot, w: r.width, h: r.height,
    lines: [...svg.querySelectorAll('.line')].map(l => {
      const b = l.getBoundingClientRect(), cs = getComputedStyle(l);
      return {line: l.dataset.line, len: l.getTotalLength(),
        shown: cs.visibility === 'visible' && +cs.opacity > 0 && (cs.stroke !== 'none' || cs.fill !== 'none'),
        inside: b.left >= r.left - 1 && b.right <= r.right + 1 && b.top >= r.top - 1 && b.bottom <= r.bottom + 1};
    })};
});
document.body.setAttribute('data-check', JSON.stringify(plots));
</script>
</body>`
	page, ok := strings.CutSuffix(buf.String(), "</body>\n</html>\n")
	if !ok {
		t.Fatal("page does not end with </body></html>")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page+check+"\n</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--virtual-time-budget=5000", "--dump-dom", "file://"+file)
	// Debian's launcher and Chromium write under $HOME (.config, .cache):
	// keep that in the temp dir too. Chromium forks renderer and GPU
	// processes; on timeout kill the whole process group, not only the
	// browser, and do not wait forever for children holding the pipes.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	t.Logf("chromium took %v", time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed)", ctx.Err())
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, tail(stderr.String(), 20))
	}
	m := regexp.MustCompile(`data-check="([^"]*)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no data-check in the dumped DOM (did the script run?)\n%s\n%s", tail(string(out), 20), tail(stderr.String(), 20))
	}
	var got []struct {
		Plot  string
		W, H  float64
		Lines []struct {
			Line   string
			Len    float64
			Shown  bool // visible, and a stroke or a fill
			Inside bool
		}
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &got); err != nil {
		t.Fatalf("data-check: %v: %s", err, m[1])
	}
	if len(got) != len(r.Plots) {
		t.Fatalf("chromium saw %d plots, want %d: %+v", len(got), len(r.Plots), got)
	}
	n := 0
	for i, p := range got {
		if p.Plot != r.Plots[i].Title || !(p.W > 0 && p.H > 0) {
			t.Errorf("plot %d: %q drawn %gx%g, want %q with a size", i, p.Plot, p.W, p.H, r.Plots[i].Title)
		}
		for _, l := range p.Lines {
			n++
			if !(l.Len > 0) || !l.Shown || !l.Inside {
				t.Errorf("plot %q line %q: length %g, shown %v, inside the plot %v; want a visible length > 0 inside", p.Plot, l.Line, l.Len, l.Shown, l.Inside)
			}
		}
	}
	if n != wantLines {
		t.Errorf("chromium measured %d line elements, the page has %d", n, wantLines)
	}
}
