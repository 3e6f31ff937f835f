module github.com/rollupd/rollup/benchmarks/peer

go 1.26.0

require (
	github.com/influxdata/line-protocol/v2 v2.2.1
	github.com/rollupd/rollup v0.0.0
)

// The peer benchmarks live in their own module so that the service's
// dependency graph does not grow by the libraries we compare against.
replace github.com/rollupd/rollup => ../..
