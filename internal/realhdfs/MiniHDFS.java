// MiniHDFS runs a one-datanode MiniDFSCluster on 127.0.0.1 for the Go
// tests of github.com/rollupd/rollup (see realhdfs.go, which embeds, compiles
// and drives this file).
//
// Usage: java MiniHDFS BASEDIR [KEY=VALUE ...]
//
// Each KEY=VALUE sets a Hadoop configuration property after the defaults
// below, so a test can change any of them.
//
// Protocol, one line each way: once the cluster is up it prints
// "READY <namenode port>" on stdout, then reads commands on stdin and answers
// each with "OK <command>" or "ERR <command> <message>":
//
//   stop-namenode    shut the namenode down (the datanode keeps running)
//   start-namenode   start it again on the same port, wait until it has
//                    left safe mode
//   quit             shut the cluster down and exit
//
// It also shuts down and exits when stdin closes, so that a killed test
// binary never leaves a cluster behind. Hadoop's own logging (slf4j-simple)
// and anything it prints go to stderr, which the Go side sends to a file:
// stdout carries the protocol only.
import java.io.BufferedReader;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public class MiniHDFS {
  // The protocol stream: System.out is pointed at stderr below, because
  // Hadoop prints a few things with System.out.println.
  private static PrintStream proto;

  public static void main(String[] args) throws Exception {
    proto = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
    System.setOut(System.err);
    if (args.length < 1) {
      proto.println("ERR usage: MiniHDFS BASEDIR [KEY=VALUE ...]");
      System.exit(2);
    }
    File base = new File(args[0]);

    Configuration conf = new Configuration();
    // Any OS user may run the tests, and the Go client names its own user.
    conf.setBoolean("dfs.permissions.enabled", false);
    // One datanode: replication 3 would leave every block under-replicated
    // and keep the replication monitor busy.
    conf.setInt("dfs.replication", 1);
    // 1 MiB blocks (the smallest the namenode accepts by default), so that
    // the tests' multi-megabyte files cross block boundaries the way a
    // multi-gigabyte checkpoint does on a real cluster.
    conf.setLong("dfs.blocksize", 1L << 20);
    // The Go client connects to the address a datanode registered with;
    // make that 127.0.0.1 rather than whatever the host name resolves to.
    conf.setBoolean("dfs.client.use.datanode.hostname", false);
    conf.setBoolean("dfs.datanode.use.datanode.hostname", false);
    conf.set("dfs.datanode.hostname", "127.0.0.1");
    // After a namenode restart the datanode must re-register and report its
    // blocks before the namenode leaves safe mode: heartbeat every second
    // and no extension, so start-namenode takes seconds, not half a minute.
    conf.setInt("dfs.heartbeat.interval", 1);
    conf.setInt("dfs.namenode.safemode.extension", 0);
    // Fewer threads on a 2-core machine running several clusters at once.
    conf.setInt("dfs.namenode.handler.count", 4);
    conf.setInt("dfs.namenode.service.handler.count", 2);
    conf.setInt("dfs.datanode.handler.count", 2);
    conf.setInt("dfs.datanode.max.transfer.threads", 64);
    conf.set("hadoop.tmp.dir", new File(base, "tmp").getAbsolutePath());
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(base, "dfs").getAbsolutePath());
    for (int i = 1; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      if (eq <= 0) {
        proto.println("ERR start configuration argument " + args[i] + " is not KEY=VALUE");
        System.exit(2);
      }
      conf.set(args[i].substring(0, eq), args[i].substring(eq + 1));
    }

    MiniDFSCluster cluster;
    try {
      cluster = new MiniDFSCluster.Builder(conf, new File(base, "dfs"))
          .numDataNodes(1)
          // Port 0: the namenode picks a free port and the Go side reads it
          // from the READY line, so parallel clusters never race for one.
          .nameNodePort(0)
          .format(true)
          .waitSafeMode(true)
          .build();
      cluster.waitActive();
    } catch (Throwable e) {
      e.printStackTrace();
      proto.println("ERR start " + oneLine(e));
      System.exit(1);
      return;
    }
    int port = cluster.getNameNodePort(0);
    proto.println("READY " + port);

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String cmd = line.trim();
      if (cmd.isEmpty()) {
        continue;
      }
      if (cmd.equals("quit")) {
        break;
      }
      try {
        switch (cmd) {
          case "stop-namenode":
            cluster.shutdownNameNode(0);
            break;
          case "start-namenode":
            startNameNode(cluster, port);
            break;
          default:
            throw new IllegalArgumentException("unknown command");
        }
        proto.println("OK " + cmd);
      } catch (Throwable e) {
        e.printStackTrace();
        proto.println("ERR " + cmd + " " + oneLine(e));
      }
    }
    // Both quit and a closed stdin end here.
    try {
      cluster.shutdown(true);
    } catch (Throwable e) {
      e.printStackTrace();
    }
    System.exit(0);
  }

  // startNameNode restarts namenode 0 and waits until it serves writes.
  private static void startNameNode(MiniDFSCluster cluster, int port) throws Exception {
    // restartNameNode reuses the configuration of the first start, in which
    // the namenode recorded the port it bound, so the address the clients
    // know stays valid. The check below makes sure.
    cluster.restartNameNode(0, true);
    if (cluster.getNameNodePort(0) != port) {
      throw new IllegalStateException("namenode restarted on port " + cluster.getNameNodePort(0) + ", not " + port);
    }
    // In safe mode the namenode refuses deletes and creates until the
    // datanode has reported its blocks; wait for that so that the Go tests
    // see a namenode that behaves like one that never went away.
    long deadline = System.nanoTime() + 90_000_000_000L;
    while (cluster.getNamesystem(0).isInSafeMode()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("namenode still in safe mode after 90s: " + cluster.getNamesystem(0).getSafemode());
      }
      try {
        cluster.triggerBlockReports();
      } catch (Throwable e) {
        // The datanode may not have re-registered yet; try again.
      }
      Thread.sleep(200);
    }
  }

  private static String oneLine(Throwable e) {
    String s = e.toString();
    return s.replace('\n', ' ').replace('\r', ' ');
  }
}
