package fastparse

import "bytes"

// The point types every decoder hands out, and the interface the pipeline
// decodes any input format through.

// FieldKind is the type of a field value.
type FieldKind uint8

// The field value types of line protocol.
const (
	FieldFloat  FieldKind = iota + 1 // 1.5, 1, -2e3
	FieldInt                         // 3i
	FieldUint                        // 3u
	FieldBool                        // t, true, F, FALSE, ...
	FieldString                      // "text"
)

// Field is one field of a decoded line. Only the member that matches Kind
// is set.
type Field struct {
	Key   []byte    // unescaped field key
	Kind  FieldKind // which of the members below holds the value
	Float float64   // FieldFloat
	Int   int64     // FieldInt
	Uint  uint64    // FieldUint
	Bool  bool      // FieldBool
	Str   []byte    // FieldString: raw bytes between the quotes, STILL ESCAPED (see AppendUnescapedString)
}

// Number returns the value as a float64: Float, float64(Int),
// float64(Uint) (both possibly rounded), 1 or 0 for a boolean. It returns
// ok=false for strings.
func (f *Field) Number() (v float64, ok bool) {
	switch f.Kind {
	case FieldFloat:
		return f.Float, true
	case FieldInt:
		return float64(f.Int), true
	case FieldUint:
		return float64(f.Uint), true
	case FieldBool:
		if f.Bool {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// Tag is one tag of a decoded line; both key and value are unescaped.
type Tag struct{ Key, Value []byte }

// Decoder is one input format's decoder, as the pipeline uses it: a
// buffer is decoded one line (or record) at a time; each valid line is a
// measurement or metric name, tags sorted by key without duplicates, one or
// more values and a time. For line protocol a line has many fields, each
// its own series (measurement + separator + field key); formats with one
// value per line return one Field with an empty Key, and the measurement
// is the whole metric name.
//
// Results follow the package's lifetime rule: VALID ONLY UNTIL THE NEXT
// CALL TO Next OR Reset. Implementations must not allocate per line once
// their scratch buffers have grown.
type Decoder interface {
	// Reset starts decoding buf. defaultTime (Unix ns) is the time of
	// lines that carry none.
	Reset(buf []byte, defaultTime int64)
	// Next moves to the next non-blank line; false at the end of buf.
	Next() bool
	// Err is the current line's error, nil if it is valid.
	Err() *ParseError
	// LineOffset is the byte offset in buf where the current line starts.
	LineOffset() int
	Measurement() []byte
	Tags() []Tag
	Fields() []Field
	Time() int64
}

// InfluxLines is InfluxDecoder as a Decoder: line protocol with
// timestamps in a fixed precision.
type InfluxLines struct {
	InfluxDecoder
	Precision Precision
}

// Reset starts decoding buf with the decoder's precision.
func (d *InfluxLines) Reset(buf []byte, defaultTime int64) {
	d.InfluxDecoder.Reset(buf, defaultTime, d.Precision)
}

var _ Decoder = (*InfluxLines)(nil)

// compareKeys is bytes.Compare with the first byte compared inline: tag
// keys of a line almost always differ there, and the call it saves is
// most of the cost of keeping a few tags sorted.
func compareKeys(a, b []byte) int {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		if a[0] < b[0] {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}
