// Package peers benchmarks rollup's engine side by side with the stream
// aggregation of two peers on the same bytes: VictoriaMetrics'
// lib/streamaggr (fed by its influx parser, as vmagent does) and
// Telegraf's basicstats aggregator (fed by its influx parser).
//
// It is a module of its own so that the service's dependency graph does
// not grow by the peers' (Telegraf alone pulls in hundreds of modules);
// the main module's go test ./... does not see it. Everything is in
// _test.go files: this package exports nothing. See README.md.
package peers
