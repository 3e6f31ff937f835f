package hdfs

import (
	"context"
	"net"
	"sync"
	"time"
)

// colinmarc/hdfs takes no contexts and sets no deadlines on its namenode
// connection, so without help a namenode that stops answering (a hung JVM,
// a half-open connection after a network partition) blocks every call
// forever, the lease renewer's included. netGuard wraps every connection the
// client dials and gives each Read and Write a deadline: IOTimeout from
// now, or the running operation's context deadline if sooner. Cancelling that
// context moves the deadlines into the past, which wakes blocked calls.
//
// It also tells the Backend when the client's namenode connection is
// broken. The client does not notice that itself: after a failed read it
// keeps the dead connection, fails the next call on it, and then refuses
// to redial that namenode for 5 seconds. A broken connection is closed
// here at once, and the Backend replaces the whole client before its next
// operation, so that the first call after a namenode restart goes through.
type netGuard struct {
	dialer    net.Dialer
	ioTimeout time.Duration

	mu    sync.Mutex
	conns map[*guardedConn]struct{}
	// op is the context of the running Backend operation, nil between
	// operations (when only the client's lease renewer talks).
	op context.Context
	// nnBroken is set when a namenode dial or connection fails and cleared
	// when a namenode dial succeeds: with several namenodes a failed dial
	// to one followed by a good one to the next is no reason to start over.
	nnBroken bool
}

func newNetGuard(dialTimeout, ioTimeout time.Duration) *netGuard {
	return &netGuard{
		dialer:    net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		ioTimeout: ioTimeout,
		conns:     make(map[*guardedConn]struct{}),
	}
}

// begin makes ctx govern the connections until end is called.
func (g *netGuard) begin(ctx context.Context) (end func()) {
	g.mu.Lock()
	g.op = ctx
	g.mu.Unlock()
	stop := context.AfterFunc(ctx, g.interrupt)
	return func() {
		stop()
		g.mu.Lock()
		g.op = nil
		g.mu.Unlock()
	}
}

// longAgo is a deadline that has passed.
var longAgo = time.Unix(1, 0)

// interrupt wakes every blocked Read and Write. Each goes through arm
// before touching the network again, and arm sees the done context, so no
// deadline set here is pushed back into the future.
func (g *netGuard) interrupt() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.Conn.SetDeadline(longAgo)
	}
}

func (g *netGuard) broken() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nnBroken
}

func (g *netGuard) dialNamenode(ctx context.Context, network, addr string) (net.Conn, error) {
	return g.dial(ctx, network, addr, true)
}

func (g *netGuard) dialDatanode(ctx context.Context, network, addr string) (net.Conn, error) {
	return g.dial(ctx, network, addr, false)
}

func (g *netGuard) dial(ctx context.Context, network, addr string, namenode bool) (net.Conn, error) {
	// The client dials with context.Background(): use the operation's.
	g.mu.Lock()
	if g.op != nil {
		ctx = g.op
	}
	g.mu.Unlock()
	conn, err := g.dialer.DialContext(ctx, network, addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	if namenode {
		g.nnBroken = err != nil
	}
	if err != nil {
		return nil, err
	}
	c := &guardedConn{Conn: conn, g: g, namenode: namenode}
	g.conns[c] = struct{}{}
	return c, nil
}

// guardedConn is a connection dialed through a netGuard.
type guardedConn struct {
	net.Conn
	g        *netGuard
	namenode bool

	// Guarded by g.mu.
	closed                      bool
	readDeadline, writeDeadline time.Time // as the client set them
}

// arm sets the deadline for the next Read (or Write).
func (c *guardedConn) arm(write bool) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	var d time.Time
	if g.ioTimeout > 0 {
		d = time.Now().Add(g.ioTimeout)
	}
	if g.op != nil {
		if err := g.op.Err(); err != nil {
			return err
		}
		if od, ok := g.op.Deadline(); ok && (d.IsZero() || od.Before(d)) {
			d = od
		}
	}
	own := c.readDeadline
	if write {
		own = c.writeDeadline
	}
	if !own.IsZero() && (d.IsZero() || own.Before(d)) {
		d = own
	}
	if write {
		return c.Conn.SetWriteDeadline(d)
	}
	return c.Conn.SetReadDeadline(d)
}

// fail closes a connection whose state is unknown after an error, so that
// nothing reads a stale reply from it later.
func (c *guardedConn) fail() {
	g := c.g
	g.mu.Lock()
	if c.namenode {
		g.nnBroken = true
	}
	c.closeLocked()
	g.mu.Unlock()
}

func (c *guardedConn) closeLocked() error {
	if c.closed {
		return nil
	}
	c.closed = true
	delete(c.g.conns, c)
	return c.Conn.Close()
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if err := c.arm(false); err != nil {
		c.fail()
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if err != nil {
		c.fail()
	}
	return n, err
}

func (c *guardedConn) Write(p []byte) (int, error) {
	if err := c.arm(true); err != nil {
		c.fail()
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.fail()
	}
	return n, err
}

func (c *guardedConn) Close() error {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	return c.closeLocked()
}

// The client's own deadlines (FileWriter.SetDeadline and friends) are kept
// and applied by arm together with the guard's.

func (c *guardedConn) SetDeadline(t time.Time) error {
	c.g.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.g.mu.Unlock()
	return nil
}

func (c *guardedConn) SetReadDeadline(t time.Time) error {
	c.g.mu.Lock()
	c.readDeadline = t
	c.g.mu.Unlock()
	return nil
}

func (c *guardedConn) SetWriteDeadline(t time.Time) error {
	c.g.mu.Lock()
	c.writeDeadline = t
	c.g.mu.Unlock()
	return nil
}
