package realkafka

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Version is the Apache Kafka release the helper runs (Maven artifact
// org.apache.kafka:kafka_2.13). It runs on Java 17. Changing it changes the
// cache directory, so the next run resolves the new jars with Maven.
const Version = "4.4.0"

const (
	// requireEnv turns every skip into a failure; CI sets it.
	requireEnv = "ROLLUP_REQUIRE_JAVA"

	// fallbackJDK is used when the java found first is older than
	// minJava; CI machines carry it next to their default JDK.
	fallbackJDK = "/usr/lib/jvm/temurin-25-jdk-amd64"

	// minJava is what Kafka 4.x brokers require.
	minJava = 17

	// defaultReadyTimeout bounds each start, from launching the JVM to a
	// working transaction coordinator. A start takes 3 to 8 s on a
	// 2-core machine; the rest is slack for a loaded CI machine.
	defaultReadyTimeout = 120 * time.Second

	// mavenTimeout bounds the one-time Maven resolution, including the
	// wait for another test binary that holds the cache lock.
	mavenTimeout = 10 * time.Minute

	// formatTimeout bounds the storage tool, a JVM run of about 2 s.
	formatTimeout = 60 * time.Second

	// stopGrace is how long Stop waits after SIGTERM before SIGKILL. A
	// single-node controlled shutdown takes well under a second; a
	// forced kill would make Stop an unclean shutdown without saying so,
	// so the bound is generous and logged when hit.
	stopGrace = 10 * time.Second

	// dependencyPlugin is pinned because Maven's default binding differs
	// between Maven versions.
	dependencyPlugin = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath"

	// warmupTxnID is the transactional id the readiness check initializes
	// so that __transaction_state exists before the test runs.
	warmupTxnID = "realkafka-warmup"

	logTailLines = 60
)

// Main classes of kafka_2.13 4.x (bin/kafka-server-start.sh and
// bin/kafka-storage.sh run the same ones).
const (
	brokerMain  = "kafka.Kafka"
	storageMain = "kafka.tools.StorageTool"
)

// jvmFlags keep the JVM small and quick to start on a 2-core CI machine:
// SerialGC avoids GC threads competing with the test; C1 only
// (TieredStopAtLevel=1) keeps C2 compiler threads from taking both cores
// during start-up (the broker started in 2.1 s with it, 4.9 s without) at
// the cost of peak throughput that tests do not need; and no perf data file
// is written to /tmp.
var jvmFlags = []string{
	"-Xms64m",
	"-Xmx512m",
	"-XX:+UseSerialGC",
	"-XX:TieredStopAtLevel=1",
	"-XX:-UsePerfData",
	"-Djava.awt.headless=true",
}

// log4j2Properties sends everything to broker.log. The configuration dumps
// (AbstractConfig, hundreds of lines per component) are cut to warnings so
// that LogTail shows what happened rather than settings.
const log4j2Properties = `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = %s
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%%d] %%p %%m (%%c)%%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
`

// managedProperties are set by the helper from the ports and directory it
// picks; WithProperty refuses them because overriding any would make Addr
// or Restart lie.
var managedProperties = []string{
	"process.roles",
	"node.id",
	"controller.quorum.voters",
	"controller.quorum.bootstrap.servers",
	"controller.listener.names",
	"listeners",
	"advertised.listeners",
	"inter.broker.listener.name",
	"listener.security.protocol.map",
	"log.dirs",
	"log.dir",
	"metadata.log.dir",
}

// defaultProperties are the broker settings for a single node that tests
// drive: replication 1 everywhere (internal topics included, or they are
// never created), one partition for the internal topics so that creating
// them is quick, no topic auto-creation (tests create topics explicitly and
// a typo should fail), no initial rebalance delay, and few threads and
// small buffers for a 2-core machine.
var defaultProperties = map[string]string{
	"auto.create.topics.enable":                        "false",
	"num.partitions":                                   "1",
	"default.replication.factor":                       "1",
	"min.insync.replicas":                              "1",
	"offsets.topic.replication.factor":                 "1",
	"offsets.topic.num.partitions":                     "1",
	"transaction.state.log.replication.factor":         "1",
	"transaction.state.log.min.isr":                    "1",
	"transaction.state.log.num.partitions":             "1",
	"share.coordinator.state.topic.replication.factor": "1",
	"share.coordinator.state.topic.min.isr":            "1",
	"group.initial.rebalance.delay.ms":                 "0",
	// After Kill, the restarted broker cannot register until the
	// controller has expired the killed incarnation's session (the log
	// says DUPLICATE_BROKER_REGISTRATION): 9 s by default, 3 s here,
	// short enough for outage tests and long enough not to fence a live
	// broker that a loaded 2-core machine stalls for a moment.
	"broker.session.timeout.ms":         "3000",
	"broker.heartbeat.interval.ms":      "750",
	"log.segment.bytes":                 strconv.Itoa(16 << 20),
	"log.index.size.max.bytes":          strconv.Itoa(1 << 20),
	"log.cleaner.dedupe.buffer.size":    strconv.Itoa(4 << 20),
	"num.network.threads":               "2",
	"num.io.threads":                    "2",
	"background.threads":                "2",
	"num.recovery.threads.per.data.dir": "1",
	"num.replica.fetchers":              "1",
}

// Option configures Start.
type Option func(*options)

type options struct {
	props        map[string]string
	readyTimeout time.Duration
}

// WithProperty sets a broker property (server.properties key), overriding
// the helper's default, e.g. WithProperty("transaction.max.timeout.ms",
// "10000"). Properties naming listeners, ports, the node id or the log
// directory are managed by the helper and rejected by Start.
func WithProperty(key, value string) Option {
	return func(o *options) { o.props[key] = value }
}

// WithReadyTimeout bounds each start and restart, from launching the JVM
// until the broker answers metadata and transaction requests. Default 120 s.
// The one-time Maven download has its own bound of 10 minutes.
func WithReadyTimeout(d time.Duration) Option {
	return func(o *options) { o.readyTimeout = d }
}

// Broker is a running (or stopped) single-node Kafka broker owned by one
// test. Its methods are safe to call more than once and in any order.
type Broker struct {
	dir            string // server.properties, log4j2.properties, broker.log, broker.out, data/
	port           int
	controllerPort int
	java           string
	classpath      string
	props          map[string]string
	readyTimeout   time.Duration
	tb             testing.TB // the test passed to Start, for Logf

	mu   sync.Mutex
	proc *process // the last launched JVM; nil before the first launch
}

// process is one launched JVM. done is closed once Wait has returned, after
// err is set.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts a fresh broker with an empty data directory under t.TempDir
// and returns once it serves metadata and transaction requests. It skips or
// fails t (see the package doc) when Java or the Kafka jars are not
// available, and fails t when the broker is not ready within the ready
// timeout, quoting the end of the broker's log. The broker is killed when t
// finishes.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	o := options{props: map[string]string{}, readyTimeout: defaultReadyTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	for _, k := range managedProperties {
		if _, ok := o.props[k]; ok {
			t.Fatalf("realkafka: property %q is managed by the helper and cannot be set with WithProperty (it sets the listeners, ports and log directory)", k)
		}
	}

	java, classpath := prepare(t)

	b := &Broker{
		dir:          t.TempDir(),
		java:         java,
		classpath:    classpath,
		props:        maps.Clone(defaultProperties),
		readyTimeout: o.readyTimeout,
		tb:           t,
	}
	maps.Copy(b.props, o.props)
	// Registered after TempDir, so it runs before the directory is removed
	// (cleanups run last-registered first).
	t.Cleanup(b.Kill)

	// Free ports are picked by binding port 0 and closing it, so another
	// process can take one before the JVM binds it; then the broker exits
	// with a BindException and we try again with new ports and a fresh
	// data directory.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		started := time.Now()
		if err := b.configure(); err != nil {
			t.Fatalf("realkafka: %v", err)
		}
		if err := b.format(); err != nil {
			t.Fatalf("realkafka: %v", err)
		}
		formatted := time.Now()
		err := b.launchAndWait()
		if err == nil {
			t.Logf("realkafka: kafka %s ready at %s in %v (storage format %v, broker start %v); logs in %s",
				Version, b.Addr(), time.Since(started).Round(time.Millisecond),
				formatted.Sub(started).Round(time.Millisecond), time.Since(formatted).Round(time.Millisecond),
				b.logPath())
			return b
		}
		b.Kill()
		if errors.Is(err, errBind) && attempt < attempts {
			t.Logf("realkafka: %v; retrying with new ports", err)
			continue
		}
		t.Fatalf("realkafka: %v\n%s", err, b.failureContext())
	}
}

// Addr returns the broker's PLAINTEXT address, "127.0.0.1:PORT". It does not
// change across Restart.
func (b *Broker) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))
}

// Stop shuts the broker down cleanly: SIGTERM, then SIGKILL if it has not
// exited after 10 s, and waits for the process to exit. It does nothing if
// the broker is not running.
func (b *Broker) Stop() {
	p := b.running()
	if p == nil {
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		b.tb.Logf("realkafka: broker did not exit %v after SIGTERM; killing it", stopGrace)
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// Kill kills the broker's process group with SIGKILL, as a crash would, and
// waits for it to exit. Unlike a power loss it keeps what the broker wrote
// to the page cache, so it tests recovery from an unclean shutdown, not
// from lost writes. It does nothing if the broker is not running.
func (b *Broker) Kill() {
	p := b.running()
	if p == nil {
		return
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

// Restart starts the broker again on the same ports and data directory
// (stopping it first if it is running) and waits until it is ready, as
// Start does. Clients keep working after it, having seen an outage. It fails
// t if the broker is not ready within the ready timeout, for example when
// another process took one of its ports while it was down.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop()
	started := time.Now()
	deadline := started.Add(b.readyTimeout)
	for {
		err := b.launchAndWait()
		if err == nil {
			t.Logf("realkafka: kafka restarted at %s in %v", b.Addr(), time.Since(started).Round(time.Millisecond))
			return
		}
		b.Kill()
		// The old process's sockets are closed by the kernel when it
		// exits, so a bind error that lasts is another process on our
		// port; keep trying until the deadline in case it goes away.
		if errors.Is(err, errBind) && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		t.Fatalf("realkafka: restart: %v\n%s", err, b.failureContext())
	}
}

// LogTail returns the last n lines of the broker's log (broker.log, written
// by log4j at INFO level, configuration dumps excluded), for failure
// messages. It returns "" if there is no log yet.
func (b *Broker) LogTail(n int) string {
	return tailFile(b.logPath(), n)
}

func (b *Broker) logPath() string { return filepath.Join(b.dir, "broker.log") }
func (b *Broker) outPath() string { return filepath.Join(b.dir, "broker.out") }

// failureContext is the end of the broker's log and of its stdout/stderr,
// where the JVM reports what log4j does not (bad flags, out of memory).
func (b *Broker) failureContext() string {
	var s strings.Builder
	fmt.Fprintf(&s, "--- last %d lines of %s ---\n%s", logTailLines, b.logPath(), b.LogTail(logTailLines))
	if out := tailFile(b.outPath(), 20); out != "" {
		fmt.Fprintf(&s, "--- last 20 lines of %s ---\n%s", b.outPath(), out)
	}
	return s.String()
}

// running returns the live process, or nil.
func (b *Broker) running() *process {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return nil
	}
	select {
	case <-b.proc.done:
		return nil
	default:
		return b.proc
	}
}

// configure picks two free ports, clears the data directory and writes
// server.properties and log4j2.properties.
func (b *Broker) configure() error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	b.port, b.controllerPort = ports[0], ports[1]
	data := filepath.Join(b.dir, "data")
	if err := os.RemoveAll(data); err != nil {
		return fmt.Errorf("cannot clear data directory: %w", err)
	}
	// A log from a failed attempt would confuse the bind-error check and
	// the failure message.
	for _, p := range []string{b.logPath(), b.outPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}

	props := maps.Clone(b.props)
	ctrl := net.JoinHostPort("127.0.0.1", strconv.Itoa(b.controllerPort))
	// A static voter set (controller.quorum.voters) rather than
	// "format --standalone": the latter records the controller's endpoint
	// in the formatted log, which would tie the data directory to the
	// first attempt's ports.
	props["process.roles"] = "broker,controller"
	props["node.id"] = "1"
	props["controller.quorum.voters"] = "1@" + ctrl
	props["listeners"] = "PLAINTEXT://" + b.Addr() + ",CONTROLLER://" + ctrl
	props["advertised.listeners"] = "PLAINTEXT://" + b.Addr()
	props["controller.listener.names"] = "CONTROLLER"
	props["inter.broker.listener.name"] = "PLAINTEXT"
	props["listener.security.protocol.map"] = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	props["log.dirs"] = data

	var s strings.Builder
	s.WriteString("# Generated by github.com/rollupd/rollup/internal/realkafka.\n")
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&s, "%s=%s\n", k, escapeProperty(props[k]))
	}
	if err := os.WriteFile(filepath.Join(b.dir, "server.properties"), []byte(s.String()), 0o644); err != nil {
		return err
	}
	l4j := fmt.Sprintf(log4j2Properties, escapeProperty(b.logPath()))
	return os.WriteFile(filepath.Join(b.dir, "log4j2.properties"), []byte(l4j), 0o644)
}

// escapeProperty escapes what java.util.Properties would otherwise read as
// an escape or a line continuation.
func escapeProperty(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(v)
}

func (b *Broker) javaArgs(main string, args ...string) []string {
	a := slices.Clone(jvmFlags)
	a = append(a,
		"-Dlog4j2.configurationFile="+filepath.Join(b.dir, "log4j2.properties"),
		"-Dkafka.logs.dir="+b.dir,
		"-cp", b.classpath,
		main,
	)
	return append(a, args...)
}

// format runs the storage tool on the data directory with a new cluster id.
func (b *Broker) format() error {
	id, err := clusterID()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), formatTimeout)
	defer cancel()
	cmd := command(ctx, b.java, b.javaArgs(storageMain,
		"format", "--config", filepath.Join(b.dir, "server.properties"), "--cluster-id", id)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %v", ctx.Err(), formatTimeout)
		}
		return fmt.Errorf("cannot format kafka storage in %s (%s format): %w\n%s", b.dir, storageMain, err, out)
	}
	return nil
}

// clusterID returns a random Kafka Uuid in its string form (unpadded
// URL-safe base64 of 16 bytes). Kafka's own generator avoids a leading '-'
// because command-line parsers read it as a flag; so do we.
func clusterID() (string, error) {
	for {
		var u [16]byte
		if _, err := rand.Read(u[:]); err != nil {
			return "", err
		}
		if s := base64.RawURLEncoding.EncodeToString(u[:]); s[0] != '-' {
			return s, nil
		}
	}
}

// errBind is returned by launchAndWait when the broker exited because one
// of its ports was taken.
var errBind = errors.New("broker could not bind its port")

// launchAndWait starts the JVM and waits until the broker is ready, it
// exits, or the ready timeout passes.
func (b *Broker) launchAndWait() error {
	out, err := os.OpenFile(b.outPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy once started
	cmd := command(context.Background(), b.java, b.javaArgs(brokerMain, filepath.Join(b.dir, "server.properties"))...)
	cmd.Dir = b.dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", b.java, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), b.readyTimeout)
	defer cancel()
	err = b.waitReady(ctx, p)
	if err == nil {
		return nil
	}
	select {
	case <-p.done:
		if logs := tailFile(b.logPath(), 200) + tailFile(b.outPath(), 50); strings.Contains(logs, "Address already in use") {
			return fmt.Errorf("%w (127.0.0.1:%d or :%d in use): %v", errBind, b.port, b.controllerPort, p.err)
		}
		return fmt.Errorf("broker exited before it was ready (%v): %w", p.err, err)
	default:
	}
	return fmt.Errorf("broker not ready after %v (is the machine overloaded? WithReadyTimeout raises the bound): %w", b.readyTimeout, err)
}

// waitReady polls until the broker lists itself in a Metadata response, the
// group and transaction coordinators are available, and an InitProducerID
// for a transactional id succeeds. The last step matters for tests' own
// first transaction: __transaction_state is created on the first
// FindCoordinator for a transactional id, and until its partition is loaded
// InitProducerID fails with COORDINATOR_LOAD_IN_PROGRESS or
// NOT_COORDINATOR, which franz-go retries with backoff for seconds.
func (b *Broker) waitReady(ctx context.Context, p *process) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addr()),
		kgo.DialTimeout(time.Second),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	steps := []struct {
		name string
		fn   func(context.Context, *kgo.Client) error
	}{
		{"metadata", b.checkMetadata},
		{"group coordinator", func(ctx context.Context, cl *kgo.Client) error { return checkCoordinator(ctx, cl, 0) }},
		{"transaction coordinator", func(ctx context.Context, cl *kgo.Client) error { return checkCoordinator(ctx, cl, 1) }},
		{"InitProducerID", checkInitProducerID},
	}
	for _, step := range steps {
		var last error
		for {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			last = step.fn(rctx, cl)
			cancel()
			if last == nil {
				break
			}
			select {
			case <-p.done:
				return fmt.Errorf("%s: %w", step.name, last)
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", step.name, last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func (b *Broker) checkMetadata(ctx context.Context, cl *kgo.Client) error {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none; nil would mean all
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, br := range resp.Brokers {
		if br.NodeID == 1 && br.Host == "127.0.0.1" && int(br.Port) == b.port {
			return nil
		}
	}
	return fmt.Errorf("broker 1 at %s not yet in metadata (brokers: %d)", b.Addr(), len(resp.Brokers))
}

// checkCoordinator asks for the group (typ 0) or transaction (typ 1)
// coordinator, which makes the broker create __consumer_offsets or
// __transaction_state.
func checkCoordinator(ctx context.Context, cl *kgo.Client, typ int8) error {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = typ
	req.CoordinatorKey = warmupTxnID
	req.CoordinatorKeys = []string{warmupTxnID}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	code := resp.ErrorCode
	if len(resp.Coordinators) > 0 {
		code = resp.Coordinators[0].ErrorCode
	}
	return kerr.ErrorForCode(code)
}

func checkInitProducerID(ctx context.Context, cl *kgo.Client) error {
	req := kmsg.NewPtrInitProducerIDRequest()
	id := warmupTxnID
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 10_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// signal sends sig to the process group, which is the JVM alone today but
// would include anything it forks.
func (p *process) signal(sig syscall.Signal) {
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Signal(sig)
	}
}

// command is exec.CommandContext with the child in its own process group,
// the whole group killed on ctx cancel, and a parent-death signal.
//
// Pdeathsig fires when the OS thread that forked the child exits, not the
// process; Go only ends threads when a goroutine exits while locked to one
// (runtime.LockOSThread), which neither the testing package nor this
// helper does, so in practice it fires when the test binary dies, e.g. on
// "go test -timeout", where Cleanup does not run.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago. The listeners are held until all n are picked so that the kernel
// does not hand out the same port twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot pick a free port on 127.0.0.1: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tailFile returns the last n lines of the file at path, or "" if it cannot
// be read.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	i := len(data)
	for range n {
		j := bytes.LastIndexByte(data[:i], '\n')
		if j < 0 {
			i = 0
			break
		}
		i = j
	}
	return strings.TrimLeft(string(data[i:]), "\n") + "\n"
}

// CreateTopic creates topic with the given partitions through cl (any
// client of the broker) and returns once every partition has a leader:
// CreateTopics answers when the controller has committed the topic, and a
// produce before the leader is elected stalls for franz-go's metadata
// minimum age (up to 5 s).
func CreateTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = partitions
	rt.ReplicationFactor = 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10_000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topic %q: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %q: %v", topic, err)
	}
	for {
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		mreq.Topics = append(mreq.Topics, mt)
		mresp, err := mreq.RequestWith(ctx, cl)
		if err == nil && len(mresp.Topics) == 1 && mresp.Topics[0].ErrorCode == 0 &&
			len(mresp.Topics[0].Partitions) == int(partitions) && !slices.ContainsFunc(mresp.Topics[0].Partitions,
			func(p kmsg.MetadataResponseTopicPartition) bool { return p.Leader < 0 || p.ErrorCode != 0 }) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %q has no leader for every partition within 30 s (last error %v)", topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
