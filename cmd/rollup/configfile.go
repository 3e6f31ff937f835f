package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/alecthomas/kong"
)

// configFile is the --config flag: a JSON or TOML file (by its extension,
// .toml for TOML, anything else JSON) whose keys are flag names with _ for
// -, e.g. output_topic. Flags on the command line win over it, it over the
// ROLLUP_* variables.
type configFile string

// readConfig reads a configuration file into its keys and values. TOML
// errors name the line and column.
func readConfig(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err // a *fs.PathError: exit status 1
	}
	values := map[string]any{}
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		if _, err := toml.Decode(string(b), &values); err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("config file %s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
			}
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		return values, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&values); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(b, int(se.Offset))
			return nil, fmt.Errorf("config file %s:%d:%d: %v", path, line, col, err)
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return values, nil
}

// position turns a byte offset into a 1-based line and column.
func position(b []byte, off int) (line, col int) {
	off = min(max(off, 0), len(b))
	line = 1 + bytes.Count(b[:off], []byte("\n"))
	return line, off - bytes.LastIndexByte(b[:off], '\n')
}

// BeforeResolve loads the file and adds it as a resolver, as kong's own
// ConfigFlag does, with the loader its extension calls for. The values go
// through kong's JSON resolver in both cases, so that the key spellings
// and value conversions are the same.
func (c configFile) BeforeResolve(k *kong.Kong, ctx *kong.Context, trace *kong.Path) error {
	path := string(ctx.FlagValue(trace.Flag).(configFile))
	values, err := readConfig(path)
	if err != nil {
		return err
	}
	b, err := json.Marshal(values)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	r, err := kong.JSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	ctx.AddResolver(r)
	return nil
}

// checkConfigKeys reports the keys of the configuration file that name no
// flag of the command being run. The resolver ignores them, so a typo
// ("output_topc") would silently leave the default in place for as long as
// the service runs.
func checkConfigKeys(path string, ctx *kong.Context) error {
	keys, err := readConfig(path)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, f := range ctx.Flags() {
		for _, k := range configKeys(f.Name) {
			known[k] = true
		}
	}
	var unknown []string
	for k := range keys {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("config file %s: unknown keys %q for 'rollup %s' (keys are its flag names with _ for -, e.g. output_topic; see --help)",
		path, unknown, ctx.Command())
}

// printEffective writes every setting of the command being run: its value
// and where it came from (the command line, the --config file, an
// environment variable, or the default). Secrets are not shown.
func printEffective(w io.Writer, kctx *kong.Context) {
	var file map[string]any
	var filePath string
	for _, f := range kctx.Flags() {
		if f.Name == "config" {
			if v, ok := kctx.FlagValue(f).(configFile); ok && v != "" {
				filePath = string(v)
				file, _ = readConfig(filePath)
			}
		}
	}
	fmt.Fprintln(w, "effective settings:")
	for _, f := range kctx.Flags() {
		if f.Name == "help" || f.Name == "version" || f.Name == "config" {
			continue
		}
		source := "default"
		switch {
		case onCommandLine(kctx.Args, f.Name):
			source = "command line"
		case inConfig(file, f.Name):
			source = "config file " + filePath
		default:
			for _, env := range f.Envs {
				if _, ok := os.LookupEnv(env); ok {
					source = "environment " + env
					break
				}
			}
		}
		v := fmt.Sprint(kctx.FlagValue(f))
		if strings.Contains(f.Name, "password") || strings.Contains(f.Name, "auth-key") {
			if v != "" {
				v = "(set, not shown)"
			}
		}
		fmt.Fprintf(w, "  %s = %s (%s)\n", f.Name, v, source)
	}
}

func onCommandLine(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

func inConfig(file map[string]any, name string) bool {
	for _, k := range configKeys(name) {
		if _, ok := file[k]; ok {
			return true
		}
	}
	return false
}

// configKeys are the two spellings of a flag's key that kong's JSON
// resolver looks up: output_topic and outputTopic.
func configKeys(flag string) [2]string {
	parts := strings.Split(flag, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return [2]string{strings.ReplaceAll(flag, "-", "_"), strings.Join(parts, "")}
}

// blameConfigKey rewrites kong's "--flag: ..." error about a value that
// came from the configuration file to name the file's key instead: the
// operator wrote "lateness" in a file, not --lateness.
func blameConfigKey(err error, args []string) error {
	path := "" // not parsed yet when kong fails: look in the arguments
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			path = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			path = v
		}
	}
	msg := err.Error()
	if path == "" || !strings.HasPrefix(msg, "--") {
		return err
	}
	name, rest, ok := strings.Cut(msg[2:], ": ")
	if !ok || onCommandLine(args, name) {
		return err
	}
	file, ferr := readConfig(path)
	if ferr != nil || !inConfig(file, name) {
		return err
	}
	return fmt.Errorf("%s in %s: %s", strings.ReplaceAll(name, "-", "_"), path, rest)
}
