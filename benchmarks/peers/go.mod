module github.com/rollupd/rollup/benchmarks/peers

go 1.26.6

require github.com/rollupd/rollup v0.0.0

require (
	github.com/VictoriaMetrics/VictoriaMetrics v1.151.0 // indirect
	github.com/influxdata/telegraf v1.37.2 // indirect
)

// The peer benchmarks live in their own module so that the service's
// dependency graph does not grow by the libraries we compare against.
replace github.com/rollupd/rollup => ../..
