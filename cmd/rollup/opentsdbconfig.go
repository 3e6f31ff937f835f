package main

import (
	"fmt"
	"log/slog"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/window"
)

type opentsdbConfigCmd struct {
	Archive     []string `help:"Archive as for run: STEP:AGG[,AGG...][:topic=NAME] (repeatable, or several separated by ;); give the same archives as the service (default ${default})." default:"1m:sum,count,min,max" sep:";" env:"ROLLUP_ARCHIVE" placeholder:"STEP:AGGS"`
	RawInterval string   `help:"Interval of OpenTSDB's raw data table (the defaultInterval entry); it must differ from every archive step." default:"1m" env:"ROLLUP_OPENTSDB_RAW_INTERVAL"`
	RawTable    string   `help:"HBase table of raw data." default:"tsdb"`
	RawPreAgg   string   `name:"raw-preagg-table" help:"HBase table of raw pre-aggregates." default:"tsdb-preagg"`
	TablePrefix string   `help:"Prefix of each archive's tables: PREFIX<step> and PREFIXpreagg-<step>." default:"tsdb-rollup-"`
}

// Run prints the tsd.rollups.config JSON for the archives.
func (c *opentsdbConfigCmd) Run(log *slog.Logger, std stdio) error {
	var cfg window.Config
	for _, spec := range c.Archive {
		ar, _, err := parseArchiveRoute(spec, archiveRoute{})
		if err != nil {
			return err
		}
		cfg.Archives = append(cfg.Archives, ar)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var archives []emit.OpenTSDBArchive
	for _, ar := range cfg.Archives {
		a := emit.OpenTSDBArchive{Interval: ar.Name}
		for _, g := range ar.Aggregators {
			a.Aggregators = append(a.Aggregators, g.String())
		}
		archives = append(archives, a)
	}
	out, err := emit.OpenTSDBRollupConfig(archives, emit.OpenTSDBConfigOptions{
		RawInterval: c.RawInterval, RawTable: c.RawTable, RawPreAggTable: c.RawPreAgg, TablePrefix: c.TablePrefix,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(std.out, "%s\n", out)
	return nil
}
