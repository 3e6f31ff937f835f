package hdfs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"time"

	hdfsclient "github.com/colinmarc/hdfs/v2"

	"github.com/rollupd/rollup/ckpt"
)

// Options configure New. The zero value gives the defaults.
type Options struct {
	// User is the HDFS user the files are written as (simple
	// authentication; the cluster trusts the name). Default: the
	// HADOOP_USER_NAME environment variable, else the OS user.
	User string
	// DialTimeout bounds each TCP connect to a namenode or a datanode.
	// Default DefaultDialTimeout.
	DialTimeout time.Duration
	// IOTimeout bounds each read from and write to a namenode or datanode
	// connection: a peer that stops answering fails the operation after
	// this long instead of blocking it forever. It is per call, not per
	// operation; bound whole operations with their context. Default
	// DefaultIOTimeout.
	IOTimeout time.Duration
}

// Defaults for Options.
const (
	DefaultDialTimeout = 10 * time.Second
	// DefaultIOTimeout is the Java client's dfs.client.socket-timeout.
	DefaultIOTimeout = time.Minute
)

// defaultPort is the namenode RPC port of fs.defaultFS when a location
// names none (Hadoop's default since 2.x).
const defaultPort = "8020"

// writeBuffer sits in front of the client's 64 KiB packets, so that the
// checkpoint writer's small writes do not each go through the packet code.
const writeBuffer = 1 << 20

// cleanupTimeout bounds the removal of a failed Write's temporary file.
const cleanupTimeout = 15 * time.Second

// Backend stores checkpoint files in one HDFS directory. See the package
// documentation for what each step guarantees.
type Backend struct {
	location string
	addrs    []string // namenode host:port, in the order given
	dir      string   // absolute, cleaned
	user     string
	opts     Options

	// client is nil after its namenode connection broke (see netGuard);
	// the next operation connects anew.
	client *hdfsclient.Client
	guard  *netGuard
}

var _ ckpt.Backend = (*Backend)(nil)

// New connects to the namenode(s) of location, an URL
// "hdfs://namenode:8020/path" ("hdfs://nn1:8020,nn2:8020/path" for an HA
// pair: the client tries them in order and moves on when one is down or
// standby), and creates the directory path if it is missing.
func New(location string, opts Options) (*Backend, error) {
	addrs, dir, err := parseLocation(location)
	if err != nil {
		return nil, err
	}
	if opts.DialTimeout < 0 || opts.IOTimeout < 0 {
		return nil, fmt.Errorf("hdfs dial timeout %v and io timeout %v must not be negative", opts.DialTimeout, opts.IOTimeout)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.IOTimeout == 0 {
		opts.IOTimeout = DefaultIOTimeout
	}
	b := &Backend{location: location, addrs: addrs, dir: dir, opts: opts}
	b.user = opts.User
	if b.user == "" {
		b.user = os.Getenv("HADOOP_USER_NAME")
	}
	if b.user == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("cannot determine the HDFS user: %w (set HADOOP_USER_NAME or the user option)", err)
		}
		b.user = u.Username
	}

	ctx, cancel := context.WithTimeout(context.Background(), opts.DialTimeout+opts.IOTimeout)
	defer cancel()
	c, end, err := b.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if err := c.MkdirAll(b.dir, 0o755); err != nil {
		err = b.fail(ctx, err, "cannot create checkpoint directory %s", b.location)
		b.Close()
		return nil, err
	}
	if fi, err := c.Stat(b.dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		err = b.fail(ctx, err, "cannot use checkpoint directory %s", b.location)
		b.Close()
		return nil, err
	}
	return b, nil
}

// parseLocation splits "hdfs://nn1:8020,nn2:8020/path" into the namenode
// addresses and the directory. It does not use url.Parse, which would take
// the comma-separated list for one odd host name and check nothing in it.
func parseLocation(loc string) (addrs []string, dir string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint location %q: "+format, append([]any{loc}, args...)...)
	}
	const scheme = "hdfs://"
	if len(loc) < len(scheme) || !strings.EqualFold(loc[:len(scheme)], scheme) {
		return nil, "", bad("not an hdfs:// URL (hdfs://namenode:8020/path; a local directory is a path or file:///path)")
	}
	rest := loc[len(scheme):]
	if strings.ContainsAny(rest, "?#") {
		return nil, "", bad("queries and fragments are not supported")
	}
	hosts, p, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return nil, "", bad("a user in the URL is not supported; set HADOOP_USER_NAME or the user option")
	}
	if hosts == "" {
		return nil, "", bad("no namenode address (hdfs://namenode:8020/path)")
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := namenodeAddr(h)
		if err != nil {
			return nil, "", bad("namenode %q: %v", h, err)
		}
		addrs = append(addrs, addr)
	}
	p, err = url.PathUnescape(p)
	if err != nil {
		return nil, "", bad("%v", err)
	}
	dir = path.Clean("/" + p)
	if dir == "/" {
		return nil, "", bad("no directory after the namenode address (hdfs://namenode:8020/rollup/checkpoints)")
	}
	return addrs, dir, nil
}

// namenodeAddr checks one "host:port" of a location, adding the default
// port when there is none ("nn", "[::1]").
func namenodeAddr(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty address (two commas, or a comma at an end?)")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		if strings.Count(h, ":") > 0 && !(strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
			return "", err
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
	}
	if host == "" {
		return "", errors.New("no host name")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return net.JoinHostPort(host, port), nil
}

// begin readies the client for one operation under ctx; end must be called
// when the operation is over.
func (b *Backend) begin(ctx context.Context) (c *hdfsclient.Client, end func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if b.client != nil && b.guard.broken() {
		b.client.Close()
		b.client = nil
	}
	if b.client == nil {
		g := newNetGuard(b.opts.DialTimeout, b.opts.IOTimeout)
		endDial := g.begin(ctx)
		c, err := hdfsclient.NewClient(hdfsclient.ClientOptions{
			Addresses:        b.addrs,
			User:             b.user,
			NamenodeDialFunc: g.dialNamenode,
			DatanodeDialFunc: g.dialDatanode,
		})
		endDial()
		if err != nil {
			return nil, nil, fmt.Errorf("cannot connect to %s: %w (%s)", b.location, err, b.reachHint())
		}
		b.client, b.guard = c, g
	}
	return b.client, b.guard.begin(ctx), nil
}

func (b *Backend) reachHint() string {
	return fmt.Sprintf("is the namenode reachable at %s? is that its RPC port (fs.defaultFS, usually 8020), not its web port (9870)?",
		strings.Join(b.addrs, ", "))
}

// fail wraps err for an operation, saying whether the context ended it and
// giving a hint for the likely causes.
func (b *Backend) fail(ctx context.Context, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w (%w)", msg, cerr, err)
	}
	var hint string
	var nerr net.Error
	switch {
	case errors.Is(err, os.ErrPermission):
		hint = fmt.Sprintf(" (may HDFS user %q write there? set HADOOP_USER_NAME or the user option)", b.user)
	case errors.As(err, &nerr), errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "no available namenodes"):
		hint = " (" + b.reachHint() + ")"
	}
	return fmt.Errorf("%s: %w%s", msg, err, hint)
}

// Location returns the location as given to New.
func (b *Backend) Location() string { return b.location }

func (b *Backend) checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.HasPrefix(name, ckpt.TempPrefix) {
		return fmt.Errorf("invalid checkpoint file name %q", name)
	}
	return nil
}

// List returns the names of the files in the directory that are not
// temporaries.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	c, end, err := b.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	infos, err := c.ReadDir(b.dir)
	if err != nil {
		return nil, b.fail(ctx, err, "cannot list checkpoint directory %s", b.location)
	}
	var names []string
	for _, fi := range infos {
		if fi.Mode().IsRegular() && !strings.HasPrefix(fi.Name(), ckpt.TempPrefix) {
			names = append(names, fi.Name())
		}
	}
	return names, nil
}

// Write stores name atomically: it writes a temporary file in the same
// directory, closes it, which returns once the datanodes have acknowledged
// every packet and the namenode has recorded the file as complete, and
// renames it onto name with the overwrite flag, which the namenode does in
// one step (see the package documentation for what survives which crash).
func (b *Backend) Write(ctx context.Context, name string, write func(io.Writer) error) (err error) {
	if err := b.checkName(name); err != nil {
		return err
	}
	c, end, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := path.Join(b.dir, ckpt.TempPrefix+name+"."+hex.EncodeToString(rnd[:]))
	defaults, err := c.ServerDefaults()
	if err != nil {
		return b.fail(ctx, err, "cannot get the namenode's block size")
	}
	fw, err := c.CreateFile(tmp, defaults.Replication, defaults.BlockSize, 0o644)
	if err != nil {
		return b.fail(ctx, err, "cannot create temporary checkpoint file %s", tmp)
	}
	closed := false
	defer func() {
		if err == nil {
			return
		}
		// Closing first releases the block stream (its connection and
		// heartbeat goroutine, which the client would otherwise keep) and,
		// when the namenode is fine, the lease. Its error is the one
		// already being returned, or a consequence of it.
		if !closed {
			fw.Close()
		}
		// Not bound by ctx: after a cancellation this is what keeps the
		// directory clean. Its own timeout bounds it instead.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rerr := b.removeTemp(cctx, tmp); rerr != nil {
			err = fmt.Errorf("%w; the temporary file stays until CleanTemp: %v", err, rerr)
		}
	}()
	bw := bufio.NewWriterSize(&blockWriter{ctx: ctx, fw: fw, blockSize: defaults.BlockSize}, writeBuffer)
	// bufio's error is sticky: a writer that ignores a failed Write still
	// gets the error back from Flush, so a short file is never renamed.
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return b.fail(ctx, err, "cannot write %s", tmp)
	}
	closed = true
	if err = closeFile(ctx, fw); err != nil {
		return b.fail(ctx, err, "cannot close %s", tmp)
	}
	if err = ctx.Err(); err != nil {
		return b.fail(ctx, err, "cannot rename %s into place", tmp)
	}
	// colinmarc's Rename is rename2 with OverwriteDest: one namenode
	// transaction that replaces name, so there is no moment without a
	// complete name (unlike delete-then-rename).
	if err = c.Rename(tmp, path.Join(b.dir, name)); err != nil {
		return b.fail(ctx, err, "cannot rename %s into place", tmp)
	}
	return nil
}

// removeTemp removes the temporary file of a failed Write. It begins an
// operation of its own, so that a connection the failure broke (or the
// cancellation of the Write's context) is replaced first.
func (b *Backend) removeTemp(ctx context.Context, tmp string) error {
	c, end, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Read reads the whole of name into memory; release does nothing.
func (b *Backend) Read(ctx context.Context, name string) ([]byte, func(), error) {
	if err := b.checkName(name); err != nil {
		return nil, nil, err
	}
	c, end, err := b.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer end()
	p := path.Join(b.dir, name)
	f, err := c.Open(p)
	if err != nil {
		return nil, nil, b.fail(ctx, err, "cannot open checkpoint %s", p)
	}
	defer f.Close()
	size := f.Stat().Size()
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("cannot read checkpoint %s: %d bytes do not fit in memory", p, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, b.fail(ctx, err, "cannot read checkpoint %s", p)
	}
	return data, func() {}, nil
}

// Remove deletes name; a missing file is not an error.
func (b *Backend) Remove(ctx context.Context, name string) error {
	if err := b.checkName(name); err != nil {
		return err
	}
	c, end, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	p := path.Join(b.dir, name)
	if err := c.Remove(p); err != nil && !os.IsNotExist(err) {
		return b.fail(ctx, err, "cannot remove checkpoint %s", p)
	}
	return nil
}

// CleanTemp removes the temporary files of unfinished writes. HDFS deletes
// a file that is still open for writing (it drops the writer's lease), so
// the leftover of a write cut off by a namenode failure is removed at once,
// not after the lease expires.
func (b *Backend) CleanTemp(ctx context.Context) ([]string, error) {
	c, end, err := b.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	infos, err := c.ReadDir(b.dir)
	if err != nil {
		return nil, b.fail(ctx, err, "cannot list checkpoint directory %s", b.location)
	}
	var removed []string
	for _, fi := range infos {
		if !strings.HasPrefix(fi.Name(), ckpt.TempPrefix) {
			continue
		}
		p := path.Join(b.dir, fi.Name())
		if err := c.Remove(p); err != nil && !os.IsNotExist(err) {
			return removed, b.fail(ctx, err, "cannot remove temporary checkpoint file %s", p)
		}
		removed = append(removed, fi.Name())
	}
	return removed, nil
}

// Close closes the namenode connection. Leases of files still open (none,
// once every Write has returned) are no longer renewed.
func (b *Backend) Close() error {
	if b.client == nil {
		return nil
	}
	err := b.client.Close()
	b.client = nil
	return err
}

// ValidateLocation checks the syntax of an hdfs:// location without
// connecting, so that a typo is refused at start rather than retried as if
// the namenode were down.
func ValidateLocation(location string) error {
	_, _, err := parseLocation(location)
	return err
}
