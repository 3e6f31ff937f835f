package load

// djb2 is MapR collectd's stream hash (write_maprstreams.c, function hash)
// as built on x86-64, where plain char is signed: bytes >= 0x80 add
// -128..-1, not 128..255. The C code wraps a 32-bit int (gcc emits
// wrapping code for the undefined overflow) and stops at the first NUL;
// Go's int32 arithmetic wraps the same way, so the port is literal. See
// FORMATS.md section 6.
func djb2(s string) int32 {
	h := int32(5381)
	for i := 0; i < len(s) && s[i] != 0; i++ {
		h = h*33 + int32(int8(s[i])) // int32(s[i]) for an unsigned-char build
	}
	return h
}

// djb2Stream is the stream index abs(djb2(s) % n) of MapR collectd: C99's
// % truncates toward zero like Go's, so a negative hash gives a negative
// remainder that abs flips. n must be positive (the C code crashes on 0).
func djb2Stream(s string, n int32) int32 {
	r := djb2(s) % n
	if r < 0 {
		r = -r
	}
	return r
}
