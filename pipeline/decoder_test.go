package pipeline

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rollupd/rollup/fastparse"
)

// oneValue is a Decoder of "metric value unixseconds" lines, the shape of
// the single-value formats: one Field with an empty key per line.
type oneValue struct {
	lines  [][]byte
	i, off int
	cur    [][]byte
	fields [1]fastparse.Field
}

func (d *oneValue) Reset(buf []byte, _ int64) {
	d.lines, d.i, d.off = bytes.SplitAfter(buf, []byte("\n")), -1, 0
}

func (d *oneValue) Next() bool {
	for {
		if d.i >= 0 {
			d.off += len(d.lines[d.i])
		}
		d.i++
		if d.i >= len(d.lines) {
			return false
		}
		if d.cur = bytes.Fields(d.lines[d.i]); len(d.cur) == 3 {
			return true
		}
	}
}

func (d *oneValue) Err() *fastparse.ParseError { return nil }
func (d *oneValue) LineOffset() int            { return d.off }
func (d *oneValue) Measurement() []byte        { return d.cur[0] }
func (d *oneValue) Tags() []fastparse.Tag      { return nil }
func (d *oneValue) Fields() []fastparse.Field {
	v := 0.0
	for _, c := range d.cur[1] {
		v = v*10 + float64(c-'0')
	}
	d.fields[0] = fastparse.Field{Kind: fastparse.FieldFloat, Float: v}
	return d.fields[:]
}
func (d *oneValue) Time() int64 {
	t := int64(0)
	for _, c := range d.cur[2] {
		t = t*10 + int64(c-'0')
	}
	return t * int64(time.Second)
}

// A decoder with one unnamed value per line names each series by its
// measurement alone (no separator, no field key).
func TestSingleValueDecoder(t *testing.T) {
	cfg := testConfig(t, 2, 0, "1m:sum,count")
	cfg.NewDecoder = func() fastparse.Decoder { return &oneValue{} }
	got, c := run(t, cfg, strings.NewReader("disk.used 5 1700000000\ndisk.used 7 1700000010\nload 2 1700000020\n"))
	want := []string{
		`{"metric":"disk.used","tags":{},"step":"1m","start":1699999980,"aggregator":"count","value":2}`,
		`{"metric":"disk.used","tags":{},"step":"1m","start":1699999980,"aggregator":"sum","value":12}`,
		`{"metric":"load","tags":{},"step":"1m","start":1699999980,"aggregator":"count","value":1}`,
		`{"metric":"load","tags":{},"step":"1m","start":1699999980,"aggregator":"sum","value":2}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || c.Points != 3 {
		t.Fatalf("got %d points:\n%s", c.Points, strings.Join(got, "\n"))
	}
}
