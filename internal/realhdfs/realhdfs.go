package realhdfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HadoopVersion is the version of hadoop-client-minicluster the cluster
// runs. It needs Java 17 or newer (its classes are version 61).
const HadoopVersion = "3.5.0"

// RequireEnv names the environment variable that turns a missing Java
// toolchain or an unresolvable artifact from a skip into a failure; CI sets
// it to 1 so that the HDFS tests cannot silently stop running.
const RequireEnv = "ROLLUP_REQUIRE_JAVA"

// Time bounds. The start bound is generous because `go test ./...` starts
// a cluster per package at once on a 2-core machine, each JVM competing with
// the compiler for the cores.
const (
	mavenTimeout   = 10 * time.Minute
	lockTimeout    = mavenTimeout + time.Minute
	startTimeout   = 3 * time.Minute
	commandTimeout = 3 * time.Minute
	quitTimeout    = 30 * time.Second
)

//go:embed MiniHDFS.java
var launcherSource []byte

// pom resolves the minicluster. slf4j-simple gives Hadoop's slf4j logging
// somewhere to go (the shaded jars bring no binding, so without it every
// log line is dropped); it writes to stderr, which Start sends to a file.
// The dependency plugin is pinned so that no "latest" lookup hits the
// network once ~/.m2 is warm.
const pom = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rollup.test</groupId>
  <artifactId>realhdfs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.hadoop</groupId>
      <artifactId>hadoop-client-minicluster</artifactId>
      <version>` + HadoopVersion + `</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.8.1</version>
      </plugin>
    </plugins>
  </build>
</project>
`

// Cluster is a running MiniDFSCluster. Its methods are for the test
// goroutine (and its subtests); commands are serialized.
type Cluster struct {
	port    int
	logPath string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string   // the launcher's stdout, closed at EOF
	exited  chan struct{} // closed once the JVM has been waited for
	waitErr error         // valid after exited is closed

	mu      sync.Mutex // serializes commands and the shutdown
	stopped bool
}

// Start starts a cluster and registers its shutdown with t.Cleanup. It
// skips the test when Java or Maven is unavailable (see the package doc)
// and fails it when the cluster does not come up within a few minutes,
// printing the tail of Hadoop's log.
//
// Each conf entry, "key=value", sets a Hadoop configuration property over
// the launcher's defaults (1 MiB blocks, replication 1, permissions off;
// see MiniHDFS.java).
func Start(t testing.TB, conf ...string) *Cluster {
	t.Helper()
	tc, err := prepare()
	if err != nil {
		var u *unavailableError
		if errors.As(err, &u) {
			skipOrFatal(t, u.Error())
		}
		t.Fatalf("realhdfs: %v", err)
	}
	prepareMu.Lock()
	if !tc.logged {
		tc.logged = true
		for _, s := range tc.setup {
			t.Logf("realhdfs: %s", s)
		}
	}
	prepareMu.Unlock()

	for _, kv := range conf {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			t.Fatalf("realhdfs: configuration %q is not key=value", kv)
		}
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "hadoop.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("realhdfs: cannot create the log file: %v", err)
	}
	defer logf.Close() // the JVM has its own descriptor
	jtmp := filepath.Join(dir, "java-tmp")
	if err := os.Mkdir(jtmp, 0o755); err != nil {
		t.Fatalf("realhdfs: %v", err)
	}
	args := []string{
		// Small and quick to start: the tests move megabytes, not
		// gigabytes, and CI has 2 cores for several clusters.
		"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-XX:-UsePerfData", "-Xshare:auto",
		// localhost must mean 127.0.0.1 for the Go client, never ::1.
		"-Djava.net.preferIPv4Stack=true",
		"-Djava.io.tmpdir=" + jtmp,
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-cp", tc.classpath,
		"MiniHDFS", filepath.Join(dir, "hdfs"),
	}
	args = append(args, conf...)
	cmd := exec.Command(tc.java, args...)
	cmd.Dir = dir
	cmd.Stderr = logf
	// Its own process group, so that a JVM that ignores quit is killed
	// together with whatever it spawned (Hadoop runs du and df).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("realhdfs: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("realhdfs: %v", err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("realhdfs: cannot start %s: %v", tc.java, err)
	}
	c := &Cluster{
		logPath: logPath,
		cmd:     cmd,
		stdin:   stdin,
		lines:   make(chan string, 16),
		exited:  make(chan struct{}),
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		// Wait closes stdout, so it comes after the last read.
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	// Registered after t.TempDir, so it runs before the directory is
	// removed: the JVM is gone before its files are.
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("realhdfs: %v", err)
		}
		if t.Failed() {
			t.Logf("realhdfs: tail of %s:\n%s", logPath, c.LogTail(40))
			// The whole log outlives the test directory, for a failure
			// that the tail does not explain.
			if kept, err := keepLog(logPath, t.Name()); err == nil {
				t.Logf("realhdfs: whole log kept in %s", kept)
			}
		}
	})

	line, err := c.next(startTimeout)
	if err != nil {
		t.Fatalf("realhdfs: cluster did not start: %v; tail of %s:\n%s", err, logPath, c.LogTail(40))
	}
	port, ok := strings.CutPrefix(line, "READY ")
	if ok {
		c.port, err = strconv.Atoi(port)
	}
	if !ok || err != nil || c.port <= 0 {
		t.Fatalf("realhdfs: cluster did not start: launcher said %q; tail of %s:\n%s", line, logPath, c.LogTail(40))
	}
	t.Logf("realhdfs: HDFS %s namenode at %s, started in %v (log: %s)", HadoopVersion, c.Addr(), time.Since(began).Round(time.Millisecond), logPath)
	return c
}

// Addr returns the namenode's RPC address, "127.0.0.1:PORT". It stays the
// same across StopNameNode and StartNameNode.
func (c *Cluster) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
}

// StopNameNode shuts the namenode down; the datanode keeps running, so
// block writes already under way go on until they need the namenode.
func (c *Cluster) StopNameNode(t testing.TB) {
	t.Helper()
	c.command(t, "stop-namenode")
}

// StartNameNode starts the namenode again on the same port and returns once
// the datanode has reported its blocks and the namenode has left safe mode,
// so that writes and deletes succeed at once.
func (c *Cluster) StartNameNode(t testing.TB) {
	t.Helper()
	c.command(t, "start-namenode")
}

// keepLog copies the log of a failed test to the system's temporary
// directory and returns the copy's name.
func keepLog(logPath, testName string) (string, error) {
	src, err := os.Open(logPath)
	if err != nil {
		return "", err
	}
	defer src.Close()
	pattern := "realhdfs-" + strings.NewReplacer("/", "_", " ", "_").Replace(testName) + "-*.log"
	dst, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	return dst.Name(), dst.Close()
}

// LogTail returns the last n lines of Hadoop's log.
func (c *Cluster) LogTail(n int) string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	defer f.Close()
	// Java stack traces make long lines: read enough of the end for n of
	// them, not the whole log.
	const maxTail = 1 << 20
	size, _ := f.Seek(0, io.SeekEnd)
	off := max(0, size-maxTail)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *Cluster) command(t testing.TB, cmd string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		t.Fatalf("realhdfs: %s: the cluster is shut down", cmd)
	}
	began := time.Now()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		t.Fatalf("realhdfs: %s: cannot write to the launcher: %v; tail of %s:\n%s", cmd, err, c.logPath, c.LogTail(40))
	}
	line, err := c.next(commandTimeout)
	if err == nil && line != "OK "+cmd {
		err = fmt.Errorf("launcher answered %q", line)
	}
	if err != nil {
		t.Fatalf("realhdfs: %s: %v; tail of %s:\n%s", cmd, err, c.logPath, c.LogTail(40))
	}
	t.Logf("realhdfs: %s took %v", cmd, time.Since(began).Round(time.Millisecond))
}

// next returns the launcher's next stdout line.
func (c *Cluster) next(timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			<-c.exited
			return "", fmt.Errorf("the JVM exited (%v)", c.waitErr)
		}
		return line, nil
	case <-timer.C:
		return "", fmt.Errorf("no answer from the launcher within %v", timeout)
	}
}

// stop asks the launcher to shut the cluster down and waits for the JVM,
// killing its process group if it has not exited within quitTimeout.
func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	io.WriteString(c.stdin, "quit\n")
	c.stdin.Close()
	// Drain stdout so that the reader never blocks on a full channel.
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.exited:
		return nil
	case <-time.After(quitTimeout):
	}
	// The JVM has not been waited for (exited is open), so its pid, and
	// with it the group id, cannot have been reused.
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.exited:
		return fmt.Errorf("the JVM did not exit within %v of quit and was killed", quitTimeout)
	case <-time.After(quitTimeout):
		return fmt.Errorf("the JVM (pid %d) did not exit even after SIGKILL", c.cmd.Process.Pid)
	}
}

// unavailableError says the toolchain or the artifact is missing: the test
// is skipped, not failed, unless RequireEnv is set.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

func unavailable(format string, args ...any) error {
	return &unavailableError{msg: fmt.Sprintf(format, args...)}
}

func skipOrFatal(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("realhdfs: %s (%s=1 makes this a failure instead of a skip)", msg, RequireEnv)
	}
	t.Skipf("realhdfs: %s (set %s=1 to fail instead of skipping)", msg, RequireEnv)
}

// toolchain is what starting a cluster needs, prepared once per process.
type toolchain struct {
	java      string
	classpath string // the launcher's class directory, then the jars
	// setup says what preparing took when it did more than read the
	// cache (Maven, javac), for the first test to log.
	setup  []string
	logged bool
}

var (
	prepareMu  sync.Mutex
	prepared   *toolchain
	prepareErr error
)

func prepare() (*toolchain, error) {
	prepareMu.Lock()
	defer prepareMu.Unlock()
	if prepared == nil && prepareErr == nil {
		prepared, prepareErr = prepareUncached()
	}
	return prepared, prepareErr
}

func prepareUncached() (*toolchain, error) {
	java, javac, err := findJDK()
	if err != nil {
		return nil, err
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return nil, unavailable("mvn is not installed (apt-get install maven); it fetches hadoop-client-minicluster %s", HadoopVersion)
	}
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		cacheRoot = os.TempDir()
	}
	dir := filepath.Join(cacheRoot, "rollup-test", "hdfs-"+HadoopVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the cache directory: %w", err)
	}
	// The lock realkafka takes too: Maven 3 does not lock its local
	// repository, and two runs downloading a shared dependency at once
	// can corrupt it.
	unlock, err := lockFile(filepath.Join(cacheRoot, "rollup-test", "maven.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	tc := &toolchain{java: java}
	began := time.Now()
	jars, ran, err := resolveClasspath(mvn, dir)
	if err != nil {
		return nil, err
	}
	if ran {
		tc.setup = append(tc.setup, fmt.Sprintf("maven resolved the classpath in %v", time.Since(began).Round(time.Millisecond)))
	}
	began = time.Now()
	classes, ran, err := compileLauncher(javac, dir, jars)
	if err != nil {
		return nil, err
	}
	if ran {
		tc.setup = append(tc.setup, fmt.Sprintf("javac compiled the launcher in %v", time.Since(began).Round(time.Millisecond)))
	}
	tc.classpath = classes + string(os.PathListSeparator) + jars
	return tc, nil
}

// findJDK returns java and javac of one JDK: JAVA_HOME's if set, else the
// JDK of the javac on PATH, so that the launcher never runs on an older
// JVM than it was compiled for.
func findJDK() (java, javac string, err error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java, javac = filepath.Join(home, "bin", "java"), filepath.Join(home, "bin", "javac")
		for _, p := range []string{java, javac} {
			if _, err := exec.LookPath(p); err != nil {
				return "", "", unavailable("JAVA_HOME=%s has no executable %s (a JRE, not a JDK?); point it at a JDK 17 or newer", home, filepath.Base(p))
			}
		}
	} else {
		javac, err = exec.LookPath("javac")
		if err != nil {
			return "", "", unavailable("javac is not installed (apt-get install openjdk-17-jdk-headless, or set JAVA_HOME); hadoop %s needs a JDK 17 or newer", HadoopVersion)
		}
		java = "java"
		if real, err := filepath.EvalSymlinks(javac); err == nil {
			java = filepath.Join(filepath.Dir(real), "java")
		}
		if _, err := exec.LookPath(java); err != nil {
			if java, err = exec.LookPath("java"); err != nil {
				return "", "", unavailable("java is not installed (or set JAVA_HOME)")
			}
		}
	}
	out, err := exec.Command(javac, "-version").CombinedOutput()
	if err != nil {
		return "", "", unavailable("%s -version failed: %v: %s", javac, err, bytes.TrimSpace(out))
	}
	major, ok := javaMajor(string(out))
	if !ok {
		return "", "", fmt.Errorf("cannot tell the version of %s from %q", javac, bytes.TrimSpace(out))
	}
	if major < 17 {
		return "", "", unavailable("%s is Java %d; hadoop %s needs 17 or newer (set JAVA_HOME to a newer JDK)", javac, major, HadoopVersion)
	}
	return java, javac, nil
}

var javaVersionRE = regexp.MustCompile(`(?:javac|version)\s+"?(\d+)(?:\.(\d+))?`)

// javaMajor parses the output of javac -version ("javac 17.0.15",
// "javac 1.8.0_392") or java -version ("openjdk version \"25\" ...").
func javaMajor(s string) (int, bool) {
	m := javaVersionRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	major, _ := strconv.Atoi(m[1])
	if major == 1 && m[2] != "" { // 1.8 is Java 8
		major, _ = strconv.Atoi(m[2])
	}
	return major, true
}

// lockFile takes an exclusive flock on path, so that parallel test
// binaries run Maven and javac one at a time. The holder's work is
// bounded by mavenTimeout, so the wait is too.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the cache lock: %w", err)
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("cannot lock %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("cannot lock %s: still held by another test process after %v", f.Name(), lockTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func shortHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

// resolveClasspath returns the minicluster's classpath, running Maven when
// the cached one is missing, was made from another pom, or names a jar that
// is no longer in ~/.m2.
func resolveClasspath(mvn, dir string) (cp string, ran bool, err error) {
	cpFile := filepath.Join(dir, "classpath-"+shortHash([]byte(pom))+".txt")
	if b, err := os.ReadFile(cpFile); err == nil && classpathComplete(string(b)) {
		return strings.TrimSpace(string(b)), false, nil
	}
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), []byte(pom), 0o644); err != nil {
		return "", true, fmt.Errorf("cannot write the pom: %w", err)
	}
	tmp := cpFile + ".tmp"
	ctx, cancel := context.WithTimeout(context.Background(), mavenTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-f", filepath.Join(dir, "pom.xml"),
		"dependency:build-classpath", "-Dmdep.outputFile="+tmp)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", true, unavailable("maven cannot resolve org.apache.hadoop:hadoop-client-minicluster:%s (is Maven Central reachable? check ~/.m2/settings.xml): %v\n%s",
			HadoopVersion, err, tail(stripANSI(string(out)), 30))
	}
	b, err := os.ReadFile(tmp)
	if err != nil || !classpathComplete(string(b)) {
		return "", true, unavailable("maven wrote no usable classpath to %s (%v)", tmp, err)
	}
	if err := os.Rename(tmp, cpFile); err != nil {
		return "", true, err
	}
	return strings.TrimSpace(string(b)), true, nil
}

func classpathComplete(cp string) bool {
	cp = strings.TrimSpace(cp)
	if !strings.Contains(cp, "hadoop-client-minicluster-"+HadoopVersion+".jar") {
		return false
	}
	for _, jar := range filepath.SplitList(cp) {
		if _, err := os.Stat(jar); err != nil {
			return false
		}
	}
	return true
}

// compileLauncher compiles MiniHDFS.java into a directory named after the
// source's hash, so that an edited launcher is recompiled and an unchanged
// one never is.
func compileLauncher(javac, dir, jars string) (classes string, ran bool, err error) {
	classes = filepath.Join(dir, "launcher-"+shortHash(launcherSource))
	if _, err := os.Stat(filepath.Join(classes, "MiniHDFS.class")); err == nil {
		return classes, false, nil
	}
	tmp, err := os.MkdirTemp(dir, "launcher-build-")
	if err != nil {
		return "", true, err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "MiniHDFS.java")
	if err := os.WriteFile(src, launcherSource, 0o644); err != nil {
		return "", true, err
	}
	out, err := exec.Command(javac, "--release", "17", "-encoding", "UTF-8", "-nowarn",
		"-cp", jars, "-d", filepath.Join(tmp, "classes"), src).CombinedOutput()
	if err != nil {
		return "", true, fmt.Errorf("cannot compile the launcher: %v\n%s", err, tail(string(out), 30))
	}
	os.RemoveAll(classes) // a partial directory from a crash
	if err := os.Rename(filepath.Join(tmp, "classes"), classes); err != nil {
		return "", true, err
	}
	return classes, true, nil
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
