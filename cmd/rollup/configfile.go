package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// checkConfigKeys reports the keys of the JSON configuration file that
// name no flag of the command being run. kong's loader ignores them, so a
// typo ("output_topc") would silently leave the default in place for as
// long as the service runs.
func checkConfigKeys(path string, ctx *kong.Context) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read config file: %w", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, f := range ctx.Flags() {
		// The two spellings kong's JSON loader looks up.
		known[strings.ReplaceAll(f.Name, "-", "_")] = true
		parts := strings.Split(f.Name, "-")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		known[strings.Join(parts, "")] = true
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
