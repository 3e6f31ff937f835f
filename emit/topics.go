package emit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicSpec is an output topic as the archives want it.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Retention is the longest ttl of the archives going there (0: none
	// set, the broker's default applies).
	Retention time.Duration
}

// TopicReport says what EnsureTopics found or did for one topic.
type TopicReport struct {
	Name    string
	Created bool
	// ShortRetention is the topic's retention when it is shorter than
	// the spec's (an existing topic keeps rollups for less than their
	// archive's ttl); 0 otherwise.
	ShortRetention time.Duration
}

// EnsureTopics creates the topics of specs that do not exist (with
// retention.ms set to their Retention, and the broker's default
// replication) and reports, for the existing ones, a retention shorter
// than wanted. It never changes an existing topic.
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs []TopicSpec) ([]TopicReport, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	for _, s := range specs {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = s.Name
		rt.NumPartitions = max(s.Partitions, 1)
		rt.ReplicationFactor = -1
		if s.Retention > 0 {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = "retention.ms", kmsg.StringPtr(strconv.FormatInt(s.Retention.Milliseconds(), 10))
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("cannot create output topics: %w", err)
	}
	reports := make([]TopicReport, len(specs))
	var existing []int
	for i, s := range specs {
		reports[i].Name = s.Name
		for _, r := range resp.Topics {
			if r.Topic != s.Name {
				continue
			}
			switch err := kerr.ErrorForCode(r.ErrorCode); {
			case err == nil:
				reports[i].Created = true
			case errors.Is(err, kerr.TopicAlreadyExists):
				existing = append(existing, i)
			default:
				return reports, fmt.Errorf("cannot create output topic %q: %w", s.Name, err)
			}
		}
	}
	if len(existing) == 0 {
		return reports, nil
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	for _, i := range existing {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeTopic
		r.ResourceName = specs[i].Name
		r.ConfigNames = []string{"retention.ms"}
		dreq.Resources = append(dreq.Resources, r)
	}
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		return reports, fmt.Errorf("cannot read the retention of output topics: %w", err)
	}
	for _, r := range dresp.Resources {
		for _, i := range existing {
			if specs[i].Name != r.ResourceName || specs[i].Retention <= 0 {
				continue
			}
			for _, c := range r.Configs {
				if c.Name != "retention.ms" || c.Value == nil {
					continue
				}
				ms, err := strconv.ParseInt(*c.Value, 10, 64)
				if err == nil && ms >= 0 && time.Duration(ms)*time.Millisecond < specs[i].Retention {
					reports[i].ShortRetention = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	return reports, nil
}
