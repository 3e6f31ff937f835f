package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// listenNotify plays systemd's side: a unixgram socket at name. It returns
// a function that reads one datagram, failing the test after a timeout
// rather than hanging it.
func listenNotify(t *testing.T, name string) func() string {
	t.Helper()
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return func() string {
		t.Helper()
		if err := ln.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("no datagram received: %v", err)
		}
		return string(buf[:n])
	}
}

func TestSdNotifyPath(t *testing.T) {
	// t.TempDir() can exceed the 108-byte sun_path limit under a long
	// TMPDIR; the socket name stays short to leave room.
	path := filepath.Join(t.TempDir(), "n.sock")
	recv := listenNotify(t, path)
	t.Setenv("NOTIFY_SOCKET", path)

	sent, err := sdNotify("READY=1\nSTATUS=x")
	if err != nil || !sent {
		t.Fatalf("sdNotify = %v, %v; want true, nil", sent, err)
	}
	if got := recv(); got != "READY=1\nSTATUS=x" {
		t.Errorf("received %q", got)
	}
}

func TestSdNotifyAbstract(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract unix sockets are Linux-only")
	}
	// Unique per process and test so parallel runs on one machine do not
	// meet in the shared abstract namespace.
	name := fmt.Sprintf("rollup-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	recv := listenNotify(t, "\x00"+name)
	t.Setenv("NOTIFY_SOCKET", "@"+name)

	sent, err := sdNotify("WATCHDOG=1")
	if err != nil || !sent {
		t.Fatalf("sdNotify = %v, %v; want true, nil", sent, err)
	}
	if got := recv(); got != "WATCHDOG=1" {
		t.Errorf("received %q", got)
	}
}

func TestSdNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "") // restores the original value afterwards
	os.Unsetenv("NOTIFY_SOCKET")
	if sent, err := sdNotify("READY=1"); sent || err != nil {
		t.Errorf("unset: sdNotify = %v, %v; want false, nil", sent, err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := sdNotify("READY=1"); sent || err != nil {
		t.Errorf("empty: sdNotify = %v, %v; want false, nil", sent, err)
	}
}

func TestSdNotifyErrors(t *testing.T) {
	for _, addr := range []string{
		filepath.Join(t.TempDir(), "nobody-listens"),
		"relative.sock",
		"vsock:2:1234",
	} {
		t.Setenv("NOTIFY_SOCKET", addr)
		if sent, err := sdNotify("READY=1"); sent || err == nil {
			t.Errorf("NOTIFY_SOCKET=%q: sdNotify = %v, %v; want false and an error", addr, sent, err)
		}
	}
}

func TestSdWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		ok              bool
	}{
		{"30s no pid", "30000000", "", 15 * time.Second, true},
		{"30s our pid", "30000000", self, 15 * time.Second, true},
		{"odd microseconds", "3", "", 1500 * time.Nanosecond, true},
		{"other pid", "30000000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"garbage pid", "30000000", "init", 0, false},
		{"unset", "", "", 0, false},
		{"zero", "0", "", 0, false},
		{"negative", "-5", "", 0, false},
		{"garbage", "30s", "", 0, false},
		{"overflows Duration", "18446744073709551615", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			got, ok := sdWatchdogInterval()
			if got != tt.want || ok != tt.ok {
				t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, %v; want %v, %v",
					tt.usec, tt.pid, got, ok, tt.want, tt.ok)
			}
		})
	}
}
