// Package load produces Telegraf-shaped line protocol into Kafka at a
// controlled rate, with optional disorder, late and malformed lines: the
// producer side of `rollup bench`. The data is package gen's Telegraf model
// (11 lines, 90 numeric points per host and report); Config.Series is
// rounded up to whole hosts.
//
// # Topologies
//
// flat: what Telegraf's Kafka output writes (FORMATS.md 1.9). Host h's
// lines go to topic h % Topics, named TopicPrefix when Topics == 1 and
// TopicPrefix-<i> otherwise. The record key is the host tag value and the
// client must partition like sarama's default (FNV-1a 32 of the key,
// int32(h) % n, negated if negative; see ProducerOpts), so a host - hence
// each of its series - stays in one partition, in order.
//
// mapr: MapR collectd's layout, one topic per host and metric named
// <stream>:<fqdn>_<metric> with stream <Path>/<djb2(metric, N)>. Kafka topic
// names may not contain '/' or ':', so the topic here is
//
//	<StreamPrefix>-<djb2(measurement, Streams)>.<host>_<measurement>
//
// for example metrics-7.host-00003_cpu: the stream path becomes the prefix,
// the stream index (FORMATS.md 6, signed char) follows a '-', and ':'
// becomes '.'. A host reports 6 measurements (cpu, mem, disk, diskio, net,
// system), so there are 6 topics per host; consumers subscribe with the
// pattern TopicRegex returns (^metrics-[0-9]+\..+$). Keys are the host, as in
// the flat topology.
//
// # Event time
//
// Lines carry nanosecond timestamps that follow the wall clock, and event
// time never runs ahead of it: a report with timestamp t is not produced
// before the wall clock reaches t. One round (every host's report) advances
// event time by Config.Interval.
//
//   - With a Rate, the interval defaults to points-per-round / Rate, so
//     event time moves exactly as fast as the wall clock and Series and
//     Rate can be chosen independently (10k series at 1M points/s report
//     every 9 ms). Event time starts at the current interval boundary (at
//     most one interval behind the wall clock) and reports are paced to
//     Rate. If Interval is also set, the achieved rate is at most
//     points-per-round / Interval, and a Rate below that makes event time
//     fall behind the wall clock.
//   - Without a Rate (unlimited), the interval defaults to 10s and event
//     time starts at now - Duration (aligned to Interval): the backlog is
//     produced as fast as the broker takes it, then each round waits for
//     its time. The total is therefore about Series * 2 * Duration /
//     Interval points; use a short Interval for unlimited capacity runs.
//
// # Faults
//
// Injected faults are deterministic given Seed (and the rest of Config).
// Late lines get the timestamp of their report minus LateBy. Bad lines get
// one of four corruptions, each one rejected by fastparse.InfluxDecoder:
// truncated inside the series key, a field value removed, a malformed
// number, or binary garbage across the key/field separator. A disordered
// line is held back until d (drawn from 1..DisorderBound) lines of its
// partition that followed it have been produced (up to LinesPerRecord-1
// more when they come in one record), then produced as a record of its
// own; the record it would have joined is cut there.
//
// # What it must not do
//
// It does not create the client (the caller does, with ProducerOpts, so the
// end-to-end bench can share it) and Run does not create topics (EnsureTopics
// does, when the caller wants). It does not log; it reports through Stats.
//
// # Lifetimes
//
// Record values are pooled: a value is reused only after the client's
// promise for its record has fired. Stats values are snapshots; the
// ProduceErrors map of each is a fresh copy.
//
// Files: config.go (Config and its checks), topology.go (the report's
// shape, topic names and partitioning), generator.go (reports, lines,
// faults and pacing), stats.go (the totals), load.go (Run).
package load
