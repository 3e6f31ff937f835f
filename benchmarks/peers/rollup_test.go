package peers

import (
	"io"
	"time"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/pipeline"
	"github.com/rollupd/rollup/window"
)

// runRollup aggregates buf as `rollup aggregate --archive
// 1m:sum,count,min,max,last --output-format jsonl` does, writing the jsonl
// to w, and returns the number of rollups written.
func runRollup(buf []byte, w io.Writer) (int, error) {
	var cfg pipeline.Config
	ar, err := window.ParseArchive("1m:sum,count,min,max,last")
	if err != nil {
		return 0, err
	}
	cfg.Window.Archives = []window.Archive{ar}
	cfg.Encoder, err = emit.NewEncoder("jsonl", emit.Options{})
	if err != nil {
		return 0, err
	}
	// One shard: the benchmark runs on one P, and a shard is a goroutine.
	cfg.Shards = 1
	// The data is from 2023: put the wall clock a day after it so that
	// nothing is "in the future" (the engine benchmark does the same).
	now := time.Unix(1700000000, 0).Add(24 * time.Hour)
	cfg.Now = func() time.Time { return now }
	cfg.MaxFuture = time.Hour
	eng, err := pipeline.New(cfg, w)
	if err != nil {
		return 0, err
	}
	// In place, as aggregate decodes a file it maps (and as the other
	// peers parse buf).
	eng.NewStream().ReadBytes(buf, nil)
	if err := eng.Close(); err != nil {
		return 0, err
	}
	return int(eng.Counters().Rollups), nil
}
