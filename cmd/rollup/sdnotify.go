package main

// The systemd notification protocol is hand-written rather than imported
// (coreos/go-systemd): it is one datagram to a socket named in the
// environment plus one environment variable to parse, about 30 lines, and a
// dependency for that would outweigh the code.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotifyTimeout bounds one send. A blocked send is possible in principle
// (a datagram socket whose receive queue is full), and the callers are the
// startup path and the watchdog loop, neither of which may hang on it:
// better to report an error and let the watchdog see a missed ping.
const sdNotifyTimeout = time.Second

// sdNotify tells the service manager about a state change, as sd_notify(3)
// does. Under Type=notify systemd passes a unix datagram socket in
// NOTIFY_SOCKET and reads newline-separated assignments from each datagram:
// READY=1 (startup done), STOPPING=1 (shutdown begun), WATCHDOG=1 (liveness
// ping) and STATUS=... (free text shown by systemctl status).
//
// It returns (false, nil) when NOTIFY_SOCKET is unset or empty, meaning the
// process was not started by systemd with notifications enabled, so callers
// can call it unconditionally. (true, nil) means the datagram was sent, not
// that systemd accepted it: with NotifyAccess=main it drops datagrams from
// any other process, silently.
func sdNotify(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	switch addr[0] {
	case '@':
		// Linux abstract namespace: the name starts with a NUL byte.
		// Go's net package would also translate a leading '@', but
		// doing it here follows sd_notify(3) literally.
		addr = "\x00" + addr[1:]
	case '/':
	default:
		// Newer systemd can also hand a VM "vsock:CID:PORT"; rollup
		// runs as a host service, so any other form is an error.
		return false, fmt.Errorf("cannot notify systemd: unsupported NOTIFY_SOCKET address %q", addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("cannot notify systemd: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sdNotifyTimeout)); err != nil {
		return false, fmt.Errorf("cannot notify systemd: %w", err)
	}
	n, err := conn.Write([]byte(state))
	if err == nil && n != len(state) {
		err = errors.New("short write")
	}
	if err != nil {
		return false, fmt.Errorf("cannot notify systemd: %w", err)
	}
	return true, nil
}

// sdWatchdogInterval returns how often to send WATCHDOG=1, as
// sd_watchdog_enabled(3) would compute it: systemd sets WATCHDOG_USEC to
// the WatchdogSec= timeout in microseconds, and WATCHDOG_PID to the process
// it is meant for. The interval is half the timeout, the margin systemd's
// documentation recommends so one late ping does not kill the service.
//
// ok is false when the watchdog is off or not for this process: the
// variable is unset, not a positive integer, too large for a Duration, or
// WATCHDOG_PID is set to another process (a child that inherited the
// environment from the main process).
func sdWatchdogInterval() (time.Duration, bool) {
	s := os.Getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, false
	}
	usec, err := strconv.ParseUint(s, 10, 64)
	if err != nil || usec == 0 || usec > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0, false
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}
