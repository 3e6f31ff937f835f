# Every target works on a fresh machine with only Go installed.
GO        ?= go
BIN       ?= bin/rollup
FUZZTIME  ?= 30s
BENCHTIME ?= 20x
COUNT     ?= 1

.PHONY: all build demo sample test race vet fmt-check bench bench-peers bench-e2e fuzz clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/rollup

# demo: the service end to end on an in-process Kafka broker: real-time
# Telegraf-shaped traffic, 10s and 1m archives, a table per closed window.
demo: build
	$(BIN) demo

# sample: the main job on generated data. 20 hosts x 90 series, 10 minutes
# of 10s reports, three archives; prints the first rollups and the summary.
sample: build
	$(BIN) generate --hosts 20 --intervals 60 > sample.lp
	$(BIN) aggregate --archive 1m:sum,count,min,max,avg --archive 5m:sum,count,first,last --lateness 10s sample.lp \
		> sample.rollups.jsonl
	@head -n 5 sample.rollups.jsonl
	@echo "... $$(wc -l < sample.rollups.jsonl) rollups in sample.rollups.jsonl"

# test: unit, golden, randomized-reference, integration and differential
# tests of the main module and the peer module (benchmarks/peer).
test:
	$(GO) test -count=$(COUNT) -timeout 20m ./...
	cd benchmarks/peer && $(GO) test -count=$(COUNT) -timeout 20m ./...

race:
	$(GO) test -race -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...
	cd benchmarks/peer && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# bench: pipeline benchmarks (parse + aggregate, 100k and 1M series, 1 and
# 2 procs) and the parse-only comparison with line-protocol v2.
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(COUNT) -timeout 60m ./benchmarks/
	cd benchmarks/peer && $(GO) test -run '^$$' -bench . -count $(COUNT) -timeout 30m ./...

# bench-peers: rollup, VictoriaMetrics stream aggregation and Telegraf's
# basicstats on the same bytes, one core each, points per CPU-second. A
# module of its own (benchmarks/peers): CI never fetches the peers.
bench-peers:
	cd benchmarks/peers && $(GO) test -run '^$$' -bench Peers -benchtime 1x -count $(COUNT) -timeout 60m ./...

# bench-e2e: the service end to end on an embedded broker (see
# benchmarks/RESULTS.md): a backlog drain and a live run; the pipeline runs
# as a child process so its CPU and memory are its own.
E2E_ARCHIVES ?= 1m:sum,count,min,max,first,last;1h:sum,count,min,max,first,last;1d:sum,count,min,max,first,last
bench-e2e: build
	$(BIN) bench --series 100000 --rate 1000000 --duration 60s --e2e --e2e-backlog --e2e-archive '$(E2E_ARCHIVES)'
	$(BIN) bench --series 100000 --rate 1000000 --duration 3m --e2e --e2e-archive '$(E2E_ARCHIVES)'

# fuzz: every fuzz target for FUZZTIME each; findings land in the
# package's testdata/fuzz/ and become regression seeds once committed.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzInflux$$' -fuzztime $(FUZZTIME) ./fastparse/
	$(GO) test -run '^$$' -fuzz '^FuzzParseNumber$$' -fuzztime $(FUZZTIME) ./fastparse/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenTSDB$$' -fuzztime $(FUZZTIME) ./fastparse/
	$(GO) test -run '^$$' -fuzz '^FuzzCarbon$$' -fuzztime $(FUZZTIME) ./fastparse/
	$(GO) test -run '^$$' -fuzz '^FuzzAuto$$' -fuzztime $(FUZZTIME) ./fastparse/
	$(GO) test -run '^$$' -fuzz '^FuzzChunking$$' -fuzztime $(FUZZTIME) ./pipeline/
	$(GO) test -run '^$$' -fuzz '^FuzzJSONL$$' -fuzztime $(FUZZTIME) ./emit/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenTSDB$$' -fuzztime $(FUZZTIME) ./emit/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./ckpt/
	$(GO) test -run '^$$' -fuzz '^FuzzReadSeries$$' -fuzztime $(FUZZTIME) ./shard/
	$(GO) test -run '^$$' -fuzz '^FuzzReadWindow$$' -fuzztime $(FUZZTIME) ./window/
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime $(FUZZTIME) ./pipeline/
	cd benchmarks/peer && $(GO) test -run '^$$' -fuzz '^FuzzDifferential$$' -fuzztime $(FUZZTIME) .

clean:
	rm -rf bin sample.lp sample.rollups.jsonl
