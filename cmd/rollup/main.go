// Command rollup aggregates metric points into time-window rollups.
//
// This file is wiring only: flags, logging and exit codes. The work happens
// in the packages it imports.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/rollupd/rollup/emit"
	"github.com/rollupd/rollup/fastparse"
)

type cli struct {
	Config    configFile       `help:"Configuration file, TOML (name ending .toml: output_topic = \"rollups\") or JSON ({\"output_topic\": \"rollups\"}); keys are flag names with _ for -, durations strings with their unit (\"30s\"). Flags on the command line win over the file, the file over ROLLUP_* variables." placeholder:"FILE"`
	LogLevel  slog.Level       `help:"Log level: debug, info, warn or error." default:"info" env:"ROLLUP_LOG_LEVEL"`
	LogFormat string           `help:"Log format: text (logfmt) or json." default:"text" enum:"text,json" env:"ROLLUP_LOG_FORMAT"`
	Version   kong.VersionFlag `help:"Print the version (module version, VCS revision, Go version) and exit."`

	Run runCmd `cmd:"" help:"The service: consume line protocol from Kafka, aggregate, produce rollups to Kafka. Stops cleanly on SIGTERM/SIGINT."`

	Demo      demoCmd      `cmd:"" help:"Demonstration: an in-process Kafka broker, generated Telegraf traffic in real time, the full run pipeline, and a table of rollups as windows close."`
	Bench     benchCmd     `cmd:"" help:"Produce Telegraf-shaped load into Kafka (or an embedded broker) at a set rate, with optional disorder, late and malformed lines, and print a throughput report; --e2e also runs the pipeline and reports its throughput, CPU, latency and memory."`
	Aggregate aggregateCmd `cmd:"" help:"Aggregate line protocol from files (or stdin) and write rollups to stdout; a one-line summary goes to stderr."`
	Plan      planCmd      `cmd:"" help:"Capacity planning: the cores, memory, partitions, Kafka bytes/s, rollups/s and checkpoint size a workload needs, from costs measured on this machine (--calibrate) or recorded in benchmarks/RESULTS.md."`
	Generate  generateCmd  `cmd:"" help:"Write deterministic Telegraf-shaped line protocol to stdout (sample and benchmark data)."`
	Ckpt      ckptCmd      `cmd:"" help:"Inspect and verify checkpoint files."`

	OpenTSDBConfig opentsdbConfigCmd `cmd:"" name:"opentsdb-config" help:"Print the tsd.rollups.config JSON that makes OpenTSDB store the archives' rollups and pick the right resolution at query time (set tsd.rollups.enable = true and tsd.rollups.config to it)."`
}

// stdio is what commands read and write, so tests can run them in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
}

// run executes one command line and returns the exit status.
func run(args []string, std stdio) int {
	var c cli
	exit := -1
	parser, err := kong.New(&c,
		kong.Name("rollup"),
		kong.Description("Streaming rollups for metrics: reads Telegraf/Influx line protocol, aggregates each series into epoch-aligned windows at several resolutions, writes the rollups."),
		kong.UsageOnError(),
		kong.Writers(std.out, std.err),
		kong.Exit(func(code int) { exit = code }),
		cliOptions(),
	)
	if err != nil {
		fmt.Fprintf(std.err, "rollup: %v\n", err)
		return 2
	}
	ctx, err := parser.Parse(args)
	if exit >= 0 { // --help
		return exit
	}
	if err != nil {
		err = blameConfigKey(err, args)
		fmt.Fprintf(std.err, "rollup: %v\n", err)
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return 1 // the --config file cannot be read: an I/O error
		}
		return 2
	}
	if c.Config != "" {
		if err := checkConfigKeys(string(c.Config), ctx); err != nil {
			fmt.Fprintf(std.err, "rollup: %v\n", err)
			return 2
		}
	}
	var handler slog.Handler = slog.NewTextHandler(std.err, &slog.HandlerOptions{Level: c.LogLevel})
	if c.LogFormat == "json" {
		handler = slog.NewJSONHandler(std.err, &slog.HandlerOptions{Level: c.LogLevel})
	}
	log := slog.New(handler)
	if err := ctx.Run(log, std); err != nil {
		fmt.Fprintf(std.err, "rollup: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a flag value that does not make sense (found after kong
// parsed it: a bad archive, conflicting options): exit status 2, as for
// kong's own command-line errors. Other errors (I/O, the brokers) exit 1.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// formatVars fills the ${...} of the format flags from the format lists, so
// that --help, the enums and the decoders and encoders cannot disagree:
// X is the names for enum:, X_help "name: help; ..." for help:.
func formatVars() kong.Vars {
	var in, text, out, file [][2]string
	for _, f := range fastparse.InputFormats {
		in = append(in, [2]string{f.Name, f.Help})
		if !f.Records {
			text = append(text, [2]string{f.Name, f.Help})
		}
	}
	for _, f := range emit.OutputFormats {
		out = append(out, [2]string{f.Name, f.Help})
		if !f.KafkaOnly {
			file = append(file, [2]string{f.Name, f.Help})
		}
	}
	v := kong.Vars{"version": versionString()}
	for key, formats := range map[string][][2]string{"input_formats": in, "text_input_formats": text,
		"output_formats": out, "file_output_formats": file} {
		var names, help []string
		for _, f := range formats {
			names = append(names, f[0])
			help = append(help, f[0]+": "+f[1])
		}
		v[key], v[key+"_help"] = strings.Join(names, ","), strings.Join(help, "; ")
	}
	return v
}

// cliOptions are the kong options every parser of the command line takes:
// the format lists and the duration mapper.
func cliOptions() kong.Option {
	return kong.OptionFunc(func(k *kong.Kong) error {
		if err := formatVars().Apply(k); err != nil {
			return err
		}
		return kong.TypeMapper(reflect.TypeOf(time.Duration(0)), durationMapper()).Apply(k)
	})
}

// durationMapper reads a duration as time.ParseDuration does. Unlike
// kong's own it refuses a bare number from a configuration file
// ("lateness": 30 would be 30 ns): a duration needs its unit.
func durationMapper() kong.MapperFunc {
	return func(ctx *kong.DecodeContext, target reflect.Value) error {
		t, err := ctx.Scan.PopValue("duration")
		if err != nil {
			return err
		}
		var d time.Duration
		switch v := t.Value.(type) {
		case string:
			if d, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("expected a duration with its unit (e.g. 30s, 5m, 1h) but got %q", v)
			}
		case float64, int, int64:
			if reflect.ValueOf(v).Convert(reflect.TypeOf(float64(0))).Float() != 0 {
				return fmt.Errorf("expected a duration with its unit but got the number %v: write it as a string, e.g. \"%vs\"", v, v)
			}
		default:
			return fmt.Errorf("expected a duration but got %v", v)
		}
		target.Set(reflect.ValueOf(d))
		return nil
	}
}
