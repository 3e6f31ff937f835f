module github.com/rollupd/rollup/benchmarks/peer

go 1.26.0

require (
	github.com/influxdata/line-protocol/v2 v2.2.1
	github.com/rollupd/rollup v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/tinylib/msgp v1.6.5 // indirect
	github.com/twmb/franz-go v1.22.2 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.0 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
)

// The peer benchmarks live in their own module so that the service's
// dependency graph does not grow by the libraries we compare against.
replace github.com/rollupd/rollup => ../..
