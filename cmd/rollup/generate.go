package main

import (
	"bufio"
	"log/slog"
	"time"

	"github.com/rollupd/rollup/benchmarks/gen"
)

type generateCmd struct {
	Hosts     int           `help:"Hosts; each reports 90 series (11 lines) per interval." default:"10"`
	Intervals int           `help:"Number of intervals to write." default:"60"`
	Interval  time.Duration `help:"Time between reports." default:"10s"`
	Start     int64         `help:"Unix seconds of the first interval." default:"1700000000"`
	Seed      uint64        `help:"Varies the values (not the shape)." default:"1"`
}

func (g *generateCmd) Run(log *slog.Logger, std stdio) error {
	t := gen.NewTelegraf(gen.Config{Hosts: g.Hosts, Start: time.Unix(g.Start, 0), Interval: g.Interval, Seed: g.Seed})
	w := bufio.NewWriterSize(std.out, 1<<20)
	var buf []byte
	for range g.Intervals {
		buf = t.AppendInterval(buf[:0])
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}
