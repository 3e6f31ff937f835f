package realhdfs_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/rollupd/rollup/internal/realhdfs"
)

func newClient(t *testing.T, addr string) *hdfs.Client {
	t.Helper()
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	c, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses:        []string{addr},
		User:             "rollup-test",
		NamenodeDialFunc: dial,
		DatanodeDialFunc: dial,
	})
	if err != nil {
		t.Fatalf("cannot connect to %s: %v", addr, err)
	}
	return c
}

// TestCluster checks what the backend tests rely on: the Go client can write
// and read blocks through the datanode address the namenode hands out
// (127.0.0.1, not a host name), and the namenode comes back on the same
// address with the data intact.
func TestCluster(t *testing.T) {
	cl := realhdfs.Start(t)
	if !strings.HasPrefix(cl.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want 127.0.0.1:PORT", cl.Addr())
	}
	c := newClient(t, cl.Addr())
	defer func() { c.Close() }()

	// 3.5 blocks of the launcher's 1 MiB: several block pipelines.
	want := make([]byte, 3<<20+1<<19)
	for i := range want {
		want[i] = byte(i*31) ^ byte(i>>13)
	}
	w, err := c.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	w.SetDeadline(time.Now().Add(time.Minute))
	if _, err := w.Write(want); err != nil {
		t.Fatalf("write: %v", err)
	}
	// Close returns ErrReplicating while the namenode has not yet heard
	// from the datanode that the last block is complete (it often has
	// not, right after the datanode's ack); the Java client retries too.
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := w.Close()
		if err == nil {
			break
		}
		if !hdfs.IsErrReplicating(err) || time.Now().After(deadline) {
			t.Fatalf("close: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	readBack := func(c *hdfs.Client) []byte {
		t.Helper()
		r, err := c.Open("/f")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.SetDeadline(time.Now().Add(time.Minute))
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return got
	}
	if got := readBack(c); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(want))
	}
	if cl.LogTail(5) == "" {
		t.Error("LogTail is empty: Hadoop's log is not captured")
	}

	cl.StopNameNode(t)
	began := time.Now()
	if _, err := c.Stat("/f"); err == nil {
		t.Fatal("Stat succeeded with the namenode stopped")
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Stat took %v to fail with the namenode stopped", d)
	}
	cl.StartNameNode(t)
	// A new client: the old one backs off a namenode for 5s after a failure.
	c.Close()
	c = newClient(t, cl.Addr())
	if got := readBack(c); !bytes.Equal(got, want) {
		t.Fatal("after a namenode restart the file reads back differently")
	}
	// Writes work at once too: the namenode has left safe mode.
	if err := c.Remove("/f"); err != nil {
		t.Fatalf("remove after restart: %v", err)
	}
}

func TestJavaMajor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"javac 17.0.15\n", 17},
		{"javac 25\n", 25},
		{"javac 1.8.0_392\n", 8},
		{`openjdk version "21.0.2" 2024-01-16`, 21},
		{`java version "1.8.0_202"`, 8},
	} {
		if got, ok := realhdfs.JavaMajor(tc.in); !ok || got != tc.want {
			t.Errorf("javaMajor(%q) = %d, %v, want %d", tc.in, got, ok, tc.want)
		}
	}
	if _, ok := realhdfs.JavaMajor("command not found"); ok {
		t.Error("javaMajor accepted garbage")
	}
}
