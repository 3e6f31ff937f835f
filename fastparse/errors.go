package fastparse

import (
	"strconv"
	"unicode/utf8"
)

// Reason classifies a ParseError for counting. Its String form is meant as
// a metrics label value (rollup_points_invalid_total{reason="..."}).
type Reason uint8

// The reasons a line can be rejected for.
const (
	// ReasonSyntax: the line does not follow the grammar (missing '=',
	// bad number syntax, TAB used as a separator, lone CR, ...).
	ReasonSyntax Reason = iota + 1 // "syntax"
	// ReasonDuplicateTag: the same tag key appears twice in the line. v2
	// accepts such lines; this package rejects them (see the package doc).
	ReasonDuplicateTag // "duplicate_tag"
	// ReasonValueRange: an integer, unsigned or float field value does not
	// fit in its type.
	ReasonValueRange // "value_out_of_range"
	// ReasonTimestamp: the timestamp does not fit in an int64, or
	// overflows int64 nanoseconds once scaled by the precision.
	ReasonTimestamp // "bad_timestamp"
	// ReasonEncoding: invalid UTF-8 in a measurement, key, tag value or
	// string value, or a control byte (other than TAB, CR and LF, which
	// count as syntax errors) where a name, key or separator was expected.
	ReasonEncoding // "invalid_encoding"
	// ReasonUnknownFormat: with automatic format detection, a record
	// whose format cannot be told (see AutoDecoder).
	ReasonUnknownFormat // "unknown_format"
	// ReasonUnknownID: a metrictank MetricPoint of an id that no
	// MetricData on its partition has described (see MdmDecoder).
	ReasonUnknownID // "unknown_id"
	// ReasonTooManyFields: a line with more fields than the pipeline
	// allows (one line must not create unbounded series).
	ReasonTooManyFields // "too_many_fields"
	// ReasonRecordTooLarge: a Kafka record larger than the pipeline's
	// line limit, skipped whole.
	ReasonRecordTooLarge // "record_too_large"
)

// AllReasons lists every Reason, for pre-creating metric series.
var AllReasons = []Reason{
	ReasonSyntax,
	ReasonDuplicateTag,
	ReasonValueRange,
	ReasonTimestamp,
	ReasonEncoding,
	ReasonUnknownFormat,
	ReasonUnknownID,
	ReasonTooManyFields,
	ReasonRecordTooLarge,
}

var reasonNames = [...]string{
	ReasonSyntax:         "syntax",
	ReasonDuplicateTag:   "duplicate_tag",
	ReasonValueRange:     "value_out_of_range",
	ReasonTimestamp:      "bad_timestamp",
	ReasonEncoding:       "invalid_encoding",
	ReasonUnknownFormat:  "unknown_format",
	ReasonUnknownID:      "unknown_id",
	ReasonTooManyFields:  "too_many_fields",
	ReasonRecordTooLarge: "record_too_large",
}

// String returns the snake_case label value of r.
func (r Reason) String() string {
	if r >= ReasonSyntax && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// maxQuote is the most input bytes a ParseError quotes.
const maxQuote = 64

// ParseError reports why a line was rejected and where.
//
// The decoder reuses one ParseError: the pointer returned by
// InfluxDecoder.Err is overwritten by the next call to Next or Reset. A
// copy of the struct (e := *d.Err()) is self-contained - the quoted input is
// held in an array inside it, not in the decoder's buffers - so copy it to
// keep it.
type ParseError struct {
	Line   int    // 1-based line of the error position
	Col    int    // 1-based byte column of the error position within its line
	Offset int    // byte offset of the error position in the decoded buffer
	Reason Reason // classification for counting
	Msg    string // constant description, without position or quoted input

	// The quoted input and the byte found instead of the expected one are
	// kept apart from Msg so that no string is built on the hot path;
	// Error assembles the message.
	quote      [maxQuote]byte
	quoteLen   uint8
	quoteTrunc bool // the quoted input was longer than maxQuote
	hasQuote   bool
	found      int16 // foundNone, foundEOF or the byte found
}

const (
	foundNone = -1
	foundEOF  = -2
)

// NewParseError returns an error of a line that decoded but breaks a rule
// of its user (a limit): no input is quoted.
func NewParseError(line, col, offset int, r Reason, msg string) ParseError {
	return ParseError{Line: line, Col: col, Offset: offset, Reason: r, Msg: msg, found: foundNone}
}

// Error formats the error as, for example,
//
//	line 3:17: expected '=' after tag key "host", found ' '
func (e *ParseError) Error() string {
	b := make([]byte, 0, 64+len(e.Msg)+2*maxQuote)
	b = append(b, "line "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(e.Col), 10)
	b = append(b, ": "...)
	b = append(b, e.Msg...)
	if e.hasQuote {
		q := e.quote[:e.quoteLen]
		if e.quoteTrunc {
			// Do not cut a UTF-8 sequence in half just because of the
			// length limit: drop the partial rune and mark the cut.
			if i := lastRuneStart(q); !utf8.FullRune(q[i:]) {
				q = q[:i]
			}
		}
		b = append(b, ' ')
		b = strconv.AppendQuote(b, string(q))
		if e.quoteTrunc {
			b = append(b, "..."...)
		}
	}
	switch {
	case e.found == foundEOF:
		b = append(b, ", found end of input"...)
	case e.found >= 0:
		b = append(b, ", found "...)
		b = appendQuotedByte(b, byte(e.found))
	}
	return string(b)
}

// lastRuneStart returns the index of the start of the last (possibly
// partial) UTF-8 sequence in q.
func lastRuneStart(q []byte) int {
	if len(q) == 0 {
		return 0
	}
	i := len(q) - 1
	for i > 0 && q[i]&0xc0 == 0x80 && len(q)-i < utf8.UTFMax {
		i--
	}
	return i
}

// appendQuotedByte appends c in single quotes, escaping it the way %q
// does for runes; bytes >= 0x80 are shown as '\xNN' because a lone byte of
// a UTF-8 sequence is not a rune.
func appendQuotedByte(b []byte, c byte) []byte {
	if c < utf8.RuneSelf {
		return strconv.AppendQuoteRune(b, rune(c))
	}
	const hex = "0123456789abcdef"
	return append(b, '\'', '\\', 'x', hex[c>>4], hex[c&0xf], '\'')
}

// errCode identifies one error message. Keeping the messages in a table
// makes ParseError.Msg a constant string, so recording an error allocates
// nothing.
type errCode uint8

const (
	errCommentControl errCode = iota + 1
	errLoneCR
	errMeasurementStart
	errMeasurementUTF8
	errAfterMeasurement
	errTagKeyStart
	errTagKeyUTF8
	errTagKeyEq
	errTagValStart
	errTagValUTF8
	errAfterTagVal
	errFieldKeyStart
	errFieldKeyUTF8
	errFieldKeyEq
	errFieldValStart
	errStringUnterminated
	errStringUTF8
	errAfterFieldVal
	errFloatSyntax
	errFloatRange
	errIntSyntax
	errIntRange
	errUintSyntax
	errUintRange
	errBoolSyntax
	errTimestampStart
	errTimestampSyntax
	errAfterTimestamp
	errTimestampRange
	errTimestampPrecision
	errDuplicateTag
)

// errInfo describes an errCode. found means the message ends with the
// byte found at the error position ("found ' '").
type errInfo struct {
	reason Reason
	found  bool
	msg    string
}

var errInfos = [...]errInfo{
	errCommentControl:     {ReasonSyntax, true, "invalid character in comment line"},
	errLoneCR:             {ReasonSyntax, false, "carriage return not followed by line feed"},
	errMeasurementStart:   {ReasonSyntax, true, "expected measurement name"},
	errMeasurementUTF8:    {ReasonEncoding, false, "invalid UTF-8 in measurement name"},
	errAfterMeasurement:   {ReasonSyntax, true, "expected ',' or ' ' after measurement name"},
	errTagKeyStart:        {ReasonSyntax, true, "expected tag key after ','"},
	errTagKeyUTF8:         {ReasonEncoding, false, "invalid UTF-8 in tag key"},
	errTagKeyEq:           {ReasonSyntax, true, "expected '=' after tag key"},
	errTagValStart:        {ReasonSyntax, true, "expected tag value after tag key"},
	errTagValUTF8:         {ReasonEncoding, false, "invalid UTF-8 in tag value"},
	errAfterTagVal:        {ReasonSyntax, true, "expected ',' or ' ' after tag value"},
	errFieldKeyStart:      {ReasonSyntax, true, "expected field key"},
	errFieldKeyUTF8:       {ReasonEncoding, false, "invalid UTF-8 in field key"},
	errFieldKeyEq:         {ReasonSyntax, true, "expected '=' after field key"},
	errFieldValStart:      {ReasonSyntax, true, "expected field value (number, boolean or quoted string) after field key"},
	errStringUnterminated: {ReasonSyntax, false, "missing closing quote of string field value (it runs to the end of the input)"},
	errStringUTF8:         {ReasonEncoding, false, "invalid UTF-8 in string field value"},
	errAfterFieldVal:      {ReasonSyntax, true, "expected ',' or ' ' after field value"},
	errFloatSyntax:        {ReasonSyntax, false, "invalid float value"},
	errFloatRange:         {ReasonValueRange, false, "float value out of range"},
	errIntSyntax:          {ReasonSyntax, false, "invalid integer value"},
	errIntRange:           {ReasonValueRange, false, "integer value out of range"},
	errUintSyntax:         {ReasonSyntax, false, "invalid unsigned integer value"},
	errUintRange:          {ReasonValueRange, false, "unsigned integer value out of range"},
	errBoolSyntax:         {ReasonSyntax, false, "invalid boolean value"},
	errTimestampStart:     {ReasonSyntax, true, "expected timestamp or end of line after fields"},
	errTimestampSyntax:    {ReasonSyntax, false, "invalid timestamp"},
	errAfterTimestamp:     {ReasonSyntax, true, "expected end of line after timestamp"},
	errTimestampRange:     {ReasonTimestamp, false, "timestamp out of int64 range"},
	errTimestampPrecision: {ReasonTimestamp, false, "timestamp out of range once scaled to nanoseconds"},
	errDuplicateTag:       {ReasonDuplicateTag, false, "duplicate tag key"},
}

// isBadControl reports whether c is a control byte that makes a line an
// encoding error rather than a syntax error where it is found. TAB, CR and
// LF are left to ReasonSyntax: they are line structure gone wrong (a TAB
// separator, a lone CR), not binary garbage.
func isBadControl(c byte) bool {
	return nonPrintable[c] && c != '\t' && c != '\r' && c != '\n'
}
