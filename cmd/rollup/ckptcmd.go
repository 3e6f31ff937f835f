package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/pipeline"
)

type ckptCmd struct {
	Inspect ckptInspectCmd `cmd:"" help:"Describe checkpoint files: header, configuration, sections, series, open windows, partitions and offsets, sizes."`
	Verify  ckptVerifyCmd  `cmd:"" help:"Check every checksum and length of checkpoint files; exit status 0 if all are valid, 1 otherwise."`
}

type ckptInspectCmd struct {
	Location string `arg:"" help:"A checkpoint file, or a checkpoint directory (path or file:///path; its newest file unless --all)." placeholder:"PATH|URL"`
	All      bool   `help:"Every checkpoint of the directory, newest first."`
}

type ckptVerifyCmd struct {
	Location string `arg:"" help:"A checkpoint file, or a checkpoint directory (path or file:///path; every file in it)." placeholder:"PATH|URL"`
}

// ckptFile is one checkpoint file to read.
type ckptFile struct {
	name string
	read func() ([]byte, func(), error)
}

// ckptFiles resolves a location to its files, newest first.
func ckptFiles(ctx context.Context, loc string) ([]ckptFile, error) {
	if st, err := os.Stat(loc); err == nil && st.Mode().IsRegular() {
		return []ckptFile{{loc, func() ([]byte, func(), error) {
			b, err := os.ReadFile(loc)
			return b, func() {}, err
		}}}, nil
	}
	b, err := openCheckpointBackend(loc)
	if err != nil {
		return nil, err
	}
	names, err := b.List(ctx)
	if err != nil {
		return nil, err
	}
	var files []ckptFile
	for _, n := range names {
		if _, ok := ckpt.ParseFileName(n); ok {
			files = append(files, ckptFile{b.Location() + "/" + n, func() ([]byte, func(), error) { return b.Read(ctx, n) }})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name > files[j].name })
	if len(files) == 0 {
		return nil, fmt.Errorf("no checkpoint files in %s", b.Location())
	}
	return files, nil
}

func (c *ckptVerifyCmd) Run(log *slog.Logger, std stdio) error {
	files, err := ckptFiles(context.Background(), c.Location)
	if err != nil {
		return err
	}
	bad := 0
	for _, f := range files {
		data, release, err := f.read()
		if err == nil {
			var ck *pipeline.Checkpoint
			ck, err = pipeline.ParseCheckpoint(data)
			if err == nil {
				fmt.Fprintf(std.out, "ok       %s (epoch %d, %d bytes, %d sections)\n", f.name, ck.Epoch, ck.Size, len(ck.Sections()))
			}
			release()
		}
		if err != nil {
			bad++
			fmt.Fprintf(std.out, "CORRUPT  %s: %v\n", f.name, err)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d checkpoint files failed verification", bad, len(files))
	}
	return nil
}

func (c *ckptInspectCmd) Run(log *slog.Logger, std stdio) error {
	files, err := ckptFiles(context.Background(), c.Location)
	if err != nil {
		return err
	}
	if !c.All {
		files = files[:1]
	}
	var errs []error
	for i, f := range files {
		if i > 0 {
			fmt.Fprintln(std.out)
		}
		if err := inspect(std.out, f); err != nil {
			fmt.Fprintf(std.out, "file       %s\nCORRUPT    %v\n", f.name, err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func inspect(w io.Writer, f ckptFile) error {
	data, release, err := f.read()
	if err != nil {
		return err
	}
	defer release()
	ck, err := pipeline.ParseCheckpoint(data)
	if err != nil {
		return err
	}
	ts := func(ns int64) string {
		if ns == math.MinInt64 {
			return "none"
		}
		return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "file       %s\nepoch      %d\nversion    %d\ncreated    %s\nsize       %d bytes\ndelivery   %s\n",
		f.name, ck.Epoch, ckpt.Version, ck.Created.UTC().Format(time.RFC3339), ck.Size, ck.Delivery)
	if ck.TransactionalID != "" {
		fmt.Fprintf(w, "txn id     %s\n", ck.TransactionalID)
	}
	fmt.Fprintf(w, "shards     %d\nwatermark  %s\nconfig     (fingerprint %016x)\n", ck.Shards, ts(ck.Watermark), ck.Fingerprint)
	fmt.Fprint(w, indent(ck.Config))
	var series, idleBytes uint64
	type win struct {
		archive int
		start   int64
	}
	windows := map[win]uint64{} // pages
	var windowBytes uint64
	for _, s := range ck.Sections() {
		switch s.Kind {
		case ckpt.KindSeries:
			series += s.Count
		case ckpt.KindIdle:
			idleBytes += uint64(len(s.Data))
		case ckpt.KindWindow:
			k := win{int(binary.LittleEndian.Uint32(s.Data)), int64(binary.LittleEndian.Uint64(s.Data[8:]))}
			windows[k] += s.Count
			windowBytes += uint64(len(s.Data))
		}
	}
	fmt.Fprintf(w, "sections   %d\nseries     %d\n", len(ck.Sections()), series)
	keys := make([]win, 0, len(windows))
	for k := range windows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].archive != keys[j].archive {
			return keys[i].archive < keys[j].archive
		}
		return keys[i].start < keys[j].start
	})
	fmt.Fprintf(w, "windows    %d open (%d bytes of aggregate pages)\n", len(keys), windowBytes)
	for _, k := range keys {
		fmt.Fprintf(w, "  archive %d  start %s  %d pages\n", k.archive, ts(k.start), windows[k])
	}
	fmt.Fprintf(w, "partitions %d\n", len(ck.Partitions))
	for _, p := range ck.Partitions {
		wm := "none"
		if p.Seen {
			wm = ts(p.Newest)
		}
		fmt.Fprintf(w, "  %s/%d  next offset %d  newest point %s\n", p.Topic, p.Partition, p.Next, wm)
	}
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
