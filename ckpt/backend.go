package ckpt

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Backend stores checkpoint files in one location (a directory, an HDFS
// path). Implementations are safe for use by one goroutine at a time; the
// service writes, lists and removes from one goroutine.
type Backend interface {
	// Location names where the checkpoints live, for logs and error
	// messages ("/var/lib/rollup", "hdfs://nn:8020/rollup").
	Location() string
	// List returns the names of the complete files present (never the
	// temporaries of unfinished writes), in any order.
	List(ctx context.Context) ([]string, error)
	// Write stores a new file named name atomically: what write writes goes
	// to a temporary file (its name starts with TempPrefix), which is made
	// durable and then renamed to name. If write or any step fails, or the
	// process dies at any point, name is absent or complete and every
	// other file is as it was. An existing name is replaced.
	Write(ctx context.Context, name string, write func(io.Writer) error) error
	// Read returns the whole content of name. The data is valid until
	// release is called (a file backend may map it).
	Read(ctx context.Context, name string) (data []byte, release func(), err error)
	// Remove deletes name; a missing file is not an error.
	Remove(ctx context.Context, name string) error
	// CleanTemp removes the temporary files of writes that never finished
	// (a crash mid-write) and returns their names.
	CleanTemp(ctx context.Context) ([]string, error)
	// Close releases connections; the Backend is unusable after.
	Close() error
}

// TempPrefix starts the name of every temporary file a Backend writes, so
// that a crash's leftovers are recognisable and never mistaken for a
// checkpoint.
const TempPrefix = ".tmp-"

// File names: "ckpt-" + the epoch in 20 decimal digits + ".rollup", so
// that names sort by epoch.
const (
	filePrefix = "ckpt-"
	fileSuffix = ".rollup"
)

// FileName returns the file name of the checkpoint of epoch.
func FileName(epoch uint64) string {
	return fmt.Sprintf("%s%020d%s", filePrefix, epoch, fileSuffix)
}

// ParseFileName returns the epoch of a checkpoint file name; ok is false
// for any other name (temporaries included).
func ParseFileName(name string) (epoch uint64, ok bool) {
	s, found := strings.CutPrefix(name, filePrefix)
	if !found {
		return 0, false
	}
	s, found = strings.CutSuffix(s, fileSuffix)
	if !found || len(s) != 20 {
		return 0, false
	}
	e, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return e, true
}
