package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// metricsListener are the flags of the HTTP server for /metrics,
// /healthz, /readyz and /debug/pprof/: where it listens, TLS and basic
// authentication, as Prometheus' exporters offer them.
type metricsListener struct {
	MetricsListen        string `help:"Address of the HTTP server for /metrics (Prometheus text), /healthz, /readyz and (on loopback, or with --pprof-auth-key) /debug/pprof/; empty disables it (default ${default})." default:"127.0.0.1:9108" env:"ROLLUP_METRICS_LISTEN" placeholder:"HOST:PORT"`
	MetricsTLSCert       string `name:"metrics-tls-cert" help:"Serve the metrics listener over HTTPS with this PEM certificate (chain) and --metrics-tls-key." env:"ROLLUP_METRICS_TLS_CERT" placeholder:"FILE"`
	MetricsTLSKey        string `name:"metrics-tls-key" help:"PEM private key of --metrics-tls-cert." env:"ROLLUP_METRICS_TLS_KEY" placeholder:"FILE"`
	MetricsBasicAuthFile string `name:"metrics-basic-auth-file" help:"Require HTTP basic authentication on every path but /healthz: a file of USER:BCRYPT_HASH lines, as 'htpasswd -nbB USER PASSWORD' prints them (Prometheus' basic_auth_users). Use it with --metrics-tls-cert: basic auth sends the password as is." env:"ROLLUP_METRICS_BASIC_AUTH_FILE" placeholder:"FILE"`
	PprofAuthKey         string `name:"pprof-auth-key" help:"Serve /debug/pprof/ on a listener that is not loopback, to requests with ?authKey=KEY (on loopback it is served without a key, or with it when set)." env:"ROLLUP_PPROF_AUTH_KEY" placeholder:"KEY"`
}

// serve starts the listener (nothing when MetricsListen is empty) and
// returns the function that stops it. Errors name the flag at fault.
func (m *metricsListener) serve(log *slog.Logger, svc *atomic.Pointer[service]) (stop func(), err error) {
	if m.MetricsListen == "" {
		return func() {}, nil
	}
	var tlsConfig *tls.Config
	if (m.MetricsTLSCert == "") != (m.MetricsTLSKey == "") {
		return nil, usageError{errors.New("--metrics-tls-cert and --metrics-tls-key go together")}
	}
	if m.MetricsTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(m.MetricsTLSCert, m.MetricsTLSKey)
		if err != nil {
			return nil, fmt.Errorf("--metrics-tls-cert/--metrics-tls-key: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	var users map[string][]byte
	if m.MetricsBasicAuthFile != "" {
		if users, err = readBasicAuthFile(m.MetricsBasicAuthFile); err != nil {
			return nil, fmt.Errorf("--metrics-basic-auth-file: %w", err)
		}
		if tlsConfig == nil {
			log.Warn("basic authentication without --metrics-tls-cert sends the passwords in clear text")
		}
	}
	ln, err := net.Listen("tcp", m.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for /metrics on %s: %w (is another rollup running? change --metrics-listen)", m.MetricsListen, err)
	}
	loopback := false
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		loopback = a.IP.IsLoopback()
	}
	if !loopback && users == nil {
		log.Warn("the metrics listener is not loopback and has no --metrics-basic-auth-file: /metrics and /readyz are open to that network; /debug/pprof/ is served only with --pprof-auth-key",
			"addr", ln.Addr().String(), "pprof", m.PprofAuthKey != "")
	}
	h := metricsHandler(svc, time.Now(), loopback || m.PprofAuthKey != "", m.PprofAuthKey)
	if users != nil {
		h = withBasicAuth(users, h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConfig,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String(), "scheme", scheme, "basic_auth", users != nil)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(ctx)
		cancel()
	}, nil
}

// readBasicAuthFile reads USER:BCRYPT_HASH lines (blank lines and #
// comments skipped), checking that every hash is a bcrypt hash.
func readBasicAuthFile(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	users := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want USER:BCRYPT_HASH", path, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with htpasswd -nbB USER PASSWORD): %v", path, n, user, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no USER:BCRYPT_HASH line", path)
	}
	return users, nil
}

// withBasicAuth serves h to requests that carry a user and password of
// users, and /healthz to anyone (liveness tells nothing about the data).
// A bcrypt check costs tens of milliseconds, so credentials that passed
// are remembered by their SHA-256 and a scrape every few seconds costs
// one hash, not one bcrypt.
func withBasicAuth(users map[string][]byte, h http.Handler) http.Handler {
	var mu sync.Mutex
	passed := map[[sha256.Size]byte]bool{}
	return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/healthz" {
			h.ServeHTTP(rw, req)
			return
		}
		user, password, ok := req.BasicAuth()
		hash, known := users[user]
		if ok && known {
			sum := sha256.Sum256([]byte(user + "\x00" + password))
			mu.Lock()
			good := passed[sum]
			mu.Unlock()
			if !good && bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil {
				good = true
				mu.Lock()
				if len(passed) < 64 {
					passed[sum] = true
				}
				mu.Unlock()
			}
			if good {
				h.ServeHTTP(rw, req)
				return
			}
		} else if ok {
			// Unknown users cost a bcrypt too, so timing does not tell
			// which user names exist.
			bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		}
		rw.Header().Set("WWW-Authenticate", `Basic realm="rollup", charset="UTF-8"`)
		http.Error(rw, "authentication required (--metrics-basic-auth-file)", http.StatusUnauthorized)
	})
}

// dummyHash is a bcrypt hash of a password nobody sends.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no user has this password"), bcrypt.DefaultCost)
	return h
})
