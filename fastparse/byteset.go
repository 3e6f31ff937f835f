package fastparse

// Character classes of the line-protocol grammar, one [256]bool table each,
// named after the grammar element they describe (the same sets as
// line-protocol v2's decoder.go). A table lookup is a single load, so the
// scanning loops run without a chain of comparisons per byte.
//
// The tables of name bytes (measurementChars, tagKeyChars, tagValChars,
// fieldKeyChars) hold only the plain ASCII bytes of the element: they
// leave out the backslash and the bytes >= 0x80, which may appear in the
// element too, so that the scanner's inner loop stops on them and handles
// escapes and UTF-8 out of line. That keeps the common loop to one table
// lookup per byte.

// byteSet is a set of bytes: s[c] reports whether c is in the set.
type byteSet [256]bool

// newByteSet returns the set of the bytes in chars.
func newByteSet(chars string) byteSet {
	var s byteSet
	for i := 0; i < len(chars); i++ {
		s[chars[i]] = true
	}
	return s
}

// byteRange returns the set of the bytes lo..hi inclusive.
func byteRange(lo, hi byte) byteSet {
	var s byteSet
	for c := int(lo); c <= int(hi); c++ {
		s[c] = true
	}
	return s
}

func (s byteSet) union(o byteSet) byteSet {
	for i := range s {
		s[i] = s[i] || o[i]
	}
	return s
}

func (s byteSet) intersect(o byteSet) byteSet {
	for i := range s {
		s[i] = s[i] && o[i]
	}
	return s
}

func (s byteSet) invert() byteSet {
	for i := range s {
		s[i] = !s[i]
	}
	return s
}

var (
	// nonPrintable holds the ASCII control bytes, which v2 rejects in
	// measurements, keys, tag values and comments (but not in string
	// field values).
	nonPrintable = byteRange(0, 0x1f).union(newByteSet("\x7f"))

	// ascii holds the bytes below 0x80.
	ascii = byteRange(0, 0x7f)

	// measurementChars are the plain ASCII bytes of a measurement name
	// (see above). Unlike keys, a measurement may contain '=' and '"'.
	measurementChars = newByteSet(`, \`).union(nonPrintable).invert().intersect(ascii)

	// tagKeyChars, tagValChars and fieldKeyChars are the plain ASCII bytes
	// of a tag key, tag value and field key: all but ',', '=', space, the
	// control bytes (which include CR and LF) and the backslash.
	tagKeyChars   = newByteSet(`,= \`).union(nonPrintable).invert().intersect(ascii)
	tagValChars   = tagKeyChars
	fieldKeyChars = tagKeyChars

	// measurementEscapes are the bytes that a backslash escapes in a
	// measurement name; before any other byte the backslash is literal.
	measurementEscapes = newByteSet(", ")

	// tagKeyEscapes, tagValEscapes and fieldKeyEscapes are the bytes that a
	// backslash escapes in keys and tag values.
	tagKeyEscapes   = newByteSet(",= ")
	tagValEscapes   = tagKeyEscapes
	fieldKeyEscapes = tagKeyEscapes

	// fieldValChars make up an unquoted (number or boolean) field value:
	// the value runs until ',', space, CR or LF. Anything else, even a
	// control byte, is part of the value and makes it invalid later.
	fieldValChars = newByteSet(", \r\n").invert()

	// timeChars make up a timestamp token. The token is checked with
	// strconv.ParseInt's rules afterwards, so "1-2" is taken and rejected.
	timeChars = newByteSet("-0123456789")

	// commentChars may follow '#' on a comment line: any byte but the
	// control bytes. Invalid UTF-8 is accepted in comments (v2 does).
	commentChars = nonPrintable.invert()
)

// fieldStringValEscapes maps the byte after a backslash inside a quoted
// string field value to the byte it stands for; 0 means the backslash is
// literal. v2 unescapes \\ \" \n \r \t.
var fieldStringValEscapes = [256]byte{
	'\\': '\\',
	'"':  '"',
	'n':  '\n',
	'r':  '\r',
	't':  '\t',
}
