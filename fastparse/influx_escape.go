package fastparse

import "unicode/utf8"

// Names of line protocol and their backslash escapes.

// Scan flags returned by scanName.
const (
	scanEscaped  = 1 << iota // the name contains an escape sequence
	scanNonASCII             // the name contains a byte >= 0x80
)

// scanName returns the end of the name that starts at b[i] and consists
// of bytes in chars, non-ASCII bytes and backslash escapes of bytes in
// escapes, and flags saying whether the slow cases (unescaping, UTF-8
// validation) apply. As in v2, a backslash before any other byte, or at
// the end of the input, is an ordinary byte of the name and the byte after
// it is looked at afresh.
//
// chars holds only ASCII bytes and no backslash, so the inner loop, which
// covers almost every name, is a table lookup per byte and nothing else.
func scanName(b []byte, i int, chars, escapes *byteSet) (int, uint8) {
	var flags uint8
	for {
		n := 0
		for _, c := range b[i:] {
			if !chars[c] {
				break
			}
			n++
		}
		i += n
		if i == len(b) {
			return i, flags
		}
		switch c := b[i]; {
		case c >= utf8.RuneSelf:
			flags |= scanNonASCII
			i++
		case c != '\\':
			return i, flags
		case i+1 < len(b) && escapes[b[i+1]]:
			flags |= scanEscaped
			i += 2
		default:
			i++ // a literal backslash
		}
	}
}

// appendUnescaped appends raw with the escape sequences of escapes
// replaced by the escaped byte, mirroring scanName.
func appendUnescaped(dst, raw []byte, escapes *byteSet) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) && escapes[raw[i+1]] {
			i++
			c = raw[i]
		}
		dst = append(dst, c)
	}
	return dst
}

// unescape appends the unescaped form of raw to scratch and records where
// it is, to be materialized when the line is complete.
func (d *InfluxDecoder) unescape(kind escKind, idx int, raw []byte, escapes *byteSet) {
	off := len(d.scratch)
	d.scratch = appendUnescaped(d.scratch, raw, escapes)
	d.escRefs = append(d.escRefs, escRef{kind: kind, idx: idx, off: off, end: len(d.scratch)})
}
