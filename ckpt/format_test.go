package ckpt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rollupd/rollup/ckpt"
)

// sample writes a small file with sections of every shape: empty, odd
// length (padded), several parts.
func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := ckpt.NewWriter(&buf, 42)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Section(ckpt.KindMeta, 0, 0, []byte("hello")))
	must(w.Section(ckpt.KindSeries, 3, 2, []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte("abc")))
	must(w.Section(ckpt.KindIdle, 1, 0))
	must(w.Close())
	if int(w.Size()) != buf.Len() {
		t.Fatalf("Size %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes()
}

func TestFormatRoundTrip(t *testing.T) {
	data := sample(t)
	if len(data)%8 != 0 {
		t.Fatalf("file length %d not aligned", len(data))
	}
	f, err := ckpt.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Epoch != 42 || f.Version != ckpt.Version || f.Size != len(data) {
		t.Fatalf("header: %+v", f)
	}
	want := []struct {
		kind  ckpt.Kind
		scope uint32
		count uint64
		data  string
	}{
		{ckpt.KindMeta, 0, 0, "hello\x00\x00\x00"},
		{ckpt.KindSeries, 3, 2, "\x01\x02\x03\x04\x05\x06\x07\x08abc\x00\x00\x00\x00\x00"},
		{ckpt.KindIdle, 1, 0, ""},
	}
	if len(f.Sections) != len(want) {
		t.Fatalf("%d sections, want %d", len(f.Sections), len(want))
	}
	for i, w := range want {
		s := f.Sections[i]
		if s.Kind != w.kind || s.Scope != w.scope || s.Count != w.count || string(s.Data) != w.data {
			t.Errorf("section %d = %v/%d/%d %q, want %v/%d/%d %q", i, s.Kind, s.Scope, s.Count, s.Data, w.kind, w.scope, w.count, w.data)
		}
		if s.Offset%8 != 0 {
			t.Errorf("section %d at unaligned offset %d", i, s.Offset)
		}
	}
}

// Exact bytes of the header and the first section header, so the layout
// table in doc.go cannot drift from the code.
func TestFormatLayout(t *testing.T) {
	data := sample(t)
	wantHeader := "ROLLCKPT" + "\x01\x00\x00\x00" + "\x00\x00\x00\x00" + "\x2a\x00\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00"
	if got := string(data[:28]); got != wantHeader {
		t.Fatalf("header = %q, want %q", got, wantHeader)
	}
	sec := data[32:60]
	wantSec := "\x01\x00\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00\x00\x00\x00\x00" + "\x08\x00\x00\x00\x00\x00\x00\x00"
	if string(sec[:24]) != wantSec {
		t.Fatalf("section header = %q, want %q", sec[:24], wantSec)
	}
	if got, want := ckpt.Checksum([]byte("hello\x00\x00\x00")), uint32(sec[24])|uint32(sec[25])<<8|uint32(sec[26])<<16|uint32(sec[27])<<24; got != want {
		t.Fatalf("payload crc %#x, header says %#x", got, want)
	}
	if string(data[64:72]) != "hello\x00\x00\x00" {
		t.Fatalf("payload at 64 = %q", data[64:72])
	}
}

// Every single-byte change anywhere is detected, and so is every
// truncation.
func TestFormatDetectsEveryCorruption(t *testing.T) {
	data := sample(t)
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(data)
			c[i] ^= x
			if _, err := ckpt.Parse(c); err == nil {
				t.Fatalf("byte %d ^ %#x not detected", i, x)
			} else {
				var ce *ckpt.CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("byte %d: error %v is not a CorruptError", i, err)
				}
			}
		}
	}
	for n := 0; n < len(data); n++ {
		if _, err := ckpt.Parse(data[:n]); err == nil {
			t.Fatalf("truncation to %d bytes not detected", n)
		}
	}
	if _, err := ckpt.Parse(append(bytes.Clone(data), 0, 0, 0, 0, 0, 0, 0, 0)); err == nil {
		t.Fatal("trailing bytes not detected")
	}
}

func TestFormatRefusesOtherFiles(t *testing.T) {
	data := sample(t)
	c := bytes.Clone(data)
	copy(c, "NOTCKPT!")
	if _, err := ckpt.Parse(c); !errors.Is(err, ckpt.ErrNotCheckpoint) {
		t.Fatalf("bad magic: %v", err)
	}
	// A valid header of version 2, checksum and all.
	c = bytes.Clone(data)
	c[8] = 2
	crc := ckpt.Checksum(c[:28])
	c[28], c[29], c[30], c[31] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	_, err := ckpt.Parse(c)
	if !errors.Is(err, ckpt.ErrVersion) {
		t.Fatalf("version 2: %v", err)
	}
	if got := err.Error(); got != "checkpoint corrupt: file header at byte 8: version 2 (this build reads 1): unsupported checkpoint version" {
		t.Fatalf("message: %s", got)
	}
	_, err = ckpt.Parse(data[:100])
	if got, want := err.Error(), "checkpoint corrupt: section 1 at byte 72: truncated: no end section"; got != want {
		t.Fatalf("truncated in a section header: %s, want %s", got, want)
	}
	_, err = ckpt.Parse(data[:110])
	if got, want := err.Error(), "checkpoint corrupt: section 1 (series) at byte 104: truncated: payload of 16 bytes, 6 left in the file"; got != want {
		t.Fatalf("truncated in a payload: %s, want %s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	data := sample(f)
	f.Add(data)
	f.Add([]byte{})
	f.Add(data[:40])
	f.Add(append(bytes.Clone(data), "garbage"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ckpt.Parse(b)
		if err != nil {
			return
		}
		end := 32
		for _, s := range file.Sections {
			if s.Offset != end || s.Offset%8 != 0 || len(s.Data)%8 != 0 {
				t.Fatalf("section at %d (expected %d), %d bytes", s.Offset, end, len(s.Data))
			}
			end = s.Offset + 32 + len(s.Data)
		}
		if file.Size != len(b) {
			t.Fatalf("Size %d of %d bytes", file.Size, len(b))
		}
	})
}
