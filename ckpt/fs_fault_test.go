package ckpt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A failure at any step of a write (a crash, a full disk) leaves the
// previous checkpoint intact and no new one; what a crash leaves behind is
// a temporary file that CleanTemp removes at the next start.
func TestFSFailureAtEveryStep(t *testing.T) {
	ctx := context.Background()
	old := bytes.Repeat([]byte("old checkpoint "), 1000)
	for _, step := range []string{"write", "sync", "rename"} {
		for _, cause := range []error{syscall.ENOSPC, syscall.EIO} {
			t.Run(step+"/"+cause.Error(), func(t *testing.T) {
				f, err := NewFS(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Write(ctx, FileName(1), func(w io.Writer) error { _, err := w.Write(old); return err }); err != nil {
					t.Fatal(err)
				}
				f.hook = func(s string) error {
					if s == step {
						return cause
					}
					return nil
				}
				err = f.Write(ctx, FileName(2), func(w io.Writer) error {
					_, err := w.Write(bytes.Repeat([]byte("new"), 1<<20))
					return err
				})
				if !errors.Is(err, cause) {
					t.Fatalf("Write = %v, want %v", err, cause)
				}
				names, _ := f.List(ctx)
				if len(names) != 1 || names[0] != FileName(1) {
					t.Fatalf("after a failed write: %q", names)
				}
				data, release, err := f.Read(ctx, FileName(1))
				if err != nil || !bytes.Equal(data, old) {
					t.Fatalf("previous checkpoint damaged (%v)", err)
				}
				release()
				ents, _ := os.ReadDir(f.Location())
				if len(ents) != 1 {
					t.Fatalf("a failed write left %d files behind", len(ents))
				}
			})
		}
	}
}

// A process killed mid-write leaves only a temporary file: never listed,
// removed at the next start.
func TestFSCrashLeavesOnlyTemp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, _ := NewFS(dir)
	f.Write(ctx, FileName(1), func(w io.Writer) error { _, err := w.Write([]byte("one")); return err })
	// What a kill between write and rename leaves: a temporary with part
	// of the data.
	tmp := filepath.Join(dir, TempPrefix+FileName(2)+".123456")
	os.WriteFile(tmp, []byte("partial"), 0o644)
	g, _ := NewFS("file://" + dir)
	names, _ := g.List(ctx)
	if len(names) != 1 || names[0] != FileName(1) {
		t.Fatalf("List = %q", names)
	}
	removed, err := g.CleanTemp(ctx)
	if err != nil || len(removed) != 1 || !strings.HasPrefix(removed[0], TempPrefix) {
		t.Fatalf("CleanTemp = %q, %v", removed, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatal("temporary still there")
	}
}

func TestFSLocations(t *testing.T) {
	if _, err := NewFS("file://otherhost/x"); err == nil || !strings.Contains(err.Error(), "not host") {
		t.Fatalf("file URL with a host: %v", err)
	}
	if _, err := NewFS(""); err == nil {
		t.Fatal("empty location accepted")
	}
	f, err := NewFS("file://" + t.TempDir() + "/sub")
	if err != nil || !strings.HasSuffix(f.Location(), "/sub") {
		t.Fatalf("file URL: %v %v", f, err)
	}
}
