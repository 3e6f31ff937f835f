package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// benchReport is what `bench --report` renders: the run's parameters and
// summary, and plots over time.
type benchReport struct {
	Title   string
	Created time.Time
	Params  [][2]string // name, value (the run's flags), in order
	Summary [][2]string // name, value (the final report), in order
	Plots   []reportPlot
}

// reportPlot is one chart: lines sharing a time axis (seconds since the start) and a unit.
type reportPlot struct {
	Title string // e.g. "Throughput"
	Unit  string // e.g. "points/s", "bytes", "seconds", "points"
	Lines []reportLine
}

type reportLine struct {
	Name string    // legend, e.g. "produced", "consumed"
	T    []float64 // seconds since the start, ascending
	V    []float64 // same length as T; NaN = no sample (a gap)
}

// The page is written by hand rather than with html/template: everything
// that comes from r goes through html.EscapeString, which is simpler to
// audit than deciding which SVG fragments may be passed as template.HTML.
// No xmlns on the svg elements (HTML5 does not need it), so the page holds
// no URL at all and opens the same offline as online.
const reportCSS = `body{font:14px system-ui,sans-serif;margin:2em auto;max-width:760px;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em} th{font-weight:600}
th,td{text-align:left;padding:2px 12px 2px 0;border-bottom:1px solid #eee;vertical-align:top}
td{font-family:ui-monospace,monospace;white-space:pre-wrap}
svg.plot{display:block;width:100%;max-width:720px;height:auto;margin-bottom:1.5em}
svg text{font:11px system-ui,sans-serif;fill:#444} svg text.title{font-size:13px;font-weight:600;fill:#222}
svg .axis{stroke:#444} svg .grid{stroke:#e5e5e5} polyline.line{fill:none;stroke-width:1.5;stroke-linejoin:round}
`

// Plot geometry in SVG user units: room for y tick labels such as
// "1023.5MiB" on the left; the legend rows below the x axis add to the
// height, so a plot with many lines grows instead of overlapping.
const (
	reportW, reportLeft, reportRight    = 720.0, 64.0, 704.0
	reportTop, reportBottom, reportRowH = 36.0, 236.0, 18.0
)

// Distinct on white and for the common colour-blindness types (tableau10);
// lines past the palette reuse it dashed.
var reportColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// writeReportHTML writes one self-contained HTML page (inline CSS and SVG,
// no script, no external URL of any kind) for r.
func writeReportHTML(w io.Writer, r benchReport) error {
	esc := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>%s</h1>\n", esc(r.Title), reportCSS, esc(r.Title))
	if !r.Created.IsZero() {
		fmt.Fprintf(&b, "<p>Created <time datetime=\"%s\">%s</time></p>\n", r.Created.Format(time.RFC3339), esc(r.Created.Format("2006-01-02 15:04:05 MST")))
	}
	for _, t := range []struct {
		name string
		rows [][2]string
	}{{"Parameters", r.Params}, {"Summary", r.Summary}} {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<table class=\"%s\"><tbody>\n", t.name, strings.ToLower(t.name))
		for _, row := range t.rows {
			fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(row[0]), esc(row[1]))
		}
		b.WriteString("</tbody></table>\n")
	}
	for i, p := range r.Plots {
		if i == 0 {
			b.WriteString("<h2>Plots</h2>\n")
		}
		writeReportSVG(&b, p)
	}
	b.WriteString("</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// reportSegments splits l at every NaN or infinite value into runs of (t, v)
// points, ignoring the tail of the longer of T and V rather than panicking.
func reportSegments(l reportLine) (segs [][][2]float64) {
	gap := true
	for i := range min(len(l.T), len(l.V)) {
		t, v := l.T[i], l.V[i]
		switch {
		case math.IsNaN(t-t) || math.IsNaN(v-v): // x-x is NaN for NaN and +-Inf
			gap = true
		case gap:
			segs, gap = append(segs, [][2]float64{{t, v}}), false
		default:
			segs[len(segs)-1] = append(segs[len(segs)-1], [2]float64{t, v})
		}
	}
	return segs
}

func writeReportSVG(b *strings.Builder, p reportPlot) {
	esc := html.EscapeString
	segs := make([][][][2]float64, len(p.Lines))
	x0, x1, y0, y1 := 0.0, math.Inf(-1), 0.0, 0.0 // both axes include 0
	for i, l := range p.Lines {
		segs[i] = reportSegments(l)
		for _, s := range segs[i] {
			for _, pt := range s {
				x0, x1 = min(x0, pt[0]), max(x1, pt[0])
				y0, y1 = min(y0, pt[1]), max(y1, pt[1])
			}
		}
	}
	title := strings.TrimSuffix(p.Title+" ("+p.Unit+")", " ()")

	// Legend first: its rows decide the height of the viewBox.
	var legend strings.Builder
	lx, ly := reportLeft, reportBottom+40
	for i, l := range p.Lines {
		color, dash := reportStyle(i)
		name := l.Name
		if len(segs[i]) == 0 {
			name += " (no data)"
		}
		// 6.5 units per character approximates 11px system-ui.
		itemW := 30 + 6.5*float64(len([]rune(name)))
		if lx > reportLeft && lx+itemW > reportRight {
			lx, ly = reportLeft, ly+reportRowH
		}
		fmt.Fprintf(&legend, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"2\"%s/><text x=\"%s\" y=\"%s\">%s</text>\n",
			reportNum(lx), reportNum(ly-4), reportNum(lx+16), reportNum(ly-4), color, dash, reportNum(lx+20), reportNum(ly), esc(name))
		lx += itemW
	}
	fmt.Fprintf(b, "<svg class=\"plot\" data-plot=\"%s\" viewBox=\"0 0 %s %s\" width=\"%s\" height=\"%s\" role=\"img\" aria-label=\"%s\">\n<text class=\"title\" x=\"%s\" y=\"20\">%s</text>\n",
		esc(p.Title), reportNum(reportW), reportNum(ly+10), reportNum(reportW), reportNum(ly+10), esc(title), reportNum(reportLeft), esc(title))
	if math.IsInf(x1, -1) { // no finite sample in any line
		fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">no data</text>\n</svg>\n", reportNum(reportW/2), reportNum((reportTop+reportBottom)/2))
		return
	}

	// Widen degenerate ranges (a single sample at t=0, an all-zero series)
	// so that the scales below never divide by zero.
	if x1 <= x0 {
		x1 = x0 + 1
	}
	if y1 <= y0 {
		y1 = y0 + 1
	}
	ystep := reportStep((y1-y0)/4, p.Unit)
	y0, y1 = math.Floor(y0/ystep)*ystep, math.Ceil(y1/ystep)*ystep
	sx := func(t float64) float64 { return reportLeft + (t-x0)/(x1-x0)*(reportRight-reportLeft) }
	sy := func(v float64) float64 { return reportBottom - (v-y0)/(y1-y0)*(reportBottom-reportTop) }

	for _, v := range reportTicks(y0, y1, ystep) {
		y := reportNum(sy(v))
		fmt.Fprintf(b, "<line class=\"grid\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/><text x=\"%s\" y=\"%s\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
			reportNum(reportLeft), y, reportNum(reportRight), y, reportNum(reportLeft-6), y, esc(reportLabel(v, p.Unit)))
	}
	for _, t := range reportTicks(x0, x1, reportStep((x1-x0)/5, "seconds")) {
		x := reportNum(sx(t))
		fmt.Fprintf(b, "<line class=\"axis\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/><text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n",
			x, reportNum(reportBottom), x, reportNum(reportBottom+5), x, reportNum(reportBottom+18), esc(reportLabel(t, "seconds")))
	}
	fmt.Fprintf(b, "<polyline class=\"axis\" fill=\"none\" points=\"%s,%s %s,%s %s,%s\"/>\n",
		reportNum(reportLeft), reportNum(reportTop), reportNum(reportLeft), reportNum(reportBottom), reportNum(reportRight), reportNum(reportBottom))

	for i, l := range p.Lines {
		color, dash := reportStyle(i)
		for _, s := range segs[i] {
			if len(s) == 1 {
				fmt.Fprintf(b, "<circle class=\"line\" data-line=\"%s\" cx=\"%s\" cy=\"%s\" r=\"3\" fill=\"%s\"/>\n",
					esc(l.Name), reportNum(sx(s[0][0])), reportNum(sy(s[0][1])), color)
				continue
			}
			fmt.Fprintf(b, "<polyline class=\"line\" data-line=\"%s\" stroke=\"%s\"%s points=\"", esc(l.Name), color, dash)
			sep := ""
			for _, pt := range s {
				b.WriteString(sep + reportNum(sx(pt[0])) + "," + reportNum(sy(pt[1])))
				sep = " "
			}
			b.WriteString("\"/>\n")
		}
	}
	b.WriteString(legend.String() + "</svg>\n")
}

// reportStyle is the colour of line i, and a dash pattern past the palette.
func reportStyle(i int) (color, dash string) {
	if i >= len(reportColors) {
		dash = ` stroke-dasharray="6 3"`
	}
	return reportColors[i%len(reportColors)], dash
}

// reportNum formats an SVG coordinate: one decimal is below a pixel, and the
// trimmed ".0" keeps a long polyline short.
func reportNum(x float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(x, 'f', 1, 64), ".0")
}

// reportTicks returns the multiples of step in [lo, hi]; none when step
// is unusable (a range too large for float64), rather than looping.
func reportTicks(lo, hi, step float64) []float64 {
	i0, i1 := math.Ceil(lo/step-1e-9), math.Floor(hi/step+1e-9)
	if !(i1 >= i0 && i1-i0 <= 20) {
		return nil
	}
	var ticks []float64
	for i := i0; i <= i1; i++ {
		// + 0 turns the -0 of math.Ceil(-0.1) into 0, else labelled "-0".
		ticks = append(ticks, i*step+0)
	}
	return ticks
}

// reportStep rounds raw up to a step that gives round tick labels in the
// unit's formatting: 1-2-5 decimal, powers of two for bytes (1000KiB is
// not round, 1MiB and 512KiB are), whole minutes or hours for durations.
func reportStep(raw float64, unit string) float64 {
	switch {
	case unit == "bytes" && raw >= 1:
		return math.Exp2(math.Ceil(math.Log2(raw)))
	case unit == "seconds" && raw >= 1:
		for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
			if raw <= s {
				return s
			}
		}
		return nice125(raw/86400) * 86400
	}
	return nice125(raw)
}

func nice125(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if x <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// reportLabel prints a tick value in the unit's human form: "350k",
// "1.2M", "512MiB", "250ms", "2m30s". Four significant digits are plenty
// for round tick values and hide float noise like 0.30000000000000004.
func reportLabel(v float64, unit string) string {
	a := math.Abs(v)
	g := func(div float64, suffix string) string { return strconv.FormatFloat(v/div, 'g', 4, 64) + suffix }
	switch unit {
	case "bytes":
		div := 1.0
		for _, s := range []string{"B", "KiB", "MiB", "GiB"} {
			if a < div*1024 {
				return g(div, s)
			}
			div *= 1024
		}
		return g(div, "TiB")
	case "seconds":
		switch {
		case a == 0:
			return "0s"
		case a < 1e-3:
			return g(1e-6, "us")
		case a < 1:
			return g(1e-3, "ms")
		case a < 60:
			return g(1, "s")
		}
		// Duration.String gives "2m0s" and "1h0m0s"; drop the zero tails.
		s := (time.Duration(math.Round(v)) * time.Second).String()
		if t, ok := strings.CutSuffix(s, "m0s"); ok {
			s = t + "m"
		}
		if t, ok := strings.CutSuffix(s, "h0m"); ok {
			s = t + "h"
		}
		return s
	}
	for i, s := range []string{"T", "G", "M", "k"} {
		if div := math.Pow(1000, float64(4-i)); a >= div {
			return g(div, s)
		}
	}
	return g(1, "")
}
