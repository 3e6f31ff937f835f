package fastparse

import "unsafe"

// This is the only file of the package that uses unsafe.

// unsafeString returns a string that shares b's memory, so that a sub-slice
// of the input can be handed to strconv without copying it.
//
// LIFETIME RULE: the string is valid only while the bytes of b are neither
// modified nor reused, so it must not outlive the call it is passed to. It
// is only given to strconv.ParseFloat, which does not keep its argument
// (on error it clones the text into the *NumError before returning).
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
