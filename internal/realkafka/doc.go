// Package realkafka starts a real single-node Apache Kafka broker (KRaft
// mode, combined broker and controller) on 127.0.0.1 for Go tests.
//
// It exists because franz-go's kfake is a model of Kafka, and what the
// service relies on for exactly-once output (transactions, producer fencing,
// the abort of a dead producer's open transaction, data surviving a broker
// restart) must also hold against the real thing. Unit tests keep using
// kfake; only those properties are checked again here.
//
// What it needs: a JDK 17 or newer (JAVA_HOME if set, else java on PATH; if
// that java is older and /usr/lib/jvm/temurin-25-jdk-amd64 exists, that one
// is used) and, the first time only, Maven with access to Maven Central.
// Kafka 4.x brokers require Java 17; Kafka 4.4.0 runs on 17 (checked on
// OpenJDK 17.0.15). The broker jars are resolved once with
// "mvn dependency:build-classpath" from a generated pom.xml in
// os.UserCacheDir()/rollup-test/kafka-<version>/ and the resulting classpath
// (pointing into ~/.m2) is cached there; a flock on a lock file in that
// directory keeps parallel test binaries (go test ./...) from running Maven
// on it at the same time. Besides kafka_2.13 the pom adds
// log4j-slf4j-impl: kafka_2.13 declares slf4j-api 1.7 and log4j-core but no
// binding between them, and without one the broker logs nothing.
//
// When java or Maven is missing, or Maven cannot resolve the jars, Start
// skips the test with a message saying what is missing, unless the
// environment variable ROLLUP_REQUIRE_JAVA=1 is set: then it fails the test
// with the same message, so that CI cannot pass by skipping. A broker that
// does not start is always a failure.
//
// What it must not do: bind anything but 127.0.0.1, write the broker's log to
// the test's output (it goes to broker.log in the broker's directory; see
// LogTail), or outlive the test: Start registers a Cleanup that kills the
// broker's process group and waits for it, and the JVM is started with a
// parent-death signal so that a test binary killed by "go test -timeout"
// does not leave a broker behind.
//
// Lifetime rules: a Broker belongs to the test passed to Start. Its address
// stays the same across Stop, Kill and Restart, and its data directory is
// removed with the test's TempDir after the broker has been killed. Start,
// Restart and the Broker's methods must be called from the test's goroutine
// or its subtests, not after the test has finished.
package realkafka
