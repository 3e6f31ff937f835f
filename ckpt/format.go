package ckpt

// The file format. Version 1 is the first. To change the layout of a
// section, add a new Kind (keep the old one readable for one release: a
// reader of version N must load files of N-1, as kfake's persist.go keeps
// old versions loadable) or bump Version when the framing itself changes;
// Parse refuses versions it does not know with ErrVersion, never guesses.
// The byte layout is tabled in doc.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Magic starts every checkpoint file.
const Magic = "ROLLCKPT"

// Version is the version this package writes and reads.
const Version = 1

const (
	headerSize        = 32
	sectionHeaderSize = 32
	// align is the alignment of every section and payload, so that fixed
	// records of 8-byte fields can be read in place from a mapped file.
	align = 8
)

// Kind says what a section holds. The payload layouts are in doc.go.
type Kind uint32

// The section kinds. Per-shard sections carry the shard in Scope.
const (
	KindMeta       Kind = 1
	KindPartitions Kind = 2
	KindSeries     Kind = 3
	KindStore      Kind = 4
	KindIdle       Kind = 5
	KindWindow     Kind = 6
	KindIDs        Kind = 7 // Scope: the partition's index in KindPartitions
	KindEnd        Kind = 0xffff
)

var kindNames = map[Kind]string{
	KindMeta: "meta", KindPartitions: "partitions", KindSeries: "series", KindStore: "store",
	KindIdle: "idle", KindWindow: "window", KindIDs: "ids", KindEnd: "end",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is CRC32C, the checksum of every header and payload.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Writer writes one checkpoint file: the header, then sections, then the
// end section on Close. It does not buffer: give it a buffered writer.
type Writer struct {
	w        io.Writer
	n        uint64 // bytes written
	sections uint64
	err      error
	hdr      [sectionHeaderSize]byte
}

var zeros [align]byte

// NewWriter writes the header of the checkpoint of epoch to w.
func NewWriter(w io.Writer, epoch uint64) (*Writer, error) {
	var h [headerSize]byte
	copy(h[:8], Magic)
	binary.LittleEndian.PutUint32(h[8:], Version)
	binary.LittleEndian.PutUint64(h[16:], epoch)
	binary.LittleEndian.PutUint32(h[28:], Checksum(h[:28]))
	wr := &Writer{w: w}
	wr.write(h[:])
	return wr, wr.err
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.n += uint64(n)
	w.err = err
}

// Pad returns the bytes needed to pad n to the alignment.
func Pad(n int) int { return (align - n%align) % align }

// Section writes one section whose payload is the concatenation of parts,
// zero-padded to a multiple of 8 bytes. count is the number of records
// (its meaning depends on kind).
func (w *Writer) Section(kind Kind, scope uint32, count uint64, parts ...[]byte) error {
	if w.err != nil {
		return w.err
	}
	var crc uint32
	n := 0
	for _, p := range parts {
		crc = crc32.Update(crc, castagnoli, p)
		n += len(p)
	}
	pad := Pad(n)
	crc = crc32.Update(crc, castagnoli, zeros[:pad])
	h := w.hdr[:]
	binary.LittleEndian.PutUint32(h[0:], uint32(kind))
	binary.LittleEndian.PutUint32(h[4:], scope)
	binary.LittleEndian.PutUint64(h[8:], count)
	binary.LittleEndian.PutUint64(h[16:], uint64(n+pad))
	binary.LittleEndian.PutUint32(h[24:], crc)
	binary.LittleEndian.PutUint32(h[28:], Checksum(h[:28]))
	w.write(h)
	for _, p := range parts {
		w.write(p)
	}
	w.write(zeros[:pad])
	w.sections++
	return w.err
}

// Close writes the end section: the number of sections before it and the
// file's total length, so that a file cut at a section boundary is told
// from a complete one. It does not close the underlying writer.
func (w *Writer) Close() error {
	var p [8]byte
	binary.LittleEndian.PutUint64(p[:], w.n+sectionHeaderSize+8)
	return w.Section(KindEnd, 0, w.sections, p[:])
}

// Size returns the bytes written so far.
func (w *Writer) Size() uint64 { return w.n }

// File is a parsed, fully verified checkpoint. Section payloads alias the
// data given to Parse.
type File struct {
	Version  uint32
	Epoch    uint64
	Size     int
	Sections []Section
}

// Section is one section of a File.
type Section struct {
	Kind   Kind
	Scope  uint32
	Count  uint64
	Offset int // of the section header in the file
	Data   []byte
}

// ErrVersion is returned (wrapped in a CorruptError) for a file of a
// version this build cannot read.
var ErrVersion = errors.New("unsupported checkpoint version")

// ErrNotCheckpoint is returned (wrapped) when a file does not start with
// Magic.
var ErrNotCheckpoint = errors.New("not a rollup checkpoint (bad magic)")

// CorruptError says where a file failed which check.
type CorruptError struct {
	Section int    // index of the section, -1 for the file header
	Kind    Kind   // of that section, when its header was readable
	Offset  int    // byte offset of the failing part
	Check   string // what failed, e.g. "payload crc32c", "truncated"
	Err     error  // ErrVersion, ErrNotCheckpoint or nil
}

func (e *CorruptError) Error() string {
	where := "file header"
	if e.Section >= 0 {
		where = fmt.Sprintf("section %d", e.Section)
		if e.Kind != 0 {
			where += " (" + e.Kind.String() + ")"
		}
	}
	msg := fmt.Sprintf("checkpoint corrupt: %s at byte %d: %s", where, e.Offset, e.Check)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Parse verifies every checksum and length of a whole file and returns its
// sections. It allocates only the section list (bounded by the file size),
// whatever the lengths in the file claim.
func Parse(data []byte) (*File, error) {
	bad := func(sec int, kind Kind, off int, check string) error {
		return &CorruptError{Section: sec, Kind: kind, Offset: off, Check: check}
	}
	if len(data) < headerSize {
		if len(data) >= 8 && string(data[:8]) != Magic {
			return nil, &CorruptError{Section: -1, Check: "magic", Err: ErrNotCheckpoint}
		}
		return nil, bad(-1, 0, len(data), fmt.Sprintf("truncated: %d bytes, shorter than the %d-byte header", len(data), headerSize))
	}
	if string(data[:8]) != Magic {
		return nil, &CorruptError{Section: -1, Check: "magic", Err: ErrNotCheckpoint}
	}
	if binary.LittleEndian.Uint32(data[28:]) != Checksum(data[:28]) {
		return nil, bad(-1, 0, 0, "header crc32c mismatch")
	}
	f := &File{Version: binary.LittleEndian.Uint32(data[8:]), Epoch: binary.LittleEndian.Uint64(data[16:])}
	if f.Version != Version {
		return nil, &CorruptError{Section: -1, Offset: 8, Check: fmt.Sprintf("version %d (this build reads %d)", f.Version, Version), Err: ErrVersion}
	}
	off := headerSize
	for i := 0; ; i++ {
		if len(data)-off < sectionHeaderSize {
			return nil, bad(i, 0, off, "truncated: no end section")
		}
		h := data[off : off+sectionHeaderSize]
		if binary.LittleEndian.Uint32(h[28:]) != Checksum(h[:28]) {
			return nil, bad(i, 0, off, "section header crc32c mismatch")
		}
		s := Section{
			Kind:   Kind(binary.LittleEndian.Uint32(h[0:])),
			Scope:  binary.LittleEndian.Uint32(h[4:]),
			Count:  binary.LittleEndian.Uint64(h[8:]),
			Offset: off,
		}
		n := binary.LittleEndian.Uint64(h[16:])
		body := off + sectionHeaderSize
		if n%align != 0 {
			return nil, bad(i, s.Kind, off+16, fmt.Sprintf("payload length %d is not a multiple of %d", n, align))
		}
		if n > uint64(len(data)-body) {
			return nil, bad(i, s.Kind, body, fmt.Sprintf("truncated: payload of %d bytes, %d left in the file", n, len(data)-body))
		}
		s.Data = data[body : body+int(n)]
		if Checksum(s.Data) != binary.LittleEndian.Uint32(h[24:]) {
			return nil, bad(i, s.Kind, body, "payload crc32c mismatch")
		}
		off = body + int(n)
		if s.Kind == KindEnd {
			if s.Count != uint64(i) || len(s.Data) != 8 {
				return nil, bad(i, s.Kind, s.Offset, fmt.Sprintf("end section counts %d sections, found %d", s.Count, i))
			}
			if total := binary.LittleEndian.Uint64(s.Data); total != uint64(off) {
				return nil, bad(i, s.Kind, s.Offset, fmt.Sprintf("end section says %d bytes, file ends at %d", total, off))
			}
			if off != len(data) {
				return nil, bad(i, s.Kind, off, fmt.Sprintf("%d bytes after the end section", len(data)-off))
			}
			f.Size = off
			return f, nil
		}
		f.Sections = append(f.Sections, s)
	}
}
