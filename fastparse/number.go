package fastparse

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// Number parsing with exactly the accept/reject rules and results of
// strconv.ParseInt(s, 10, 64), strconv.ParseUint(s, 10, 64) and
// strconv.ParseFloat(s, 64) (which is what line-protocol v2 calls), but
// without allocating: strconv's errors are *NumError values holding a copy
// of the input, so the decoder must never call strconv with input that it
// would reject.

// numStatus is the outcome of parsing a number.
type numStatus uint8

const (
	numOK numStatus = iota
	numSyntax
	numRange
)

// parseUint parses s like strconv.ParseUint(s, 10, 64): one or more
// decimal digits, leading zeros allowed, no sign, no underscores. Like
// strconv, it reports the first problem in left-to-right order, so
// "99999999999999999999x" is out of range rather than a syntax error.
func parseUint(s []byte) (uint64, numStatus) {
	if len(s) == 0 {
		return 0, numSyntax
	}
	var n uint64
	if len(s) <= 19 {
		// 19 digits cannot overflow a uint64 (10^19-1 < 2^64).
		for ; len(s) >= 8; s = s[8:] {
			w := binary.LittleEndian.Uint64(s)
			if nonDigits(w) != 0 {
				return 0, numSyntax
			}
			n = n*1e8 + eightDigits(w-0x3030303030303030)
		}
		for _, c := range s {
			d := c - '0'
			if d > 9 {
				return 0, numSyntax
			}
			n = n*10 + uint64(d)
		}
		return n, numOK
	}
	const cutoff = math.MaxUint64/10 + 1
	for _, c := range s {
		d := c - '0'
		if d > 9 {
			return 0, numSyntax
		}
		if n >= cutoff {
			return 0, numRange
		}
		n *= 10
		n1 := n + uint64(d)
		if n1 < n {
			return 0, numRange
		}
		n = n1
	}
	return n, numOK
}

// parseInt parses s like strconv.ParseInt(s, 10, 64): an optional '+' or
// '-' followed by what parseUint accepts.
func parseInt(s []byte) (int64, numStatus) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	u, st := parseUint(s)
	if st != numOK {
		return 0, st
	}
	if neg {
		if u > 1<<63 {
			return 0, numRange
		}
		return -int64(u), numOK // -int64(1<<63) wraps to MinInt64, as wanted
	}
	if u > math.MaxInt64 {
		return 0, numRange
	}
	return int64(u), numOK
}

// nonDigits returns the high bit of every byte of w (little endian) that
// is not an ASCII digit. Exact per byte: no sum carries into the next byte.
func nonDigits(w uint64) uint64 {
	const low7, high = 0x7F7F7F7F7F7F7F7F, 0x8080808080808080
	above := (w & low7) + 0x4646464646464646    // low 7 bits >= 0x3A
	below := ^((w & low7) + 0x5050505050505050) // low 7 bits < 0x30
	return (above | below | w) & high
}

// eightDigits returns the value of the eight decimal digits d (0-9 each)
// in the bytes of d, the most significant in the low byte, as a
// little-endian load of ASCII digits minus '0' puts them.
func eightDigits(d uint64) uint64 {
	// Combine the digits pairwise, then the pairs, then the quads: each
	// step multiplies the more significant half by a power of ten.
	d = d*10 + d>>8 // bytes 0, 2, 4, 6: two-digit values
	return ((d&0x000000FF000000FF)*(100+1000000<<32) + (d>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
}

// float64pow10 holds the powers of ten that are exact in a float64.
var float64pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
	1e20, 1e21, 1e22,
}

// parseFloat parses s like strconv.ParseFloat(s, 64) and returns a
// bit-identical result, except that the non-finite spellings ("Inf",
// "NaN", ...) are syntax errors: line protocol has no non-finite values and
// v2 rejects them. Overflow is numRange.
func parseFloat(s []byte) (float64, numStatus) {
	if f, ok := parseFloatFast(s); ok {
		return f, numOK
	}
	return parseFloatSlow(s)
}

// parseFloatFast handles what Telegraf writes ("98.2345", "0", "1.5e-3",
// "-12", "1.0204081632653061"): [-]digits[.digits][e[sign]digits] with at
// most 19 significant digits and a decimal exponent that exactFloat
// handles. It reports false for everything else, valid or not, and leaves
// it to parseFloatSlow.
func parseFloatFast(s []byte) (float64, bool) {
	i := 0
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg = true
		i++
	}
	var mant uint64
	nd := 0    // significant digits in mant
	exp10 := 0 // value = mant * 10^exp10
	digits := false
	for ; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			break
		}
		digits = true
		if mant == 0 && d == 0 {
			continue // leading zero
		}
		if nd == 19 {
			return 0, false
		}
		mant = mant*10 + uint64(d)
		nd++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s); i++ {
			d := s[i] - '0'
			if d > 9 {
				break
			}
			digits = true
			exp10--
			if mant == 0 && d == 0 {
				continue
			}
			if nd == 19 {
				return 0, false
			}
			mant = mant*10 + uint64(d)
			nd++
		}
	}
	if !digits {
		return 0, false
	}
	if i < len(s) && s[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start := i
		e := 0
		for ; i < len(s); i++ {
			d := s[i] - '0'
			if d > 9 {
				break
			}
			if e < 10000 {
				e = e*10 + int(d)
			}
		}
		if i == start {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	if i != len(s) {
		return 0, false
	}
	return exactFloat(mant, exp10, neg)
}

// pow10u64 holds the powers of ten that fit in a uint64.
var pow10u64 = [...]uint64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// exactFloat returns the float64 nearest to (-1)^neg * mant * 10^exp10,
// rounded half to even like strconv, when it can do so cheaply and
// exactly, and false otherwise.
//
// Two exact methods cover what Telegraf writes:
//   - Clinger's fast path (also strconv's atof64exact): float64(mant) is
//     exact for mant <= 2^53 and 10^k is exact for k <= 22, so one
//     correctly rounded multiplication or division gives the correctly
//     rounded value.
//   - For larger mantissas (Go's shortest formatting often writes 17
//     digits, e.g. 1.0204081632653061), 128-bit integer arithmetic: the
//     exact product mant*10^k, or the quotient mant/10^k to 64 bits plus a
//     sticky bit for the remainder, rounded to 53 bits by hand. With
//     mant < 2^64 and k <= 19 the result is always a normal float64, so no
//     subnormal or overflow case arises.
func exactFloat(mant uint64, exp10 int, neg bool) (float64, bool) {
	if mant == 0 {
		// Zero keeps its sign whatever the exponent ("-0e500" is -0).
		if neg {
			return math.Copysign(0, -1), true
		}
		return 0, true
	}
	if mant <= 1<<53 && exp10 >= -22 && exp10 <= 22 {
		f := float64(mant)
		if exp10 > 0 {
			f *= float64pow10[exp10]
		} else if exp10 < 0 {
			f /= float64pow10[-exp10]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	if exp10 < -19 || exp10 > 19 {
		return 0, false
	}
	var q uint64    // the top 64 bits of the value's binary expansion (bit 63 set)
	var e2 int      // value = (q + fraction) * 2^e2
	var sticky bool // the fraction is not zero
	if exp10 >= 0 {
		hi, lo := bits.Mul64(mant, pow10u64[exp10])
		if hi != 0 {
			lz := uint(bits.LeadingZeros64(hi))
			q = hi<<lz | lo>>(64-lz) // lo>>64 is 0 in Go, so lz=0 works too
			sticky = lo<<lz != 0
			e2 = 64 - int(lz)
		} else {
			lz := uint(bits.LeadingZeros64(lo))
			q = lo << lz
			e2 = -int(lz)
		}
	} else {
		// mant / d with both normalized to bit 63: n/dn is in (1/2, 2),
		// so dividing n*2^64 (or n*2^63 when n >= dn) by dn gives a
		// 64-bit quotient with bit 63 set.
		d := pow10u64[-exp10]
		lzn := uint(bits.LeadingZeros64(mant))
		lzd := uint(bits.LeadingZeros64(d))
		n, dn := mant<<lzn, d<<lzd
		var r uint64
		if n < dn {
			q, r = bits.Div64(n, 0, dn)
			e2 = int(lzd) - int(lzn) - 64
		} else {
			q, r = bits.Div64(n>>1, n<<63, dn)
			e2 = int(lzd) - int(lzn) - 63
		}
		sticky = r != 0
	}
	// Round the 64-bit q to 53 bits, half to even.
	m := q >> 11
	rest := q & (1<<11 - 1)
	if rest > 1<<10 || rest == 1<<10 && (sticky || m&1 == 1) {
		m++
		if m == 1<<53 {
			m >>= 1
			e2++
		}
	}
	e2 += 11 // value = m * 2^e2 with 2^52 <= m < 2^53
	b := uint64(e2+52+1023)<<52 | m&(1<<52-1)
	if neg {
		b |= 1 << 63
	}
	return math.Float64frombits(b), true
}

// parseFloatSlow checks the syntax itself, rules out overflow where that
// is cheap, and only then calls strconv.ParseFloat, so that strconv is not
// asked to build an error. The one exception: a hexadecimal float within a
// factor of 16 of the float64 limit goes to strconv undecided and
// allocates strconv's error if it does overflow.
func parseFloatSlow(s []byte) (float64, numStatus) {
	hex, nonzero, dp, ok := scanFloat(s)
	if !ok {
		return 0, numSyntax
	}
	if nonzero {
		if hex {
			// The value lies in [2^(dp-4), 2^dp) and overflows when it
			// rounds to 2^1024 or more.
			if dp-4 >= 1024 {
				return 0, numRange
			}
		} else {
			// The value lies in [10^(dp-1), 10^dp); the overflow
			// threshold is 1.797...e308, so dp=309 needs a closer look.
			if dp >= 310 || dp == 309 && decimalOverflows(s) {
				return 0, numRange
			}
		}
	}
	f, err := strconv.ParseFloat(unsafeString(s), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, numRange
		}
		return 0, numSyntax // not reached: scanFloat accepts only what strconv accepts
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, numSyntax // not reached: scanFloat rejects the special spellings
	}
	return f, numOK
}

// scanFloat reports whether strconv.ParseFloat accepts s as a decimal or
// hexadecimal number (it is a port of the syntax part of strconv's
// readFloat and underscoreOK, Go 1.26), whether it is hexadecimal, whether
// it has a non-zero digit, and the position of the point: the value is
// 0.DDD * 10^dp (decimal) or 0.HHH * 2^dp (hexadecimal) where D or H
// starts at the first non-zero digit. The special spellings "inf",
// "infinity" and "nan" are rejected.
func scanFloat(s []byte) (hex, nonzero bool, dp int, ok bool) {
	i := 0
	underscores := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	expChar := byte('e')
	if i+2 < len(s) && s[i] == '0' && s[i+1]|0x20 == 'x' {
		hex = true
		expChar = 'p'
		i += 2
	}
	sawdot, sawdigits := false, false
	nd := 0
loop:
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			underscores = true
		case c == '.':
			if sawdot {
				break loop
			}
			sawdot = true
			dp = nd
		case '0' <= c && c <= '9':
			sawdigits = true
			if c == '0' && nd == 0 {
				dp-- // leading zero
				continue
			}
			nd++
		case hex && 'a' <= c|0x20 && c|0x20 <= 'f':
			sawdigits = true
			nd++
		default:
			break loop
		}
	}
	if !sawdigits {
		return
	}
	if !sawdot {
		dp = nd
	}
	if hex {
		dp *= 4
	}
	if i < len(s) && s[i]|0x20 == expChar {
		i++
		if i >= len(s) {
			return
		}
		esign := 1
		switch s[i] {
		case '+':
			i++
		case '-':
			i++
			esign = -1
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return
		}
		e := 0
		for ; i < len(s) && ('0' <= s[i] && s[i] <= '9' || s[i] == '_'); i++ {
			if s[i] == '_' {
				underscores = true
				continue
			}
			if e < 10000 {
				e = e*10 + int(s[i]) - '0'
			}
		}
		dp += e * esign
	} else if hex {
		return // a hexadecimal mantissa requires a 'p' exponent
	}
	if i != len(s) || underscores && !underscoreOK(s) {
		return
	}
	return hex, nd > 0, dp, true
}

// underscoreOK is strconv's rule for '_' in number literals: only between
// digits, or between the base prefix and a digit.
func underscoreOK(s []byte) bool {
	saw := byte('^') // '^' start, '0' digit or prefix, '_' underscore, '!' other
	i := 0
	if len(s) >= 1 && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	hex := false
	if len(s) >= 2 && s[0] == '0' && (s[1]|0x20 == 'b' || s[1]|0x20 == 'o' || s[1]|0x20 == 'x') {
		i = 2
		saw = '0'
		hex = s[1]|0x20 == 'x'
	}
	for ; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' || hex && 'a' <= c|0x20 && c|0x20 <= 'f' {
			saw = '0'
			continue
		}
		if c == '_' {
			if saw != '0' {
				return false
			}
			saw = '_'
			continue
		}
		if saw == '_' {
			return false
		}
		saw = '!'
	}
	return saw != '_'
}

// float64OverflowDigits are the decimal digits of 2^1024 - 2^970, the
// midpoint between math.MaxFloat64 and 2^1024. A decimal at or above it
// rounds to 2^1024 (the tie goes to the even mantissa, which is 2^1024),
// so strconv reports ErrRange; anything below rounds to at most
// math.MaxFloat64.
const float64OverflowDigits = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792"

// decimalOverflows reports whether the valid decimal s, whose point
// position (see scanFloat) is 309, is at least 2^1024 - 2^970: both are
// 0.DDD * 10^309, so comparing their significant digits decides it.
func decimalOverflows(s []byte) bool {
	const t = float64OverflowDigits
	k := 0
	for _, c := range s {
		if c|0x20 == 'e' {
			break
		}
		if c < '0' || c > '9' || k == 0 && c == '0' {
			continue // sign, point, underscore, leading zero
		}
		if k == len(t) {
			return true // equal so far, and s has more digits
		}
		if c != t[k] {
			return c > t[k]
		}
		k++
	}
	return k == len(t) // s ran out: equal only if t did too
}

// parseBool accepts exactly the ten spellings v2 does.
func parseBool(s []byte) (v, ok bool) {
	switch string(s) { // no allocation: the conversion only feeds the switch
	case "t", "T", "true", "True", "TRUE":
		return true, true
	case "f", "F", "false", "False", "FALSE":
		return false, true
	}
	return false, false
}
