package peer

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rollupd/rollup/fastparse"
)

// The differential test decodes the same bytes with fastparse and with
// line-protocol v2 and requires, line by line: the same number of lines
// (so both split the buffer - including after errors - the same way), the
// same accept/reject decision, and for accepted lines the same
// measurement, the same tag set, the same fields in order with identical
// values (floats bit for bit, strings unescaped) and the same time.
//
// The one expected difference: v2 accepts a line with a repeated tag key,
// fastparse rejects it with ReasonDuplicateTag.

// line is one decoded line in a form both decoders can produce.
type line struct {
	ok          bool
	dupTag      bool   // v2 only: the line has a repeated tag key
	reason      string // fastparse only: why it was rejected
	measurement string
	tags        []string // tagString, sorted
	fields      []string // "key=<kind>:<value>", in line order
	time        int64
}

func (l line) String() string {
	if !l.ok {
		return "rejected " + l.reason
	}
	return fmt.Sprintf("%q %q %q @%d", l.measurement, l.tags, l.fields, l.time)
}

func fieldString(key []byte, kind string, v any) string {
	return fmt.Sprintf("%s=%s:%v", key, kind, v)
}

func floatString(f float64) string {
	// Bit pattern as well as the value, so -0 and 0 differ.
	return fmt.Sprintf("%v/%x", f, math.Float64bits(f))
}

func decodeV2(buf []byte, prec fastparse.Precision, deflt int64) []line {
	var out []line
	d := lineprotocol.NewDecoderWithBytes(buf)
	for d.Next() {
		out = append(out, decodeV2Line(d, lineprotocol.Precision(prec), deflt))
	}
	return out
}

// decodeV2Line reads one entry the way a v2 user does: Measurement, all
// tags, all fields, Time. Any error rejects the line.
func decodeV2Line(d *lineprotocol.Decoder, prec lineprotocol.Precision, deflt int64) line {
	var l line
	m, err := d.Measurement()
	if err != nil {
		return l
	}
	l.measurement = string(m)
	var keys []string
	for {
		k, v, err := d.NextTag()
		if err != nil {
			return line{}
		}
		if k == nil {
			break
		}
		l.tags = append(l.tags, tagString(k, v))
		keys = append(keys, string(k))
	}
	for {
		k, v, err := d.NextField()
		if err != nil {
			return line{}
		}
		if k == nil {
			break
		}
		var s string
		switch v.Kind() {
		case lineprotocol.Float:
			s = fieldString(k, "float", floatString(v.FloatV()))
		case lineprotocol.Int:
			s = fieldString(k, "int", v.IntV())
		case lineprotocol.Uint:
			s = fieldString(k, "uint", v.UintV())
		case lineprotocol.Bool:
			s = fieldString(k, "bool", v.BoolV())
		case lineprotocol.String:
			s = fieldString(k, "string", strconv.Quote(v.StringV()))
		}
		l.fields = append(l.fields, s)
	}
	t, err := d.Time(prec, time.Unix(0, deflt))
	if err != nil {
		return line{}
	}
	l.time = t.UnixNano()
	l.ok = true
	// v2 returns tags in input order; compare them as a set.
	slices.Sort(l.tags)
	slices.Sort(keys)
	l.dupTag = len(slices.Compact(keys)) != len(l.tags)
	return l
}

// tagString renders a tag unambiguously (keys and values may hold '=').
func tagString(k, v []byte) string {
	return strconv.Quote(string(k)) + "=" + strconv.Quote(string(v))
}

func decodeFast(buf []byte, prec fastparse.Precision, deflt int64) []line {
	var out []line
	var d fastparse.InfluxDecoder
	d.Reset(buf, deflt, prec)
	for d.Next() {
		if e := d.Err(); e != nil {
			out = append(out, line{reason: e.Reason.String()})
			continue
		}
		l := line{ok: true, measurement: string(d.Measurement()), time: d.Time()}
		for _, t := range d.Tags() {
			l.tags = append(l.tags, tagString(t.Key, t.Value))
		}
		// Same canonical order as for v2 (fastparse's own order, by raw
		// key bytes, is checked by its fuzz test).
		slices.Sort(l.tags)
		for _, f := range d.Fields() {
			var s string
			switch f.Kind {
			case fastparse.FieldFloat:
				s = fieldString(f.Key, "float", floatString(f.Float))
			case fastparse.FieldInt:
				s = fieldString(f.Key, "int", f.Int)
			case fastparse.FieldUint:
				s = fieldString(f.Key, "uint", f.Uint)
			case fastparse.FieldBool:
				s = fieldString(f.Key, "bool", f.Bool)
			case fastparse.FieldString:
				s = fieldString(f.Key, "string", strconv.Quote(string(fastparse.AppendUnescapedString(nil, f.Str))))
			}
			l.fields = append(l.fields, s)
		}
		out = append(out, l)
	}
	return out
}

// compareDecoders decodes buf with both decoders and reports differences.
func compareDecoders(t *testing.T, buf []byte, prec fastparse.Precision, deflt int64) {
	t.Helper()
	want := decodeV2(buf, prec, deflt)
	got := decodeFast(buf, prec, deflt)
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g line
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if i >= len(want) || i >= len(got) {
			t.Fatalf("input %q (prec %v, default %d):\nline %d: v2 has %d lines, fastparse %d\nv2:   %v\nfast: %v",
				buf, prec, deflt, i+1, len(want), len(got), want, got)
		}
		if w.ok && w.dupTag {
			if g.ok || g.reason != fastparse.ReasonDuplicateTag.String() {
				t.Fatalf("input %q: line %d has a duplicate tag: v2 %v, fastparse %v, want rejected duplicate_tag", buf, i+1, w, g)
			}
			continue
		}
		if !w.ok && !g.ok {
			continue
		}
		if w.String() != g.String() {
			t.Fatalf("input %q (prec %v, default %d):\nline %d differs\nv2:   %v\nfast: %v", buf, prec, deflt, i+1, w, g)
		}
	}
}

var precisions = []fastparse.Precision{fastparse.Nanosecond, fastparse.Microsecond, fastparse.Millisecond, fastparse.Second}

var defaultTimes = []int64{0, 1700000000123456789, -1, -1700000000987654321}

func TestDifferentialGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 1))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var accepted, rejected, dups int
	for i := range n {
		buf := genBuffer(r)
		prec, deflt := precisions[i%len(precisions)], defaultTimes[i/len(precisions)%len(defaultTimes)]
		compareDecoders(t, buf, prec, deflt)
		for _, l := range decodeV2(buf, prec, deflt) {
			switch {
			case l.dupTag:
				dups++
			case l.ok:
				accepted++
			default:
				rejected++
			}
		}
	}
	// A generator that produces only garbage (or only valid lines) would
	// make the comparison vacuous.
	t.Logf("%d buffers: %d lines accepted, %d rejected, %d with duplicate tags", n, accepted, rejected, dups)
	if total := accepted + rejected + dups; accepted < total/5 || rejected < total/5 || dups == 0 {
		t.Errorf("generator out of balance")
	}
}

// TestDifferentialCases covers hand-picked inputs, including the v2
// behaviours that surprised us.
func TestDifferentialCases(t *testing.T) {
	for _, in := range diffCases {
		for _, p := range precisions {
			for _, deflt := range defaultTimes {
				compareDecoders(t, []byte(in), p, deflt)
			}
		}
	}
}

var diffCases = []string{
	"", "\n", "\r", "\r\n", " ", "#", "# c\r", "# c\rx\n", "#\t\n", " # c\n", "m", "m ", "m f", "m f=",
	"m f=1", "m f=1\r", "m f=1 \r", "m f=1\r x\nn f=2", "m f=1 x\ry\nn f=2", "m f=1 5x\ry\nn f=2",
	"m f=1 5\rx\n", "m f=1\n\rx\n", "  m  f=1  1  ", "m\tf=1", "m,t=1\tf=1", "m f=1\t",
	"m f=0x1p3", "m f=0x_1p3", "m f=1_0", "m f=-inf", "m f=1e400", "m f=1e-400", "m f=01i",
	"m f=1 000000000000000000001", "m f=1 12345678901234567890", "m f=1 -5", "m f=1 1-2", "m f=1 -",
	"m f=1 9223372037", "m f=1 -9223372037", "m f=1 9223372036854", "m f=1 9223372036854775",
	"m,a=1,a=2 f=1", "m,b=1,a=1,b=2 f=1", "m f=1,f=2", "m f=t,g=TRUE,h=True,i=tRUE",
	"m f=-", "m f=.", "m f=1.", "m f=.5", "m f=1e5i", "m f=-0", "m f=-1u", "m f=+1",
	"m f=\"a\x01b\"", "m f=\"\xff\"", "m,t=\xff f=1", "m f=1,", "m f=1 ,", "m,a=b", "m,a=b ",
	`m f="a\q\\" `, `m f="x"y`, `m f="x" 1`, "m f=\"x\"\n", "m,a= f=1", "m,=b f=1", "m,a=b,,c=d f=1",
	"m,a=b=c f=1", "m a=1 2 3", `m,a=\ b f=1`, `m,a=b\ f=1`, `m\ f=1`, "x=1 f=1", "m,a=b,c f=1",
	"m f=1,\x01=2", "m f=99999999999999999999x", "m f=-9223372036854775808i", "m f=18446744073709551616u",
	"m,t= s=\"a\nb f=2\"\nm3 f=3", "m s=\"a\nb\",f=x\nm3 f=3", "m f=\"\xff\nx\" 1\nm3 f=3",
	`m,host=two\\\ words value=42`, `cpu va\lue=42`, "m s=\"a\\", "m s=\"a\\\"", `m\`, `m,t\`, `m,t=v\`,
	"m f=1 1\r\n", "m f=1 1 \r\n", "m f=1 1 \r", "m f=\"\r\"\r\n", "\x00", "m\x00 f=1", "m f=1\x00",
	"m f=179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
	"m f=179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
	"m f=0x1.fffffffffffff8p1023", "m f=0x1.fffffffffffff7p1023", "m f=1e99999999999", "m f=0e99999",
}

// Pieces the generator builds lines from: valid ones, and edge ones that
// are invalid in some or all positions. A line is either clean (valid
// pieces only) or edgy (each piece has a chance to be an edge one), so that
// both accepted and rejected lines are common.
var (
	genNames = []string{
		"cpu", "mem", "disk", "net", "system", "m", "a", "host", "usage_user", "x_1",
		`my\ name`, `a\,b`, `k\=v`, `back\slash`, `\\\ x`, "é", "日本", `a"b`,
		"a#", `q\"`, "-", "1", ".5", `\ `, `\,`, `\=`,
	}
	edgeNames = []string{`a\`, `tail\\`, "a=b", "#hash", `\#`, "", "t\tab", "\xff", "c\x01", " ", ","}
	genFloats = []string{
		"0", "1", "-1", "98.2345", "1.5e-3", "1E5", "1.", ".5", "-.5", "-0", "0.0", "1e308",
		"1.7976931348623157e308", "4.9e-324", "1e-400", "0x1p-2", "0x1P3", "1_000",
		"12345678901234567890123", "00012.500", "9007199254740993", "0.1", "3.0e-22", "1e23",
	}
	edgeFloats = []string{
		"1e309", "1__0", "0x1", "1e", "-", ".", "1e+", "NaN", "-Inf", "-infinity", "1.2.3", "1..2",
		"--1", "1-2", "+1", "1\t", "0x", "_1",
	}
	genInts    = []string{"0", "1", "-1", "12345", "01", "-0", "9223372036854775807", "-9223372036854775808"}
	edgeInts   = []string{"9223372036854775808", "-9223372036854775809", "99999999999999999999", "1e5", "1_0", "", "-", "+1", "1.0"}
	genUints   = []string{"0", "7", "18446744073709551615", "01"}
	edgeUints  = []string{"18446744073709551616", "-1", "-0", "", "+1"}
	genBools   = []string{"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"}
	edgeBools  = []string{"tRUE", "tr", "ff", "truee", "yes"}
	genStrings = []string{
		"", "hello", "with space", `esc\"aped`, `back\\slash`, `\n\r\t`, `\q`, "raw\nnewline",
		"raw\r\ncrlf", "tab\there", "ctl\x01", "é", "a,b=c d", `trailing\\`, "#",
	}
	edgeStrings = []string{"\xff", `\`, `a\`, "\xc3(", `"`}
	genTimes    = []string{
		"1700000000000000000", "0", "-1", "1", "1700000000", "1700000000123", "-1700000000",
		"9223372036854775807", "-9223372036854775808", "00000000000000000000042",
		"9223372036", "9223372037", "9223372036854", "9223372036855",
	}
	edgeTimes = []string{"9223372036854775808", "1-2", "-", "--5", "12a", "+1", "1.5", "0x10"}
	genNoise  = []byte(",= \"\\\n\r\t\x00\x01\xff\xc3#iu.-e+x_'é")
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// gen holds the state of one generated buffer.
type gen struct {
	r     *rand.Rand
	edgy  bool // the current line may use edge pieces
	bytes []byte
}

// piece appends a valid piece or, on an edgy line, sometimes an edge one.
func (g *gen) piece(valid, edge []string) {
	if g.edgy && g.r.IntN(6) == 0 {
		g.bytes = append(g.bytes, pick(g.r, edge)...)
		return
	}
	g.bytes = append(g.bytes, pick(g.r, valid)...)
}

// genBuffer returns a few lines: mostly well-formed, some corrupted.
func genBuffer(r *rand.Rand) []byte {
	g := &gen{r: r}
	for n := 1 + r.IntN(6); n > 0; n-- {
		switch r.IntN(12) {
		case 0:
			g.bytes = append(g.bytes, pick(r, []string{"", "  ", "# comment", "  # c é \xff", "#\tbad", "# bad\x01", "\r"})...)
		default:
			g.edgy = r.IntN(3) == 0
			g.line()
		}
		switch r.IntN(10) {
		case 0:
			g.bytes = append(g.bytes, "\r\n"...)
		case 1:
			if n == 1 {
				break // no final newline
			}
			fallthrough
		default:
			g.bytes = append(g.bytes, '\n')
		}
	}
	if r.IntN(4) == 0 {
		g.bytes = corrupt(r, g.bytes)
	}
	return g.bytes
}

func (g *gen) line() {
	r := g.r
	sep := func() {
		g.bytes = append(g.bytes, ' ')
		if r.IntN(15) == 0 {
			g.bytes = append(g.bytes, "  "...)
		}
	}
	if r.IntN(15) == 0 {
		g.bytes = append(g.bytes, ' ')
	}
	g.piece(genNames, edgeNames)
	ntags := r.IntN(6)
	if r.IntN(20) == 0 {
		ntags = 17 + r.IntN(10) // past fastparse's insertion sort limit
	}
	for n := ntags; n > 0; n-- {
		g.bytes = append(g.bytes, ',')
		g.piece(genNames, edgeNames)
		g.bytes = append(g.bytes, '=')
		g.piece(genNames, edgeNames)
	}
	sep()
	for i := r.IntN(10); i >= 0; i-- {
		g.piece(genNames, edgeNames)
		g.bytes = append(g.bytes, '=')
		switch r.IntN(9) {
		case 0, 1, 2:
			g.piece(genFloats, edgeFloats)
		case 3:
			g.bytes = strconv.AppendFloat(g.bytes, math.Float64frombits(r.Uint64()), pick(r, []byte("efg")), -1, 64)
		case 4:
			g.piece(genInts, edgeInts)
			g.bytes = append(g.bytes, 'i')
		case 5:
			g.piece(genUints, edgeUints)
			g.bytes = append(g.bytes, 'u')
		case 6:
			g.piece(genBools, edgeBools)
		default:
			g.bytes = append(g.bytes, '"')
			g.piece(genStrings, edgeStrings)
			g.bytes = append(g.bytes, '"')
		}
		if i > 0 {
			g.bytes = append(g.bytes, ',')
		}
	}
	if r.IntN(3) > 0 {
		sep()
		g.piece(genTimes, edgeTimes)
	}
	if r.IntN(10) == 0 {
		g.bytes = append(g.bytes, "  "...)
	}
}

// corrupt applies a few random edits.
func corrupt(r *rand.Rand, b []byte) []byte {
	for n := 1 + r.IntN(3); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(5) {
		case 0: // delete a byte
			b = append(b[:i], b[i+1:]...)
		case 1: // insert noise
			b = slices.Insert(b, i, pick(r, genNoise))
		case 2: // replace a byte
			b[i] = pick(r, genNoise)
		case 3: // duplicate a stretch
			j := i + r.IntN(len(b)-i)
			b = slices.Insert(b, j, bytes.Clone(b[i:j])...)
		case 4: // truncate
			b = b[:i]
		}
	}
	return b
}

// FuzzDifferential compares the decoders on arbitrary input.
func FuzzDifferential(f *testing.F) {
	for _, in := range diffCases {
		f.Add([]byte(in), uint8(0), int64(0))
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 50 {
		f.Add(genBuffer(r), uint8(i), int64(i)*1234567891011)
	}
	f.Fuzz(func(t *testing.T, buf []byte, prec uint8, deflt int64) {
		compareDecoders(t, buf, precisions[int(prec)%len(precisions)], deflt)
	})
}
