package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/rollupd/rollup/pipeline"
)

// readFile feeds the whole of f to stream. A regular file is mapped and
// decoded in place (Stream.ReadBytes): reading it would copy every byte
// from the page cache once more, which cost 5-8 % of aggregate's CPU.
// Anything else, or a file that cannot be mapped, is read (ReadFrom).
func readFile(stream *pipeline.Stream, f *os.File) error {
	data, err := mapFile(f)
	if err != nil || data == nil {
		_, err = stream.ReadFrom(f)
		return err
	}
	defer syscall.Munmap(data)
	return feedMapped(stream, data)
}

// mapFile maps f read-only, or returns nil if it is not a regular file
// with something in it.
func mapFile(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 || st.Size() != int64(int(st.Size())) {
		return nil, err
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	// The kernel reads ahead further on a sequential mapping.
	_ = syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	return data, nil
}

// feedMapped decodes data, a mapped file, and unmaps the pages already
// decoded as it goes, so that the process's resident memory does not grow
// with the file.
func feedMapped(stream *pipeline.Stream, data []byte) (err error) {
	// A file truncated while mapped faults on the pages past its new
	// end: make that an error instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			re, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("the file shrank while it was read (fault at %#x)", re.Addr())
		}
	}()
	page := os.Getpagesize()
	released := 0
	stream.ReadBytes(data, func(n int) {
		if n -= n % page; n-released >= 16*page {
			_ = syscall.Madvise(data[released:n], syscall.MADV_DONTNEED)
			released = n
		}
	})
	return nil
}
