// Package benchmarks holds the pipeline benchmarks (parse + route +
// aggregate on Telegraf-shaped data from package gen) and, in RESULTS.md,
// the recorded numbers with the commands that produced them.
//
// Side-by-side numbers against peer libraries live in the nested module
// benchmarks/peer, so the service's own dependency graph stays lean.
package benchmarks
