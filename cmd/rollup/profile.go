package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfile is the --cpu-profile flag of the commands that do the work
// (aggregate, run): a CPU profile of the whole command, for go tool
// pprof. /debug/pprof/profile gives one of a running service for a
// while; this one covers a run from its start, such as a backlog drain.
type cpuProfile struct {
	CPUProfile string `name:"cpu-profile" help:"Write a CPU profile of the whole command to FILE, for go tool pprof." env:"ROLLUP_CPU_PROFILE" placeholder:"FILE"`
}

// start starts the profile if asked for; the returned stop writes it.
func (p cpuProfile) start() (stop func(), err error) {
	if p.CPUProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(p.CPUProfile)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
