package fastparse

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The number parsers promise strconv's accept/reject decisions and
// bit-identical values; these tests compare them with strconv directly.

var numberSamples = []string{
	"", "0", "-0", "+0", "1", "-1", "01", "00", "98.2345", "12345", "1.5e-3", "1E5",
	".5", "1.", ".", "-", "+", "-.", "e5", "1e", "1e+", "1e-", "1e+5", "1.5.5", "1..5",
	"1_000", "1__000", "_1", "1_", "1_.5", "1._5", "0x1p-2", "0X1P+2", "0x1", "0x",
	"0x.8p1", "0x_1p0", "0x1_p0", "0x1p1_0", "0b101", "0o17", "1e1_0", "inf", "-inf",
	"Inf", "+Infinity", "-infinity", "NaN", "nan", "-nan", "infx", "1e400", "-1e400",
	"1e-400", "4.9e-324", "2.5e-324", "1.7976931348623157e308", "1.7976931348623158e308",
	"1.7976931348623159e308", "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
	"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999",
	"0.0179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792e310",
	"9007199254740993", "9007199254740992", "90071992547409921", "1234567890123456789",
	"12345678901234567890", "0.1", "0.3", "3.0e-22", "1e22", "1e23", "123456e-22",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808",
	"-9223372036854775809", "18446744073709551615", "18446744073709551616",
	"99999999999999999999x", "0000000000000000000000000000001", "1-2", "--1", "-+1",
	"0x1p1024", "0x1.fffffffffffffp1023", "0x1.fffffffffffff8p1023", "0x1.fffffffffffff7p1023",
	"0x0.00000000000001p1080", "1e99999999999999999999", "0e99999", "-0e-99999", "1\x00",
	" 1", "1 ", "١",
}

func TestParseFloatMatchesStrconv(t *testing.T) {
	for _, s := range numberSamples {
		checkFloat(t, s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		checkFloat(t, randomFloatText(r))
	}
}

// TestExactFloatTies checks exactFloat's 128-bit paths on the inputs
// where rounding is hardest: exact halfway points between two float64s
// and their neighbours, and long mantissas with small exponents.
func TestExactFloatTies(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pow5 := func(k int) uint64 {
		p := uint64(1)
		for range k {
			p *= 5
		}
		return p
	}
	for range 100000 {
		var text string
		switch r.IntN(3) {
		case 0: // t * 2^-j with t odd and 54 bits wide: a tie, via division
			j := r.IntN(4)
			tt := (1<<53 + r.Uint64N(1<<53)) | 1
			m := tt * pow5(j)
			text = strconv.FormatUint(m+uint64(r.IntN(3))-1, 10) + "e-" + strconv.Itoa(j)
		case 1: // s * 5^k * 2^j, 54 bits wide: a tie, via multiplication
			k := 1 + r.IntN(8)
			p := pow5(k)
			s := (1<<53/p + r.Uint64N(1<<53/p)) | 1
			if s*p <= 1<<53 {
				continue
			}
			m := s << r.IntN(3)
			if m >= 1e19 {
				continue
			}
			text = strconv.FormatUint(m+uint64(r.IntN(3))-1, 10) + "e" + strconv.Itoa(k)
		case 2: // 17 to 19 digits with a small exponent
			m := 1e16 + r.Uint64N(1e19-1e16)
			text = strconv.FormatUint(m, 10) + "e" + strconv.Itoa(r.IntN(39)-19)
		}
		checkFloat(t, text)
		if _, ok := parseFloatFast([]byte(text)); !ok {
			t.Fatalf("%s did not take the fast path", text)
		}
	}
}

func TestParseIntMatchesStrconv(t *testing.T) {
	for _, s := range numberSamples {
		checkInt(t, s)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		checkInt(t, randomFloatText(r))
	}
}

// randomFloatText builds number-like text that hits the fast path, the
// slow path and the edges of both.
func randomFloatText(r *rand.Rand) string {
	const alphabet = "0123456789.-+eE_xXpPaF"
	var b []byte
	switch r.IntN(4) {
	case 0: // anything from the alphabet
		for n := r.IntN(12); n > 0; n-- {
			b = append(b, alphabet[r.IntN(len(alphabet))])
		}
	case 1: // well-formed decimal with a random exponent
		if r.IntN(2) == 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, r.Uint64()>>r.IntN(64), 10)
		if r.IntN(2) == 0 {
			b = append(b, '.')
			b = strconv.AppendUint(b, r.Uint64()>>r.IntN(64), 10)
		}
		if r.IntN(2) == 0 {
			b = append(b, 'e')
			b = strconv.AppendInt(b, int64(r.IntN(700)-350), 10)
		}
	case 2: // shortest form of a random float64
		f := math.Float64frombits(r.Uint64())
		b = strconv.AppendFloat(b, f, "eg"[r.IntN(2)], -1, 64)
	case 3: // integer near the limits
		b = strconv.AppendInt(b, math.MaxInt64-int64(r.IntN(3)), 10)
		if r.IntN(2) == 0 {
			b = append([]byte{'-'}, b...)
		}
		if r.IntN(3) == 0 {
			b = append(b, byte('0'+r.IntN(10)))
		}
	}
	return string(b)
}

func checkFloat(t *testing.T, s string) {
	t.Helper()
	got, st := parseFloat([]byte(s))
	want, err := strconv.ParseFloat(s, 64)
	wantSt := numOK
	switch {
	case errors.Is(err, strconv.ErrRange):
		wantSt = numRange
	case err != nil, math.IsInf(want, 0), math.IsNaN(want):
		wantSt = numSyntax
	}
	if st != wantSt || st == numOK && math.Float64bits(got) != math.Float64bits(want) {
		t.Errorf("parseFloat(%q) = %v (%b), status %d; strconv: %v (%b), %v", s, got, math.Float64bits(got), st, want, math.Float64bits(want), err)
	}
	if f, ok := parseFloatFast([]byte(s)); ok && math.Float64bits(f) != math.Float64bits(want) {
		t.Errorf("parseFloatFast(%q) = %v, strconv %v", s, f, want)
	}
}

func checkInt(t *testing.T, s string) {
	t.Helper()
	status := func(err error) numStatus {
		switch {
		case errors.Is(err, strconv.ErrRange):
			return numRange
		case err != nil:
			return numSyntax
		}
		return numOK
	}
	gi, st := parseInt([]byte(s))
	wi, err := strconv.ParseInt(s, 10, 64)
	if st != status(err) || st == numOK && gi != wi {
		t.Errorf("parseInt(%q) = %d, %d; strconv: %d, %v", s, gi, st, wi, err)
	}
	gu, st := parseUint([]byte(s))
	wu, err := strconv.ParseUint(s, 10, 64)
	if st != status(err) || st == numOK && gu != wu {
		t.Errorf("parseUint(%q) = %d, %d; strconv: %d, %v", s, gu, st, wu, err)
	}
}

// FuzzParseNumber compares the number parsers with strconv on arbitrary
// text.
func FuzzParseNumber(f *testing.F) {
	for _, s := range numberSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkFloat(t, s)
		checkInt(t, s)
	})
}

func TestParseFloatNoAllocs(t *testing.T) {
	inputs := [][]byte{
		[]byte("98.2345"), []byte("1_000.5"), []byte("0x1p-2"), []byte("1e400"),
		[]byte("NaN"), []byte("1.2.3"), []byte("12345678901234567890123e-5"),
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, in := range inputs {
			parseFloat(in)
		}
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// TestNonDigitsMatchesTable checks the eight-byte digit test for every byte
// value at every position, among digits and among other bytes.
func TestNonDigitsMatchesTable(t *testing.T) {
	for _, fill := range []byte{'0', '9', 'a', 0x80} {
		for pos := range 8 {
			for c := range 256 {
				var buf [8]byte
				for i := range buf {
					buf[i] = fill
				}
				buf[pos] = byte(c)
				m := nonDigits(binary.LittleEndian.Uint64(buf[:]))
				for i, b := range buf {
					want := b < '0' || b > '9'
					if got := m>>(8*i+7)&1 == 1; got != want {
						t.Fatalf("% x: byte %d marked %v, want %v", buf, i, got, want)
					}
				}
			}
		}
	}
}

// TestFastNumberMatchesGeneralPath compares fastNumber, which reads up to
// eight digits at a time, with numberValue (itself checked against
// strconv) on numbers of every digit count up to 25, with leading zeros,
// at the end of the buffer and before other bytes. It also checks that
// the shapes Telegraf writes take the fast path at all.
func TestFastNumberMatchesGeneralPath(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if n > 0 && r.IntN(3) == 0 {
			b[0] = '0' // leading zeros do not count towards the 19
		}
		return string(b)
	}
	const n = 300000
	taken := 0
	for range n {
		var s string
		if r.IntN(4) == 0 {
			s = "-"
		}
		s += digits(r.IntN(26))
		switch r.IntN(5) {
		case 0:
			s += "i"
		case 1:
			s += "u"
		case 2, 3:
			s += "." + digits(r.IntN(26))
			if r.IntN(4) == 0 {
				s += "e" + strconv.Itoa(r.IntN(60)-30)
			}
		}
		after := []string{"", " 1700000000", ",x=1", "x", "1234567890"}[r.IntN(5)]
		buf := []byte(s + after)
		if len(buf) == 0 || buf[0] != '-' && (buf[0] < '0' || buf[0] > '9') {
			continue // the decoder calls fastNumber only on these
		}
		var fast, general Field
		end, ok := fastNumber(&fast, buf, 0)
		tok := buf
		for i, c := range buf {
			if !fieldValChars[c] {
				tok = buf[:i]
				break
			}
		}
		if len(tok) == 0 {
			continue
		}
		code := numberValue(&general, tok)
		if !ok {
			continue
		}
		taken++
		same := fast.Kind == general.Kind && fast.Int == general.Int && fast.Uint == general.Uint &&
			math.Float64bits(fast.Float) == math.Float64bits(general.Float)
		if end != len(tok) || code != 0 || !same {
			t.Fatalf("%q: fastNumber %+v ending at %d; general path %+v (code %d), token %q", buf, fast, end, general, code, tok)
		}
	}
	if taken < n/4 {
		t.Errorf("the fast path took %d of %d numbers", taken, n)
	}
	for _, s := range []string{"31.396748683223453", "0.000123456789", "788066i", "123456789012345678i", "9999999999999999999u", "1700000000000000000u", "-2.5"} {
		var f Field
		if _, ok := fastNumber(&f, []byte(s+","), 0); !ok {
			t.Errorf("%s: not decoded by the fast path", s)
		}
	}
}
