// Package ckpttest checks that a ckpt.Backend keeps the contract every
// checkpoint backend shares: atomic writes, listing without temporaries,
// replacement, removal and cleaning of a crash's leftovers. Each backend's
// tests call Run with a constructor.
package ckpttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollupd/rollup/ckpt"
)

// Harness makes backends for the suite.
type Harness struct {
	// New returns an empty backend, closed by the suite.
	New func(t *testing.T) ckpt.Backend
	// PutTemp leaves a temporary file named name (it starts with
	// ckpt.TempPrefix) in b's location, as a write interrupted by a crash
	// would.
	PutTemp func(t *testing.T, b ckpt.Backend, name string, data []byte)
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	open := func(t *testing.T) ckpt.Backend {
		b := h.New(t)
		t.Cleanup(func() { b.Close() })
		return b
	}
	write := func(t *testing.T, b ckpt.Backend, name string, data []byte) {
		t.Helper()
		err := b.Write(ctx, name, func(w io.Writer) error {
			// Several writes, as the checkpoint writer makes them.
			for len(data) > 0 {
				n := min(len(data), 100_000)
				if _, err := w.Write(data[:n]); err != nil {
					return err
				}
				data = data[n:]
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Write %s: %v", name, err)
		}
	}
	read := func(t *testing.T, b ckpt.Backend, name string) []byte {
		t.Helper()
		data, release, err := b.Read(ctx, name)
		if err != nil {
			t.Fatalf("Read %s: %v", name, err)
		}
		out := bytes.Clone(data)
		release()
		return out
	}
	list := func(t *testing.T, b ckpt.Backend) []string {
		t.Helper()
		names, err := b.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		slices.Sort(names)
		return names
	}
	pattern := func(n int, seed byte) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7) ^ seed
		}
		return p
	}

	t.Run("RoundTrip", func(t *testing.T) {
		b := open(t)
		if got := list(t, b); len(got) != 0 {
			t.Fatalf("new backend lists %q", got)
		}
		small, big := pattern(100, 1), pattern(9<<20+5, 2)
		write(t, b, ckpt.FileName(1), small)
		write(t, b, ckpt.FileName(2), big)
		write(t, b, ckpt.FileName(3), nil)
		if got, want := list(t, b), []string{ckpt.FileName(1), ckpt.FileName(2), ckpt.FileName(3)}; !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
		if got := read(t, b, ckpt.FileName(1)); !bytes.Equal(got, small) {
			t.Fatalf("small file read back differs")
		}
		if got := read(t, b, ckpt.FileName(2)); !bytes.Equal(got, big) {
			t.Fatalf("big file read back differs (%d bytes, want %d)", len(got), len(big))
		}
		if got := read(t, b, ckpt.FileName(3)); len(got) != 0 {
			t.Fatalf("empty file read back as %d bytes", len(got))
		}
	})

	t.Run("Replace", func(t *testing.T) {
		b := open(t)
		write(t, b, ckpt.FileName(7), pattern(1000, 3))
		write(t, b, ckpt.FileName(7), pattern(10, 4))
		if got := read(t, b, ckpt.FileName(7)); !bytes.Equal(got, pattern(10, 4)) {
			t.Fatalf("replaced file holds %d bytes, want the new 10", len(got))
		}
	})

	t.Run("FailedWriteLeavesNothing", func(t *testing.T) {
		b := open(t)
		old := pattern(5000, 5)
		write(t, b, ckpt.FileName(1), old)
		boom := errors.New("boom")
		for _, name := range []string{ckpt.FileName(1), ckpt.FileName(2)} {
			err := b.Write(ctx, name, func(w io.Writer) error {
				w.Write(pattern(3<<20, 6)) // more than any buffer
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Write of %s returned %v, want the writer's error", name, err)
			}
		}
		if got, want := list(t, b), []string{ckpt.FileName(1)}; !slices.Equal(got, want) {
			t.Fatalf("after failed writes List = %q, want %q", got, want)
		}
		if got := read(t, b, ckpt.FileName(1)); !bytes.Equal(got, old) {
			t.Fatal("a failed write over a file changed it")
		}
		if left, err := b.CleanTemp(ctx); err != nil || len(left) != 0 {
			t.Fatalf("failed writes left temporaries %q (err %v)", left, err)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		b := open(t)
		write(t, b, ckpt.FileName(1), pattern(10, 7))
		write(t, b, ckpt.FileName(2), pattern(10, 8))
		if err := b.Remove(ctx, ckpt.FileName(1)); err != nil {
			t.Fatal(err)
		}
		if err := b.Remove(ctx, ckpt.FileName(1)); err != nil {
			t.Fatalf("removing a missing file: %v", err)
		}
		if got, want := list(t, b), []string{ckpt.FileName(2)}; !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
		if _, _, err := b.Read(ctx, ckpt.FileName(1)); err == nil {
			t.Fatal("reading a removed file succeeded")
		}
	})

	t.Run("CleanTemp", func(t *testing.T) {
		b := open(t)
		write(t, b, ckpt.FileName(1), pattern(10, 9))
		stale := ckpt.TempPrefix + ckpt.FileName(2) + ".crashed"
		h.PutTemp(t, b, stale, pattern(4096, 10))
		if got, want := list(t, b), []string{ckpt.FileName(1)}; !slices.Equal(got, want) {
			t.Fatalf("List shows temporaries: %q", got)
		}
		removed, err := b.CleanTemp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(removed) != 1 || !strings.Contains(removed[0], stale) {
			t.Fatalf("CleanTemp removed %q, want %q", removed, stale)
		}
		if removed, _ := b.CleanTemp(ctx); len(removed) != 0 {
			t.Fatalf("second CleanTemp removed %q", removed)
		}
		if got := read(t, b, ckpt.FileName(1)); !bytes.Equal(got, pattern(10, 9)) {
			t.Fatal("CleanTemp touched a checkpoint")
		}
	})
}
