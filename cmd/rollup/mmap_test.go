package main

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

// TestMappedFileThatShrinks: a file truncated after it was mapped makes
// aggregate's read fail with an error, not crash the process on the fault;
// and what cannot be mapped (empty, not regular) is read instead.
func TestMappedFileThatShrinks(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "in.lp", strings.Repeat("m,h=a f=1 1700000000000000000\n", 100_000))
	newStream := func() (*pipeline.Engine, *pipeline.Stream) {
		var cfg pipeline.Config
		ar, err := window.ParseArchive("1m:sum")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Window.Archives = []window.Archive{ar}
		if cfg.Encoder, err = emit.NewEncoder("jsonl", emit.Options{}); err != nil {
			t.Fatal(err)
		}
		cfg.Shards = 1
		cfg.Now = func() time.Time { return time.Unix(1700000000, 0).Add(time.Hour) }
		e, err := pipeline.New(cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return e, e.NewStream()
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := mapFile(f)
	if err != nil || data == nil {
		t.Fatalf("not mapped: %v", err)
	}
	defer syscall.Munmap(data)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	e, s := newStream()
	err = feedMapped(s, data)
	if err == nil || !strings.Contains(err.Error(), "shrank while it was read") {
		t.Fatalf("feeding a shrunk mapping: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// Empty, and a pipe: read, not mapped.
	empty := writeFile(t, dir, "empty.lp", "")
	for _, name := range []string{empty, "pipe"} {
		var f *os.File
		if name == "pipe" {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			go func() { w.WriteString("m,h=a f=1 1700000000000000000\n"); w.Close() }()
			f = r
		} else if f, err = os.Open(name); err != nil {
			t.Fatal(err)
		}
		if data, err := mapFile(f); data != nil || err != nil {
			t.Errorf("%s: mapped (%v)", name, err)
		}
		e, s := newStream()
		if err := readFile(s, f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]uint64{true: 1, false: 0}[name == "pipe"]; e.Counters().Points != want {
			t.Errorf("%s: %d points, want %d", name, e.Counters().Points, want)
		}
	}
}
