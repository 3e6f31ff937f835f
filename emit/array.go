package emit

// ArrayWriter frames encoded objects into one JSON array,
//
//	[{...},{...}]
//
// the form in which opentsdb-rpc-kafka takes many Aggregates in one Kafka
// record (a record value starting with '[').
//
// It exists for one reason: Append writes the separator and takes it back
// when the encoder drops the rollup. Writing "," and then calling
// Encoder.Append directly leaves a dangling comma on a drop, and the TSD
// then rejects the whole record as unparsable JSON.
//
// Mind the blast radius when choosing how many objects go into one record:
// OpenTSDB drops everything after the first Aggregate it fails to store
// (which is why the opentsdb encoder validates), and a record that fails to
// parse is dropped whole.
//
// Use: w.Begin, w.Append per rollup, then w.End if w.Len() > 0 (an empty
// array is valid but carries nothing). The zero value is ready to use.
type ArrayWriter struct {
	n int
}

// Begin starts an array on dst and resets the element count.
func (w *ArrayWriter) Begin(dst []byte) []byte {
	w.n = 0
	return append(dst, '[')
}

// Append encodes r with enc as the next element. On a drop it returns dst
// exactly as it was passed in, like Encoder.Append.
func (w *ArrayWriter) Append(dst []byte, enc Encoder, r *Rollup) ([]byte, DropReason) {
	mark := len(dst)
	if w.n > 0 {
		dst = append(dst, ',')
	}
	dst, reason := enc.Append(dst, r)
	if reason != DropNone {
		return dst[:mark], reason
	}
	w.n++
	return dst, DropNone
}

// Len returns the number of elements appended since Begin.
func (w *ArrayWriter) Len() int { return w.n }

// End closes the array.
func (w *ArrayWriter) End(dst []byte) []byte {
	return append(dst, ']')
}
