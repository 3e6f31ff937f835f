// Package hdfs is the ckpt.Backend that keeps checkpoint files in an HDFS
// directory, through the pure-Go client github.com/colinmarc/hdfs/v2 (no
// JVM, no libhdfs). It lives apart from ckpt so that ckpt stays standard
// library only.
//
// What a Write guarantees, step by step:
//
//   - The data goes to a temporary file in the same directory, named
//     ckpt.TempPrefix + name + "." + random hex, through a 1 MiB buffer.
//   - Closing it returns once the datanodes of each block's pipeline have
//     acknowledged every packet and the namenode has recorded the file as
//     complete (a transaction it syncs to its edit log before answering).
//     The client never sets the packet header's syncBlock flag (it has no
//     hsync), and a datanode does not fsync a finished block unless
//     dfs.datanode.synconclose is true (default false). So Close is
//     hflush-grade: every replica's datanode has handed the bytes to its
//     operating system (page cache, not disk), which survives any process
//     crash and the loss of all but one replica host, but not a power loss
//     of every replica host at once.
//     Clusters that must survive that should set dfs.datanode.synconclose.
//     (The checkpoint format's checksums then catch a torn file on read.)
//     Where the namenode asks the client to come back later (a block not yet
//     reported by its datanode), the Backend retries as the Java client
//     does, which colinmarc/hdfs alone cannot (see writer.go).
//   - The temporary file is renamed onto name with rename2 and its
//     OverwriteDest flag, which the client's Rename always sets: the
//     namenode replaces an existing name in one transaction, so a crash at
//     any point leaves name either old or new, never absent. No
//     delete-then-rename window exists.
//   - If the writer or any step fails, the temporary file is removed; if
//     the namenode is gone at that moment too, it stays (it never shows in
//     List) until CleanTemp, which deletes it even while its lease is
//     still held.
//
// Contexts: the client takes none, so every connection is wrapped (see
// conn.go): each read and write on it has a deadline of Options.IOTimeout
// or the operation's context deadline, whichever is sooner, dials use the
// context and Options.DialTimeout, and cancelling the context interrupts
// blocked calls. No operation blocks forever on a dead or hung namenode or
// datanode; an operation that keeps making progress (a large Write to a
// slow cluster) is bounded only by its context.
//
// It must not be used from several goroutines at once (as ckpt.Backend
// says), and it supports simple authentication only: no Kerberos, no
// encrypted data transfer, and it does not read HADOOP_CONF_DIR; namenode
// addresses come from the location URL alone.
//
// Lifetime: the data returned by Read is an ordinary slice owned by the
// caller (release does nothing). After a namenode connection breaks, the
// next operation opens a new client, so a namenode restart or HA failover
// costs one failed operation at most.
package hdfs
