package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/rollupd/rollup/benchmarks/gen"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shape is the layout of one host's report, the same for every host.
type shape struct {
	meas     []string // distinct measurements, in report order
	lineMeas []int    // per line of a report: index in meas
	linePts  []int32  // per line: numeric fields (points)
	points   int      // per report
	bytes    int      // of host 0's first report, for benchmarks
}

// reportShape reads the shape off one generated report instead of
// hard-coding gen's measurement table.
var reportShape = sync.OnceValue(func() shape {
	var s shape
	buf := gen.NewTelegraf(gen.Config{Hosts: 1}).AppendHost(nil, 0)
	s.bytes = len(buf)
	for len(buf) > 0 {
		n := bytes.IndexByte(buf, '\n') + 1
		line := buf[:n-1]
		buf = buf[n:]
		m := string(line[:bytes.IndexAny(line, ", ")])
		if len(s.meas) == 0 || s.meas[len(s.meas)-1] != m {
			s.meas = append(s.meas, m)
		}
		s.lineMeas = append(s.lineMeas, len(s.meas)-1)
		fieldSet := line[bytes.IndexByte(line, ' ')+1 : bytes.LastIndexByte(line, ' ')]
		pts := int32(bytes.Count(fieldSet, []byte{','}) + 1)
		s.linePts = append(s.linePts, pts)
		s.points += int(pts)
	}
	return s
})

// hostName is the host tag value of host h, which is also its record key.
func hostName(h int) string {
	s := strconv.Itoa(h)
	for len(s) < 5 {
		s = "0" + s
	}
	return "host-" + s
}

// flatTopic is the name of flat topic i.
func flatTopic(c Config, i int) string {
	if c.Topics == 1 {
		return c.TopicPrefix
	}
	return c.TopicPrefix + "-" + strconv.Itoa(i)
}

// maprTopic is the MapR-style topic of one host and measurement.
func maprTopic(c Config, host, meas string) string {
	return c.StreamPrefix + "-" + strconv.Itoa(int(djb2Stream(meas, int32(c.Streams)))) + "." + host + "_" + meas
}

// Topics lists every topic cfg produces to: the flat topics in order, or
// for MapR each host's measurement topics, host by host.
func Topics(cfg Config) []string {
	cfg = cfg.withDefaults()
	var ts []string
	if cfg.Topology == MapR {
		for h := range cfg.Hosts() {
			for _, m := range reportShape().meas {
				ts = append(ts, maprTopic(cfg, hostName(h), m))
			}
		}
		return ts
	}
	for i := range cfg.Topics {
		ts = append(ts, flatTopic(cfg, i))
	}
	return ts
}

// TopicRegex is a consumer pattern matching the whole names of the topics
// of cfg (and, for MapR, of any host's): ^metrics-[0-9]+\..+$ for the
// default MapR prefix. It is anchored at both ends because `rollup run
// --topic-regex` requires the whole name to match.
func TopicRegex(cfg Config) string {
	cfg = cfg.withDefaults()
	if cfg.Topology == MapR {
		return `^` + regexp.QuoteMeta(cfg.StreamPrefix) + `-[0-9]+\..+$`
	}
	if cfg.Topics == 1 {
		return `^` + regexp.QuoteMeta(cfg.TopicPrefix) + `$`
	}
	return `^` + regexp.QuoteMeta(cfg.TopicPrefix) + `-[0-9]+$`
}

// createBatch is the most topics per CreateTopics request: brokers handle
// huge requests badly, and MapR runs have thousands of topics.
const createBatch = 500

// EnsureTopics creates the topics that do not exist yet, with
// cfg.Partitions partitions each and the broker's default replication.
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg Config, topics []string) error {
	cfg = cfg.withDefaults()
	for len(topics) > 0 {
		n := min(len(topics), createBatch)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		for _, t := range topics[:n] {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic = t
			rt.NumPartitions = int32(cfg.Partitions)
			rt.ReplicationFactor = -1
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("cannot create topics: %w (is the broker reachable?)", err)
		}
		for _, rt := range resp.Topics {
			if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("cannot create topic %q: %w", rt.Topic, err)
			}
		}
		topics = topics[n:]
	}
	return nil
}

// fnv32a is FNV-1a 32, sarama's default key hash; inline because
// hash/fnv's interface would allocate per record.
func fnv32a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// partitionOf is where sarama (and ProducerOpts' partitioner) puts key
// among n partitions.
func partitionOf(key []byte, n int) int {
	return kgo.SaramaCompatHasher(fnv32a)(key, n)
}

// telegrafPartitioner is a distinct type so Run can check that the client
// was built with ProducerOpts.
type telegrafPartitioner struct{ kgo.Partitioner }

// ProducerOpts are the client options Run needs: sarama's key partitioner,
// as Telegraf uses (FORMATS.md 1.9), and no compression (Telegraf's
// default). Later options override them, e.g. a compression codec.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RecordPartitioner(telegrafPartitioner{kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))}),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
}
