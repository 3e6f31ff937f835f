package realkafka_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rollupd/rollup/internal/realkafka"
)

// The broker of TestTransactions caps transaction timeouts at 90 s: the
// crashing child's 60 s timeout fits (so its transaction can only end by
// fencing, not by the broker's own timeout within the test), a 120 s one
// does not, which proves WithProperty reaches the broker.
const (
	maxTxnTimeout   = 90 * time.Second
	childTxnTimeout = 60 * time.Second
)

// TestTransactions checks, on one broker, the transaction behaviour the
// exactly-once output relies on. The subtests share the broker to save its
// start (about 3 s) and use one topic and transactional id each.
func TestTransactions(t *testing.T) {
	t.Parallel()
	b := realkafka.Start(t, realkafka.WithProperty("transaction.max.timeout.ms", fmt.Sprint(maxTxnTimeout.Milliseconds())))
	admin := newClient(t, b.Addr())

	t.Run("commit_and_abort", func(t *testing.T) {
		const topic = "commit-abort"
		createTopic(t, admin, topic)
		p := newClient(t, b.Addr(), kgo.TransactionalID("commit-abort"))
		if err := produceTxn(t, p, topic, kgo.TryCommit, "c1", "c2"); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if err := produceTxn(t, p, topic, kgo.TryAbort, "a1", "a2"); err != nil {
			t.Fatalf("abort: %v", err)
		}
		if err := produceTxn(t, p, topic, kgo.TryCommit, "c3"); err != nil {
			t.Fatalf("second commit: %v", err)
		}
		// The aborted records are in the log (a read_uncommitted
		// consumer sees them), so it is the isolation level that hides
		// them, not a produce that silently did nothing.
		expectValues(t, b.Addr(), topic, kgo.ReadUncommitted(), "c3", "c1", "c2", "a1", "a2", "c3")
		expectValues(t, b.Addr(), topic, kgo.ReadCommitted(), "c3", "c1", "c2", "c3")
	})

	t.Run("fencing", func(t *testing.T) {
		const topic, txnID = "fencing", "fencing"
		createTopic(t, admin, topic)
		first := newClient(t, b.Addr(), kgo.TransactionalID(txnID))
		if err := first.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produceFlush(t, first, topic, "from-first")

		// A second producer with the same id initializes, which bumps
		// the epoch: the first is fenced and its open transaction
		// aborted.
		second := newClient(t, b.Addr(), kgo.TransactionalID(txnID))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, _, err := second.ProducerID(ctx); err != nil {
			t.Fatalf("second producer InitProducerID: %v", err)
		}
		err := first.EndTransaction(ctx, kgo.TryCommit)
		if err == nil {
			t.Fatal("the fenced producer committed")
		}
		if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
			t.Errorf("fenced producer's commit failed with %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
		}
		t.Logf("fenced producer's commit: %v", err)

		if err := produceTxn(t, second, topic, kgo.TryCommit, "from-second"); err != nil {
			t.Fatalf("second producer commit: %v", err)
		}
		expectValues(t, b.Addr(), topic, kgo.ReadUncommitted(), "from-second", "from-first", "from-second")
		expectValues(t, b.Addr(), topic, kgo.ReadCommitted(), "from-second", "from-second")
	})

	t.Run("killed_producer", func(t *testing.T) {
		const topic, txnID = "killed", "killed"
		createTopic(t, admin, topic)
		runCrashingProducer(t, b.Addr(), topic, txnID)

		// The dead producer's transaction is open: its record is below
		// the high watermark but holds the last stable offset at 0.
		if hwm, lso := listEnd(t, admin, topic, 0), listEnd(t, admin, topic, 1); hwm != 1 || lso != 0 {
			t.Fatalf("after the crash: high watermark %d, last stable offset %d; want 1 and 0 (an open transaction)", hwm, lso)
		}

		// A new producer with the same id aborts it on InitProducerID,
		// well before the 60 s transaction timeout.
		next := newClient(t, b.Addr(), kgo.TransactionalID(txnID))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		if _, _, err := next.ProducerID(ctx); err != nil {
			t.Fatalf("InitProducerID after the crash: %v", err)
		}
		t.Logf("InitProducerID over the dead producer's open transaction took %v", time.Since(start).Round(time.Millisecond))
		// Record at 0, abort marker at 1.
		if lso := listEnd(t, admin, topic, 1); lso != 2 {
			t.Fatalf("last stable offset after InitProducerID is %d, want 2 (the open transaction aborted)", lso)
		}

		if err := produceTxn(t, next, topic, kgo.TryCommit, "alive"); err != nil {
			t.Fatalf("commit after the crash: %v", err)
		}
		expectValues(t, b.Addr(), topic, kgo.ReadCommitted(), "alive", "alive")
	})

	t.Run("property_override", func(t *testing.T) {
		// Past transaction.max.timeout.ms the broker refuses the id.
		p := newClient(t, b.Addr(), kgo.TransactionalID("too-long"), kgo.TransactionTimeout(maxTxnTimeout+30*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, _, err := p.ProducerID(ctx); !errors.Is(err, kerr.InvalidTransactionTimeout) {
			t.Fatalf("InitProducerID with a timeout above transaction.max.timeout.ms: %v, want INVALID_TRANSACTION_TIMEOUT", err)
		}
	})
}

// TestRestart checks that records survive a clean stop and a kill, that
// the address stays the same, and that a client created before the outage
// keeps working after it.
func TestRestart(t *testing.T) {
	t.Parallel()
	b := realkafka.Start(t)
	addr := b.Addr()
	const topic = "durable"
	admin := newClient(t, addr)
	createTopic(t, admin, topic)

	p := newClient(t, addr, kgo.TransactionalID("durable"))
	if err := produceTxn(t, p, topic, kgo.TryCommit, "r1", "r2"); err != nil {
		t.Fatal(err)
	}

	b.Stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s accepts connections after Stop", addr)
	}
	b.Restart(t)
	if b.Addr() != addr {
		t.Fatalf("address changed across Restart: %s, then %s", addr, b.Addr())
	}
	expectValues(t, addr, topic, kgo.ReadCommitted(), "r2", "r1", "r2")

	b.Kill()
	b.Restart(t)
	// The producer's transaction coordinator state (its id and epoch)
	// survived the kill too: the same client commits again.
	if err := produceTxn(t, p, topic, kgo.TryCommit, "r3"); err != nil {
		t.Fatalf("commit after kill and restart: %v", err)
	}
	expectValues(t, addr, topic, kgo.ReadCommitted(), "r3", "r1", "r2", "r3")
	if tail := b.LogTail(5); strings.Count(tail, "\n") != 5 {
		t.Errorf("LogTail(5) returned %d lines:\n%s", strings.Count(tail, "\n"), tail)
	}
}

// TestUnavailable checks that a machine without Java skips by default and
// fails when ROLLUP_REQUIRE_JAVA=1, with a message naming what is missing.
func TestUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, c := range []struct{ javaHome, want string }{
		{"", "java not found on PATH"},
		{"/nonexistent", "JAVA_HOME=/nonexistent has no bin/java"},
	} {
		t.Setenv("JAVA_HOME", c.javaHome)
		for _, require := range []string{"", "1"} {
			t.Setenv("ROLLUP_REQUIRE_JAVA", require)
			r := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				realkafka.Start(r)
			}()
			<-done
			msg, other := r.skipped, r.failed
			if require == "1" {
				msg, other = r.failed, r.skipped
			}
			if !strings.Contains(msg, c.want) || other != "" {
				t.Errorf("JAVA_HOME=%q ROLLUP_REQUIRE_JAVA=%q: skipped %q, failed %q; want a message with %q",
					c.javaHome, require, r.skipped, r.failed, c.want)
			}
		}
	}
}

// recordingTB records Skipf and Fatalf and ends the goroutine as the real
// ones do; everything else goes to the real test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// Environment of the crashing child process (see runCrashingProducer).
const (
	envChildAddr  = "REALKAFKA_CHILD_ADDR"
	envChildTopic = "REALKAFKA_CHILD_TOPIC"
	envChildTxnID = "REALKAFKA_CHILD_TXN_ID"
)

// TestCrashingProducerChild is not a test: runCrashingProducer runs the
// test binary with only this function selected, as a producer that opens a
// transaction, produces one record, says so and waits to be killed.
func TestCrashingProducerChild(t *testing.T) {
	addr := os.Getenv(envChildAddr)
	if addr == "" {
		return // not a child; a skip here would read as a missing broker
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.TransactionalID(os.Getenv(envChildTxnID)),
		kgo.TransactionTimeout(childTxnTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceFlush(t, cl, os.Getenv(envChildTopic), "from-the-dead")
	fmt.Println("flushed")
	time.Sleep(time.Minute)
	t.Fatal("not killed within a minute")
}

// runCrashingProducer runs TestCrashingProducerChild in a child process and
// kills it with SIGKILL once its record is flushed inside an open
// transaction: a crash, with no EndTxn and no client shutdown.
func runCrashingProducer(t *testing.T, addr, topic, txnID string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashingProducerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildAddr+"="+addr, envChildTopic+"="+topic, envChildTxnID+"="+txnID)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	flushed := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		var lines []string
		for s.Scan() {
			if s.Text() == "flushed" {
				flushed <- true
				return
			}
			lines = append(lines, s.Text())
		}
		t.Logf("child output:\n%s", strings.Join(lines, "\n"))
		flushed <- false
	}()
	select {
	case ok := <-flushed:
		if !ok {
			t.Fatal("the crashing producer exited before flushing its record")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the crashing producer did not flush its record within 30 s")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	realkafka.CreateTopic(t, cl, topic, 1)
}

// produceFlush produces values into the open transaction and flushes them.
// EndTransaction does not flush: records still buffered when it is called
// are not part of the commit.
func produceFlush(t testing.TB, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(values))
	for _, v := range values {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(_ *kgo.Record, err error) { errs <- err })
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for range values {
		if err := <-errs; err != nil {
			t.Fatalf("produce to %q: %v", topic, err)
		}
	}
}

// produceTxn runs one transaction of values and ends it with commit.
func produceTxn(t testing.TB, cl *kgo.Client, topic string, commit kgo.TransactionEndTry, values ...string) error {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	produceFlush(t, cl, topic, values...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.EndTransaction(ctx, commit)
}

// expectValues reads topic from the start with the isolation level until
// it sees the value last, and compares everything read with want.
func expectValues(t testing.TB, addr, topic string, iso kgo.IsolationLevel, last string, want ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for !slices.Contains(got, last) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %q: got %q within 30 s, still waiting for %q", topic, got, last)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("read %q: partition %d: %v", topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read %q: got %q, want %q", topic, got, want)
	}
}

// listEnd returns the end offset of partition 0 of topic: the high
// watermark for isolation 0 (read_uncommitted), the last stable offset for
// 1 (read_committed).
func listEnd(t testing.TB, cl *kgo.Client, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = 0
	rp.Timestamp = -1 // latest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("list offsets of %q: %v", topic, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets of %q: unexpected response %+v", topic, resp)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("list offsets of %q: %v", topic, err)
	}
	return p.Offset
}
