package hdfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	hdfsclient "github.com/colinmarc/hdfs/v2"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/ckpt/ckpttest"
	"github.com/rollupd/rollup/ckpt/hdfs"
	"github.com/rollupd/rollup/internal/realhdfs"
)

const testUser = "rollup-test"

func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ byte(i>>11) ^ seed
	}
	return p
}

// testDir is a directory of its own for the (sub)test t.
func testDir(t *testing.T) string {
	return "/rollup-test/" + strings.ReplaceAll(t.Name(), "/", "_")
}

func newBackend(t *testing.T, cl *realhdfs.Cluster, dir string, opts hdfs.Options) *hdfs.Backend {
	t.Helper()
	opts.User = testUser
	b, err := hdfs.New("hdfs://"+cl.Addr()+dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawClient talks to the cluster behind the backend's back, as another
// program (or a crash's leftovers) would.
func rawClient(t *testing.T, cl *realhdfs.Cluster) *hdfsclient.Client {
	t.Helper()
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	c, err := hdfsclient.NewClient(hdfsclient.ClientOptions{
		Addresses:        []string{cl.Addr()},
		User:             testUser,
		NamenodeDialFunc: dial,
		DatanodeDialFunc: dial,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawWrite creates p with data through c. With close false it leaves the
// file open, as a writer that died would.
func rawWrite(t *testing.T, c *hdfsclient.Client, p string, data []byte, close bool) {
	t.Helper()
	w, err := c.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w.SetDeadline(time.Now().Add(time.Minute))
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if !close {
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := w.Close()
		if err == nil {
			return
		}
		if !hdfsclient.IsErrReplicating(err) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

func write(t *testing.T, ctx context.Context, b ckpt.Backend, name string, data []byte) {
	t.Helper()
	err := b.Write(ctx, name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		t.Fatalf("Write %s: %v", name, err)
	}
}

func read(t *testing.T, ctx context.Context, b ckpt.Backend, name string) []byte {
	t.Helper()
	data, release, err := b.Read(ctx, name)
	if err != nil {
		t.Fatalf("Read %s: %v", name, err)
	}
	defer release()
	return bytes.Clone(data)
}

func list(t *testing.T, ctx context.Context, b ckpt.Backend) []string {
	t.Helper()
	names, err := b.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	slices.Sort(names)
	return names
}

// TestHDFS runs everything that needs a cluster against one cluster (a
// start costs 5-10 seconds); the subtest that stops the namenode runs last.
func TestHDFS(t *testing.T) {
	cl := realhdfs.Start(t)
	raw := rawClient(t, cl)
	opts := hdfs.Options{DialTimeout: 5 * time.Second, IOTimeout: 20 * time.Second}

	t.Run("Conformance", func(t *testing.T) {
		ckpttest.Run(t, ckpttest.Harness{
			New: func(t *testing.T) ckpt.Backend {
				return newBackend(t, cl, testDir(t), opts)
			},
			PutTemp: func(t *testing.T, b ckpt.Backend, name string, data []byte) {
				rawWrite(t, raw, path.Join(testDir(t), name), data, true)
			},
		})
	})

	t.Run("Rotate", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b := newBackend(t, cl, testDir(t), opts)
		defer b.Close()
		for e := uint64(1); e <= 5; e++ {
			write(t, ctx, b, ckpt.FileName(e), pattern(1000+int(e), byte(e)))
		}
		// Keep the newest 3, as the service does.
		for _, e := range []uint64{1, 2} {
			if err := b.Remove(ctx, ckpt.FileName(e)); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{ckpt.FileName(3), ckpt.FileName(4), ckpt.FileName(5)}
		if got := list(t, ctx, b); !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
	})

	t.Run("CorruptionVisible", func(t *testing.T) {
		// HDFS files cannot be changed in place, so "overwriting bytes" is
		// another program replacing the file with a copy that differs in
		// a few bytes. Read must hand over exactly what is stored: catching
		// it is the checkpoint format's checksums' job, not the backend's.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b := newBackend(t, cl, testDir(t), opts)
		defer b.Close()
		orig := pattern(3<<20+17, 1) // several 1 MiB blocks
		write(t, ctx, b, ckpt.FileName(1), orig)
		bad := bytes.Clone(orig)
		for _, off := range []int{0, 1 << 20, len(bad) - 1} {
			bad[off] ^= 0xff
		}
		p := path.Join(testDir(t), ckpt.FileName(1))
		if err := raw.Remove(p); err != nil {
			t.Fatal(err)
		}
		rawWrite(t, raw, p, bad, true)
		if got := read(t, ctx, b, ckpt.FileName(1)); !bytes.Equal(got, bad) {
			t.Fatalf("Read returned %d bytes that are not the %d stored", len(got), len(bad))
		}
	})

	t.Run("CanceledWrite", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b := newBackend(t, cl, testDir(t), opts)
		defer b.Close()
		wctx, wcancel := context.WithCancel(ctx)
		began := time.Now()
		err := b.Write(wctx, ckpt.FileName(1), func(w io.Writer) error {
			w.Write(pattern(3<<20, 2))
			wcancel()
			w.Write(pattern(3<<20, 3)) // a writer that does not look at errors
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write with a canceled context returned %v, want context.Canceled", err)
		}
		if d := time.Since(began); d > 20*time.Second {
			t.Errorf("canceled Write took %v", d)
		}
		if got := list(t, ctx, b); len(got) != 0 {
			t.Fatalf("canceled Write left %q", got)
		}
		if left, err := b.CleanTemp(ctx); err != nil || len(left) != 0 {
			t.Fatalf("canceled Write left temporaries %q (err %v)", left, err)
		}
	})

	t.Run("CleanTempOfOpenFile", func(t *testing.T) {
		// A writer that died with its file open (its lease held and renewed
		// by a live client) must not stop CleanTemp.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b := newBackend(t, cl, testDir(t), opts)
		defer b.Close()
		stale := ckpt.TempPrefix + ckpt.FileName(1) + ".open"
		rawWrite(t, raw, path.Join(testDir(t), stale), pattern(100_000, 4), false)
		removed, err := b.CleanTemp(ctx)
		if err != nil || !slices.Equal(removed, []string{stale}) {
			t.Fatalf("CleanTemp = %q, %v; want %q", removed, err, stale)
		}
	})

	t.Run("NamenodeStoppedMidWrite", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		b := newBackend(t, cl, testDir(t), opts)
		defer b.Close()
		old := pattern(2<<20+3, 5)
		write(t, ctx, b, ckpt.FileName(1), old)

		// The write fails at the first namenode call after the stop: the
		// next block allocation (the launcher's blocks are 1 MiB) or, for
		// a short tail, the close. Both fail as soon as the connection is
		// refused; the bound allows for a loaded CI machine, and IOTimeout
		// (20s) would be what bounds it with a hung, not stopped, namenode.
		const failBound = 30 * time.Second
		var stoppedAt time.Time
		var writeErrs int
		err := b.Write(ctx, ckpt.FileName(2), func(w io.Writer) error {
			chunk := pattern(256<<10, 6)
			for range 12 { // 3 MiB: three blocks under way
				w.Write(chunk)
			}
			cl.StopNameNode(t)
			stoppedAt = time.Now()
			for range 12 { // carry on, as a writer that ignores errors would
				if _, err := w.Write(chunk); err != nil {
					writeErrs++
				}
			}
			return nil
		})
		elapsed := time.Since(stoppedAt)
		if err == nil {
			t.Fatal("Write succeeded although the namenode was stopped in the middle")
		}
		t.Logf("Write failed %v after the namenode stopped (%d of the writer's later writes failed): %v", elapsed.Round(time.Millisecond), writeErrs, err)
		if elapsed > failBound {
			t.Errorf("Write took %v to fail after the namenode stopped, want at most %v", elapsed, failBound)
		}

		cl.StartNameNode(t)
		// The first operation after the restart goes through: the backend
		// redials rather than keeping the client's dead connection.
		if got, want := list(t, ctx, b), []string{ckpt.FileName(1)}; !slices.Equal(got, want) {
			t.Fatalf("after the restart List = %q, want %q", got, want)
		}
		if got := read(t, ctx, b, ckpt.FileName(1)); !bytes.Equal(got, old) {
			t.Fatal("the checkpoint written before the failure reads back differently")
		}
		// The interrupted write's temporary could not be removed while the
		// namenode was down; its lease (held by a client the backend has
		// since dropped) does not stop its removal now.
		removed, err := b.CleanTemp(ctx)
		if err != nil {
			t.Fatalf("CleanTemp: %v", err)
		}
		if len(removed) != 1 || !strings.HasPrefix(removed[0], ckpt.TempPrefix+ckpt.FileName(2)+".") {
			t.Fatalf("CleanTemp removed %q, want the one temporary of %s", removed, ckpt.FileName(2))
		}
		// And the backend writes again.
		write(t, ctx, b, ckpt.FileName(2), pattern(1000, 7))
		if got, want := list(t, ctx, b), []string{ckpt.FileName(1), ckpt.FileName(2)}; !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
	})
}

// TestBatchedBlockReports runs multi-block writes against datanodes that
// batch their block reports, as large clusters are configured to: the
// namenode then refuses to start block n+1 or to complete the file until
// block n-1 is reported, and the Backend must retry as the Java client does
// (see writer.go).
func TestBatchedBlockReports(t *testing.T) {
	cl := realhdfs.Start(t, "dfs.blockreport.incremental.intervalMsec=300")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := newBackend(t, cl, "/batched", hdfs.Options{DialTimeout: 5 * time.Second, IOTimeout: 20 * time.Second})
	defer b.Close()
	// The launcher's blocks are 1 MiB: a tail of 3 bytes, exact multiples
	// (the client starts an empty last block), one block and less.
	for i, size := range []int{2<<20 + 3, 4<<20 + 3, 2 << 20, 3 << 20, 1 << 20, 100} {
		name := ckpt.FileName(uint64(i))
		data := pattern(size, byte(i))
		began := time.Now()
		write(t, ctx, b, name, data)
		t.Logf("%d bytes written in %v", size, time.Since(began).Round(time.Millisecond))
		if got := read(t, ctx, b, name); !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes that differ from the %d written", name, len(got), size)
		}
	}
}

func TestParseLocation(t *testing.T) {
	f := func(loc string, wantAddrs []string, wantDir string) {
		t.Helper()
		addrs, dir, err := hdfs.ParseLocation(loc)
		if err != nil {
			t.Errorf("%q: %v", loc, err)
			return
		}
		if !slices.Equal(addrs, wantAddrs) || dir != wantDir {
			t.Errorf("%q: got %q %q, want %q %q", loc, addrs, dir, wantAddrs, wantDir)
		}
	}
	f("hdfs://nn:8020/rollup", []string{"nn:8020"}, "/rollup")
	f("hdfs://nn/rollup/ckpt/", []string{"nn:8020"}, "/rollup/ckpt")
	f("HDFS://nn.example.com:9000/a/../b", []string{"nn.example.com:9000"}, "/b")
	f("hdfs://nn1:8020,nn2:8021/x", []string{"nn1:8020", "nn2:8021"}, "/x")
	f("hdfs://nn1,10.0.0.2:8020/x", []string{"nn1:8020", "10.0.0.2:8020"}, "/x")
	f("hdfs://[::1]:8020/x", []string{"[::1]:8020"}, "/x")
	f("hdfs://[::1]/x", []string{"[::1]:8020"}, "/x")
	f("hdfs://nn:8020/with%20space", []string{"nn:8020"}, "/with space")

	bad := func(loc, wantErr string) {
		t.Helper()
		_, _, err := hdfs.ParseLocation(loc)
		if err == nil {
			t.Errorf("%q: no error", loc)
		} else if !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: error %q does not say %q", loc, err, wantErr)
		}
	}
	bad("/var/lib/rollup", "not an hdfs:// URL")
	bad("file:///var/lib/rollup", "not an hdfs:// URL")
	bad("webhdfs://nn:9870/x", "not an hdfs:// URL")
	bad("hdfs:/nn/x", "not an hdfs:// URL")
	bad("hdfs://nn:8020", "no directory")
	bad("hdfs://nn:8020/", "no directory")
	bad("hdfs://nn:8020//.", "no directory")
	bad("hdfs:///rollup", "no namenode address")
	bad("hdfs://nn:http/x", "port")
	bad("hdfs://nn:0/x", "port")
	bad("hdfs://nn:8020,/x", "empty address")
	bad("hdfs://nn1:8020,,nn2:8020/x", "empty address")
	bad("hdfs://:8020/x", "no host")
	bad("hdfs://::1/x", "too many colons")
	bad("hdfs://hdfs@nn:8020/x", "user")
	bad("hdfs://nn:8020/x?replication=2", "queries")
	bad("hdfs://nn:8020/x%zz", "invalid URL escape")
}

// TestUnreachable needs no cluster: a refused connection fails New at
// once, with a hint.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	const dialTimeout = 2 * time.Second
	began := time.Now()
	_, err = hdfs.New("hdfs://"+addr+"/rollup", hdfs.Options{User: testUser, DialTimeout: dialTimeout, IOTimeout: dialTimeout})
	if d := time.Since(began); d > dialTimeout+time.Second {
		t.Errorf("New took %v against a closed port, dial timeout %v", d, dialTimeout)
	}
	if err == nil {
		t.Fatal("New succeeded against a closed port")
	}
	if !strings.Contains(err.Error(), "is the namenode reachable at "+addr) {
		t.Errorf("error has no hint: %v", err)
	}
	t.Log(err)
}

// TestSilentNamenode: something accepts connections but never answers (a
// hung namenode, or the wrong service). The client's handshake only writes,
// so connecting succeeds; the IO timeout is what ends New.
func TestSilentNamenode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	const ioTimeout = time.Second
	began := time.Now()
	_, err = hdfs.New("hdfs://"+ln.Addr().String()+"/rollup", hdfs.Options{User: testUser, DialTimeout: ioTimeout, IOTimeout: ioTimeout})
	if d := time.Since(began); d > 3*ioTimeout {
		t.Errorf("New took %v against a silent server, io timeout %v", d, ioTimeout)
	}
	if err == nil {
		t.Fatal("New succeeded against a server that never answers")
	}
	if !strings.Contains(err.Error(), "is the namenode reachable") {
		t.Errorf("error has no hint: %v", err)
	}
	t.Log(err)
}
