package ckpt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// FS is the Backend for a local directory. Files are replaced as
// VictoriaMetrics' fs.MustWriteAtomic does: write a temporary file, fsync
// it, rename it over the name, fsync the directory, so that after a crash at
// any point the name holds either the old content or the whole new one.
type FS struct {
	dir string
	// hook, when set (tests), runs before each step of Write ("write",
	// "sync", "rename", "syncdir"); an error from it is what that step
	// fails with, as a crash or a full disk would make it.
	hook func(step string) error
}

// NewFS opens the directory dir (a path or a file:// URL), creating it if
// needed.
func NewFS(dir string) (*FS, error) {
	if strings.HasPrefix(dir, "file:") {
		u, err := url.Parse(dir)
		if err != nil {
			return nil, fmt.Errorf("checkpoint location %q: %w", dir, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("checkpoint location %q: file URLs name a local path (file:///path), not host %q", dir, u.Host)
		}
		dir = u.Path
	}
	if dir == "" {
		return nil, errors.New("checkpoint location: empty directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create checkpoint directory: %w", err)
	}
	return &FS{dir: dir}, nil
}

// Location returns the directory.
func (f *FS) Location() string { return f.dir }

// List returns the names of the files in the directory that are not
// temporaries.
func (f *FS) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list checkpoint directory: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), TempPrefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (f *FS) step(name string) error {
	if f.hook == nil {
		return nil
	}
	return f.hook(name)
}

// fsWriteBuffer is the write buffer: large sequential writes.
const fsWriteBuffer = 1 << 20

// Write stores name atomically (see FS).
func (f *FS) Write(ctx context.Context, name string, write func(io.Writer) error) (err error) {
	if strings.ContainsRune(name, filepath.Separator) || strings.HasPrefix(name, TempPrefix) {
		return fmt.Errorf("invalid checkpoint file name %q", name)
	}
	tmp, err := os.CreateTemp(f.dir, TempPrefix+name+".*")
	if err != nil {
		return fmt.Errorf("cannot create temporary checkpoint file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, fsWriteBuffer)
	if err = f.step("write"); err == nil {
		err = write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", tmp.Name(), err)
	}
	if err = f.step("sync"); err == nil {
		err = tmp.Sync()
	}
	if err != nil {
		return fmt.Errorf("cannot sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", tmp.Name(), err)
	}
	if err = f.step("rename"); err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(f.dir, name))
	}
	if err != nil {
		return fmt.Errorf("cannot rename checkpoint into place: %w", err)
	}
	// The rename is durable only once the directory is; the file itself
	// is in place, so a failure here is reported, not undone.
	if err := f.step("syncdir"); err != nil {
		return fmt.Errorf("cannot sync checkpoint directory: %w", err)
	}
	return syncDir(f.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync checkpoint directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync checkpoint directory: %w", err)
	}
	return nil
}

// Read maps name into memory (read-only); release unmaps it.
func (f *FS) Read(ctx context.Context, name string) ([]byte, func(), error) {
	file, err := os.Open(filepath.Join(f.dir, name))
	if err != nil {
		return nil, nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, func() {}, nil
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("%s: %d bytes is too large to map", name, size)
	}
	data, err := syscall.Mmap(int(file.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Not every file system maps (some FUSE mounts): read instead.
		data, err = io.ReadAll(file)
		if err != nil {
			return nil, nil, err
		}
		return data, func() {}, nil
	}
	return data, func() { syscall.Munmap(data) }, nil
}

// Remove deletes name.
func (f *FS) Remove(ctx context.Context, name string) error {
	err := os.Remove(filepath.Join(f.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// CleanTemp removes leftover temporary files.
func (f *FS) CleanTemp(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list checkpoint directory: %w", err)
	}
	var removed []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			if err := os.Remove(filepath.Join(f.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, err
			}
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}

// Close does nothing: the directory holds no open resources.
func (f *FS) Close() error { return nil }
