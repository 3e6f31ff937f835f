package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rollupd/rollup/fastparse"
)

// runChunked aggregates data read through r as one input and returns the
// sorted output, the counters and the malformed-line positions reported.
func runChunked(t testing.TB, r io.Reader, maxLine int) ([]string, Counters, []string) {
	t.Helper()
	return runInput(t, maxLine, func(s *Stream) {
		if _, err := s.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
	})
}

// runMapped is runChunked for an input read in place (Stream.ReadBytes).
// It checks that ReadBytes releases the input only forwards and within it.
func runMapped(t testing.TB, data []byte, maxLine int) ([]string, Counters, []string) {
	t.Helper()
	return runInput(t, maxLine, func(s *Stream) {
		released := 0
		s.ReadBytes(data, func(n int) {
			if n <= released || n > len(data) {
				t.Fatalf("released up to %d after %d, of %d bytes", n, released, len(data))
			}
			released = n
		})
	})
}

// runInput aggregates what read feeds and returns the sorted output, the
// counters and the malformed-line positions reported.
func runInput(t testing.TB, maxLine int, read func(*Stream)) ([]string, Counters, []string) {
	t.Helper()
	cfg := testConfig(t, 1, 10*time.Second, "10s:sum,count,first,last")
	cfg.MaxLineBytes = maxLine
	var out bytes.Buffer
	e, err := New(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewStream()
	var positions []string
	s.OnMalformed = func(pe *fastparse.ParseError) {
		positions = append(positions, fmt.Sprintf("%d:%d@%d %s", pe.Line, pe.Col, pe.Offset, pe.Reason))
	}
	read(s)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	slices.Sort(lines)
	return lines, e.Counters(), positions
}

// chunkingInput mixes what chunk boundaries can cut badly: raw newlines
// inside quoted strings, CRLF, malformed lines, an unterminated quote at
// the very end.
const chunkingInput = "m,h=a f=1,s=\"one\nline\ntwo\" 1700000000000000000\r\n" +
	"m,h=a f=2 1700000001000000000\n" +
	"broken,h=a f= 1700000002000000000\n" +
	"m,h=b s=\"x\\\"y\nz\",f=3 1700000003000000000\n" +
	"# comment\n" +
	"m,h=a f=4,g=5i 1700000004000000000\r\n" +
	"m,h=a f=\"unterminated\n" +
	"m,h=c f=6 1700000005000000000\n" +
	"m,h=c s=\"open at the end"

// TestChunkingIsInvisible: reading an input through reads of any size gives
// the output, counters and error positions of decoding it whole.
func TestChunkingIsInvisible(t *testing.T) {
	want, wantC, wantPos := runChunked(t, strings.NewReader(chunkingInput), 1<<20)
	if wantC.Aggregated == 0 || wantC.MalformedTotal() == 0 {
		t.Fatalf("input exercises nothing: %s", wantC.Summary())
	}
	readers := map[string]func() io.Reader{
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(chunkingInput)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(chunkingInput)) },
		"data+err": func() io.Reader { return iotest.DataErrReader(strings.NewReader(chunkingInput)) },
	}
	for seed := uint64(0); seed < 20; seed++ {
		readers[fmt.Sprintf("random %d", seed)] = func() io.Reader {
			return &chunkReader{rand.New(rand.NewPCG(seed, 5)), chunkingInput}
		}
	}
	for name, r := range readers {
		got, c, pos := runChunked(t, r(), 1<<20)
		if !slices.Equal(got, want) || c.Summary() != wantC.Summary() || !slices.Equal(pos, wantPos) {
			t.Errorf("%s: chunked reading differs:\n%s\n%s\npositions %v\nwant %v", name, diffLines(got, want), c.Summary(), pos, wantPos)
		}
	}
}

// TestLineTooLong: a line longer than MaxLineBytes is counted and skipped
// up to its newline; the lines around it are unaffected.
func TestLineTooLong(t *testing.T) {
	long := "m,h=a f=1,s=\"" + strings.Repeat("x", 5000) + "\" 1700000000000000000\n"
	in := "m,h=a f=1 1700000000000000000\n" + long + "m,h=a f=2 1700000001000000000\n"
	got, c, _ := runChunked(t, iotest.HalfReader(strings.NewReader(in)), 1024)
	if c.LineTooLong != 1 || c.Aggregated != 2 {
		t.Fatalf("counters: %s", c.Summary())
	}
	want := []string{
		`{"metric":"m_f","tags":{"h":"a"},"step":"10s","start":1700000000,"aggregator":"count","value":2}`,
		`{"metric":"m_f","tags":{"h":"a"},"step":"10s","start":1700000000,"aggregator":"first","value":1}`,
		`{"metric":"m_f","tags":{"h":"a"},"step":"10s","start":1700000000,"aggregator":"last","value":2}`,
		`{"metric":"m_f","tags":{"h":"a"},"step":"10s","start":1700000000,"aggregator":"sum","value":3}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s", strings.Join(got, "\n"))
	}
}

// TestReadBytesMatchesReadFrom: decoding an input in place gives what
// reading it gives (output, counters, error positions), with lines of
// every length around the limit, in the middle and at the end.
func TestReadBytesMatchesReadFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	line := func(n int) string { // a valid line of about n bytes
		l := "m,h=a f=1,s=\"" + strings.Repeat("x", max(n-40, 0)) + "\" 1700000000000000000"
		return l
	}
	inputs := []string{"", "\n", chunkingInput, "m,h=a f=1 1700000000000000000"}
	for range 300 {
		var b strings.Builder
		for k := rng.IntN(8); k >= 0; k-- {
			switch rng.IntN(4) {
			case 0:
				b.WriteString(line(30 + rng.IntN(150)))
			case 1:
				b.WriteString("m,h=b g=2 1700000001000000000")
			case 2:
				b.WriteString("broken f=")
			case 3:
				b.WriteString(strings.Repeat("y", rng.IntN(200)))
			}
			if k > 0 || rng.IntN(2) == 0 {
				b.WriteString([]string{"\n", "\r\n"}[rng.IntN(2)])
			}
		}
		inputs = append(inputs, b.String())
	}
	for i, in := range inputs {
		for _, maxLine := range []int{16, 40, 64, 100, 1 << 20} {
			want, wantC, wantPos := runChunked(t, strings.NewReader(in), maxLine)
			got, c, pos := runMapped(t, []byte(in), maxLine)
			if !slices.Equal(got, want) || c.Summary() != wantC.Summary() || !slices.Equal(pos, wantPos) {
				t.Fatalf("input %d, max line %d: in place differs:\n%s\n%s vs\n%s\npositions %v\nwant %v\ninput %q",
					i, maxLine, diffLines(got, want), c.Summary(), wantC.Summary(), pos, wantPos, in)
			}
		}
	}
}

// FuzzChunking: for any input and any read sizes, chunked reading equals
// whole decoding (output, counters, error positions), and nothing panics.
func FuzzChunking(f *testing.F) {
	f.Add([]byte(chunkingInput), uint64(1))
	f.Add([]byte("m f=1 1\nm f=\"a\nb\" 2\r\n"), uint64(7))
	f.Add([]byte("\"\n\"\n\\\n"), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		if len(data) > 1<<14 {
			return
		}
		want, wantC, wantPos := runChunked(t, bytes.NewReader(data), 1<<20)
		got, c, pos := runChunked(t, &chunkReader{rand.New(rand.NewPCG(seed, 9)), string(data)}, 1<<20)
		if !slices.Equal(got, want) || c.Summary() != wantC.Summary() || !slices.Equal(pos, wantPos) {
			t.Fatalf("chunked reading differs:\n%s\n%s vs\n%s\npositions %v\nwant %v", diffLines(got, want), c.Summary(), wantC.Summary(), pos, wantPos)
		}
		// In place, with a line limit the input may cross.
		maxLine := 8 + int(seed%200)
		want, wantC, wantPos = runChunked(t, bytes.NewReader(data), maxLine)
		got, c, pos = runMapped(t, data, maxLine)
		if !slices.Equal(got, want) || c.Summary() != wantC.Summary() || !slices.Equal(pos, wantPos) {
			t.Fatalf("in place, max line %d, differs:\n%s\n%s vs\n%s\npositions %v\nwant %v", maxLine, diffLines(got, want), c.Summary(), wantC.Summary(), pos, wantPos)
		}
	})
}

// TestFeedCountsNewlines: Feed takes the newlines it passed from the
// line protocol decoder's own count instead of counting them again; the
// two must agree on every input, whether the last line is malformed
// (held back, or not when final), ends without a newline or in a CR, or
// has quoted newlines, comments and blank lines before it.
func TestFeedCountsNewlines(t *testing.T) {
	cfg := testConfig(t, 1, 10*time.Second, "10s:sum")
	e, err := New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.NewStream()
	if _, ok := s.dec.(lineCounter); !ok {
		t.Fatal("the line protocol decoder does not count lines: the test tests nothing")
	}
	pieces := []string{"m,h=a f=1 1700000000000000000", "m f=2", "bad line", "\n", "\n", "\r\n", "\r",
		"# c", " ", "s=\"a\nb\"", "\"", "x=", ",", "=", "\\", "1i", "m,h=a s=\"q\nq\" 1700000000000000000"}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		var b []byte
		for n := rng.IntN(8); n > 0; n-- {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		final := i%2 == 0
		before := s.baseLine
		consumed := s.Feed(b, final)
		if got, want := s.baseLine-before, bytes.Count(b[:consumed], []byte{'\n'}); got != want {
			t.Fatalf("Feed(%q, final %v) consumed %d: counted %d newlines, want %d", b, final, consumed, got, want)
		}
	}
}
