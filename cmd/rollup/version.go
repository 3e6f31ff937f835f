package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// buildInfo returns what the binary knows of its build: the module
// version ("devel" for a build from a working tree), the VCS revision
// (with "-dirty" for uncommitted changes; "unknown" without VCS stamping)
// and the Go version.
func buildInfo() (version, revision, goVersion string) {
	version, revision, goVersion = "devel", "unknown", runtime.Version()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && revision != "unknown" {
		revision += "-dirty"
	}
	return
}

// versionString is what --version prints.
func versionString() string {
	v, rev, gov := buildInfo()
	return fmt.Sprintf("rollup %s (revision %s, %s)", v, rev, gov)
}
