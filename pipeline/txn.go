package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions commits the output of each checkpoint epoch in one Kafka
// transaction together with a marker record naming the epoch (DESIGN.md
// section 5). A checkpoint is used at restart only if its marker
// committed, so a read_committed reader of the output sees every rollup
// once through any crash.
//
// The marker topic has one partition and is compacted; markers are keyed
// by transactional id, so many services (each with its own id) share it.
type Transactions struct {
	cl     *kgo.Client // the output producer, created with kgo.TransactionalID(ID)
	id     string
	topic  string
	reader []kgo.Opt // to read the marker topic: seeds, TLS, SASL
}

// NewTransactions prepares transactions on producer, which must have been
// created with kgo.TransactionalID(id). readerOpts connect a reader of the
// marker topic to the same cluster.
func NewTransactions(producer *kgo.Client, id, markerTopic string, readerOpts []kgo.Opt) (*Transactions, error) {
	if id == "" || markerTopic == "" {
		return nil, errors.New("transactions: empty transactional id or marker topic")
	}
	return &Transactions{cl: producer, id: id, topic: markerTopic, reader: readerOpts}, nil
}

// marker is the value of a marker record.
type marker struct {
	Epoch uint64    `json:"epoch"`
	File  string    `json:"file,omitempty"`
	Time  time.Time `json:"time"`
	Init  bool      `json:"init,omitempty"`
}

// Init creates the marker topic if missing, fences any earlier producer
// with the same transactional id (which aborts its open transaction: the
// output of a crashed run's unfinished epoch), reads the newest committed
// marker of this id and begins the first transaction. It returns the
// committed epoch (0: none).
func (t *Transactions) Init(ctx context.Context) (uint64, error) {
	if err := t.ensureTopic(ctx); err != nil {
		return 0, err
	}
	if _, _, err := t.cl.ProducerID(ctx); err != nil {
		return 0, fmt.Errorf("cannot initialize the transactional producer %q: %w (does the broker support transactions? use --delivery at-least-once otherwise)", t.id, err)
	}
	// A committed record of our own marks the end: every marker this id
	// committed before lies below its offset. (Reading "to the end" of a
	// read_committed partition is otherwise ambiguous: control records
	// and other services' open transactions sit there.)
	if err := t.cl.BeginTransaction(); err != nil {
		return 0, err
	}
	end, err := t.produceMarker(ctx, marker{Time: time.Now().UTC(), Init: true}, "init/"+t.id)
	if err == nil {
		err = t.cl.Flush(ctx)
	}
	if err == nil {
		err = t.cl.EndTransaction(ctx, kgo.TryCommit)
	}
	if err != nil {
		t.abort(ctx)
		return 0, fmt.Errorf("cannot commit to the marker topic %q: %w", t.topic, err)
	}
	epoch, err := t.readCommitted(ctx, end)
	if err != nil {
		return 0, err
	}
	if err := t.cl.BeginTransaction(); err != nil {
		return 0, err
	}
	return epoch, nil
}

// ensureTopic creates the marker topic: one partition, compacted, the
// broker's default replication.
func (t *Transactions) ensureTopic(ctx context.Context) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = t.topic
	rt.NumPartitions = 1
	rt.ReplicationFactor = -1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "cleanup.policy", kmsg.StringPtr("compact")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return fmt.Errorf("cannot create the marker topic %q: %w", t.topic, err)
	}
	for _, r := range resp.Topics {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("cannot create the marker topic %q: %w (create it: one partition, cleanup.policy=compact)", t.topic, err)
		}
	}
	return nil
}

// produceMarker produces one marker record in the open transaction and
// returns its offset once acknowledged.
func (t *Transactions) produceMarker(ctx context.Context, m marker, key string) (int64, error) {
	v, _ := json.Marshal(m)
	r := &kgo.Record{Topic: t.topic, Partition: 0, Key: []byte(key), Value: v}
	res := t.cl.ProduceSync(ctx, r)
	if err := res.FirstErr(); err != nil {
		return 0, err
	}
	return r.Offset, nil
}

// readCommitted reads the marker topic with read_committed isolation up to
// offset end and returns the highest epoch committed for this id.
func (t *Transactions) readCommitted(ctx context.Context, end int64) (uint64, error) {
	cl, err := kgo.NewClient(append(t.reader,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var epoch uint64
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("cannot read the marker topic %q up to offset %d: %w", t.topic, end, err)
		}
		done := false
		fs.EachError(func(_ string, _ int32, e error) { err = e })
		if err != nil {
			return 0, fmt.Errorf("cannot read the marker topic %q: %w", t.topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end {
				done = true
			}
			if string(r.Key) != t.id {
				return
			}
			var m marker
			if json.Unmarshal(r.Value, &m) == nil && m.Epoch > epoch {
				epoch = m.Epoch
			}
		})
		if done {
			return epoch, nil
		}
	}
}

// Commit ends the open transaction with the marker of epoch (its
// checkpoint file already written) and begins the next. Every output
// record of the epoch must have been produced; Commit flushes them. An
// error means the transaction did not commit (it was aborted): the
// service must stop and restart from the last committed checkpoint.
func (t *Transactions) Commit(ctx context.Context, epoch uint64, file string) error {
	// Flush first: EndTransaction does not, and records still buffered
	// would silently roll into the next transaction.
	if err := t.cl.Flush(ctx); err != nil {
		t.abort(ctx)
		return fmt.Errorf("transaction of epoch %d: output not acknowledged: %w", epoch, err)
	}
	if _, err := t.produceMarker(ctx, marker{Epoch: epoch, File: file, Time: time.Now().UTC()}, t.id); err != nil {
		t.abort(ctx)
		return fmt.Errorf("transaction of epoch %d: cannot write its marker: %w", epoch, err)
	}
	if err := t.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.abort(ctx)
		return fmt.Errorf("transaction of epoch %d did not commit: %w", epoch, err)
	}
	return t.cl.BeginTransaction()
}

// Abort aborts the open transaction (what it produced is discarded).
func (t *Transactions) abort(ctx context.Context) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	t.cl.AbortBufferedRecords(actx)
	t.cl.EndTransaction(actx, kgo.TryAbort)
}
