// Package realhdfs starts a real HDFS for tests: Hadoop's MiniDFSCluster
// (one namenode, one datanode) in a child JVM, listening on 127.0.0.1 only.
// What must hold against HDFS itself (leases, rename semantics, a namenode
// that goes away mid-write) is tested against this rather than a fake.
//
// Start needs java and javac (17 or newer, JAVA_HOME is honoured) and mvn,
// which resolves org.apache.hadoop:hadoop-client-minicluster once into
// ~/.m2; the classpath and the compiled launcher (MiniHDFS.java, embedded)
// are cached under os.UserCacheDir()/rollup-test/hdfs-VERSION, guarded by a
// file lock because test packages run in parallel. Without those tools, or
// when Maven cannot resolve the artifact, Start skips the test, unless
// ROLLUP_REQUIRE_JAVA=1 is set (CI), when it fails it instead.
//
// It must not be imported by non-test code: it runs a JVM and fails tests.
//
// Lifetime: a Cluster belongs to the test that started it. Start registers
// a t.Cleanup that shuts the JVM down (killing its process group if it does
// not exit in time) and removes its directories, Hadoop's log included; the
// log's tail is printed when the test failed. The JVM also exits when its
// stdin closes, so a test binary that dies leaves no cluster behind.
package realhdfs
