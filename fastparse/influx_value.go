package fastparse

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// Field values of line protocol: numbers and strings.

// AppendUnescapedString appends the unescaped form of raw, a string field
// value as found in Field.Str, to dst and returns the extended slice. As
// in v2, \\ \" \n \r \t are unescaped and any other backslash is kept
// verbatim ("a\qb" stays a\qb).
func AppendUnescapedString(dst, raw []byte) []byte {
	for {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 || i+1 == len(raw) {
			return append(dst, raw...)
		}
		r := fieldStringValEscapes[raw[i+1]]
		if r == 0 {
			// A literal backslash; the byte after it is looked at
			// afresh, so in `\\"` ... only pairs count.
			dst = append(dst, raw[:i+1]...)
			raw = raw[i+1:]
			continue
		}
		dst = append(dst, raw[:i]...)
		dst = append(dst, r)
		raw = raw[i+2:]
	}
}

// stringValue decodes the quoted string field value whose opening quote
// is at b[q] into f and returns the offset after the closing quote.
func (d *InfluxDecoder) stringValue(f *Field, q int) (int, bool) {
	b := d.buf
	i := q + 1
	var or byte
	for i < len(b) {
		c := b[i]
		if c == '"' {
			break
		}
		or |= c
		if c == '\\' && i+1 < len(b) && fieldStringValEscapes[b[i+1]] != 0 {
			i += 2 // the escaped byte is ASCII and not LF; it cannot end the string
			continue
		}
		if c == '\n' {
			d.stringNewlines++
		}
		i++
	}
	if i == len(b) {
		d.fail(q, errStringUnterminated, nil, i)
		return 0, false
	}
	s := b[q+1 : i]
	// Unescaping only drops or replaces ASCII bytes, so the raw bytes
	// are valid UTF-8 exactly when the unescaped ones are.
	if or >= utf8.RuneSelf && !utf8.Valid(s) {
		d.fail(q+1, errStringUTF8, s, afterNewline(b, i))
		return 0, false
	}
	f.Kind = FieldString
	f.Str = s
	return i + 1, true
}

// fastNumber decodes the number field value starting at b[i] into f in a
// single pass over the bytes, for the shapes Telegraf writes: integers
// with an 'i' or 'u' suffix that cannot overflow, and decimal floats that
// exactFloat handles. It returns the offset after the value, or false if
// the value needs the general path (numberValue), which then decides.
//
// Its decimal scanning is its own, not parseFloatFast's: sharing that
// through a decimal type with methods cost 7% of the decoder's throughput
// on Telegraf data. scanDigits reads eight digits at a time, which the
// 15-17 digit floats of Telegraf data reward.
func fastNumber(f *Field, b []byte, i int) (int, bool) {
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	// mant holds at most 19 significant digits, so it cannot overflow:
	// a 20th sends the value to the general path. Leading zeros add
	// nothing to mant and so do not count.
	var mant uint64
	is := i
	i, mant = scanDigits(b, i, 0)
	if i < 0 {
		return 0, false
	}
	digits := i > is
	exp10 := 0
	if i < len(b) {
		switch b[i] {
		case 'i':
			// 18 digits cannot overflow an int64.
			if !digits || mant >= 1e18 || i+1 < len(b) && fieldValChars[b[i+1]] {
				return 0, false
			}
			f.Kind = FieldInt
			f.Int = int64(mant)
			if neg {
				f.Int = -f.Int
			}
			return i + 1, true
		case 'u':
			// 19 digits cannot overflow a uint64; "-1u" is an error.
			if !digits || neg || i+1 < len(b) && fieldValChars[b[i+1]] {
				return 0, false
			}
			f.Kind = FieldUint
			f.Uint = mant
			return i + 1, true
		case '.':
			fs := i + 1
			if i, mant = scanDigits(b, fs, mant); i < 0 {
				return 0, false
			}
			exp10 = fs - i
			digits = digits || i > fs
		}
	}
	if !digits {
		return 0, false
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		start := i
		e := 0
		for ; i < len(b) && e < 10000; i++ {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			e = e*10 + int(d)
		}
		if i == start {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	if i < len(b) && fieldValChars[b[i]] {
		return 0, false // more value bytes: let numberValue decide
	}
	v, ok := exactFloat(mant, exp10, neg)
	if !ok {
		return 0, false
	}
	f.Kind = FieldFloat
	f.Float = v
	return i, true
}

// scanDigits appends the decimal digits starting at b[i] to mant and
// returns the offset after them, or -1 if mant would get a 20th
// significant digit (mant < 10^19 always fits a uint64; leading zeros add
// nothing to mant). Up to eight digits are taken per step: a value of
// Telegraf data (2+15 digits, say) takes three steps, not seventeen.
func scanDigits(b []byte, i int, mant uint64) (int, uint64) {
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		n := bits.TrailingZeros64(nonDigits(w)) / 8 // leading digits of w: 0-8
		if n == 0 || mant >= maxMantBefore[n] {
			break // no digit, or it may overflow: the loop below decides
		}
		// Shift the other bytes out: the zero bytes shifted in are
		// leading zeros of an eight-digit number.
		mant = mant*pow10u64[n] + eightDigits((w-0x3030303030303030)<<(64-8*n))
		i += n
		if n < 8 {
			return i, mant
		}
	}
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		if mant >= 1e18 {
			return -1, 0
		}
		mant = mant*10 + uint64(d)
	}
	return i, mant
}

// maxMantBefore[n] is the bound below which mant*10^n + (n digits) stays
// below 10^19.
var maxMantBefore = [9]uint64{1e19, 1e18, 1e17, 1e16, 1e15, 1e14, 1e13, 1e12, 1e11}

// numberValue parses a number field value token into f. The type comes
// from the last byte, as in v2: 'i' integer, 'u' unsigned, else float. It
// returns 0 or the error code.
func numberValue(f *Field, tok []byte) errCode {
	switch tok[len(tok)-1] {
	case 'i':
		v, st := parseInt(tok[:len(tok)-1])
		switch st {
		case numSyntax:
			return errIntSyntax
		case numRange:
			return errIntRange
		}
		f.Kind = FieldInt
		f.Int = v
	case 'u':
		v, st := parseUint(tok[:len(tok)-1])
		switch st {
		case numSyntax:
			return errUintSyntax
		case numRange:
			return errUintRange
		}
		f.Kind = FieldUint
		f.Uint = v
	default:
		v, st := parseFloat(tok)
		switch st {
		case numSyntax:
			return errFloatSyntax
		case numRange:
			return errFloatRange
		}
		f.Kind = FieldFloat
		f.Float = v
	}
	return 0
}
