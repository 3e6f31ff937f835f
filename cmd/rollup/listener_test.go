package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The metrics listener over HTTPS with basic authentication: every path
// but /healthz needs a user and password of the file, plain HTTP gets no
// answer, and a bad file or half a key pair is refused with its flag.
func TestMetricsListenerTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := serverCertFiles(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("pa:ss"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("# scrapers\nprom:"+string(hash)+"\n\n"), 0o600)

	addr := freeAddr(t)
	m := metricsListener{MetricsListen: addr, MetricsTLSCert: certFile, MetricsTLSKey: keyFile, MetricsBasicAuthFile: users}
	var svc atomic.Pointer[service]
	stop, err := m.serve(slog.New(slog.NewTextHandler(io.Discard, nil)), &svc)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	get := func(path, user, password string) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path, user, password string
		want                 int
	}{
		{"/metrics", "", "", 401},
		{"/metrics", "prom", "wrong", 401},
		{"/metrics", "other", "pa:ss", 401},
		{"/readyz", "", "", 401},
		{"/healthz", "", "", 200},
		{"/metrics", "prom", "pa:ss", 200},
		{"/metrics", "prom", "pa:ss", 200}, // remembered, same answer
		{"/readyz", "prom", "pa:ss", 503},  // authenticated: not ready, no service yet
	} {
		code, body := get(c.path, c.user, c.password)
		if code != c.want {
			t.Errorf("GET %s as %q/%q: %d, want %d (%s)", c.path, c.user, c.password, code, c.want, body)
		}
		if code == 200 && c.path == "/metrics" && !strings.Contains(body, "rollup_kafka_up 0") {
			t.Errorf("/metrics: %s", body)
		}
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on a TLS listener")
		}
	}

	for _, c := range []struct {
		m    metricsListener
		want string
	}{
		{metricsListener{MetricsListen: "127.0.0.1:0", MetricsTLSCert: certFile}, "--metrics-tls-cert and --metrics-tls-key go together"},
		{metricsListener{MetricsListen: "127.0.0.1:0", MetricsTLSCert: certFile, MetricsTLSKey: users}, "--metrics-tls-cert/--metrics-tls-key: "},
		{metricsListener{MetricsListen: "127.0.0.1:0", MetricsBasicAuthFile: writeFile(t, dir, "plain", "prom:secret\n")}, `plain:1: user "prom": not a bcrypt hash`},
		{metricsListener{MetricsListen: "127.0.0.1:0", MetricsBasicAuthFile: writeFile(t, dir, "nouser", "# none\n:x\n")}, "nouser:2: want USER:BCRYPT_HASH"},
		{metricsListener{MetricsListen: "127.0.0.1:0", MetricsBasicAuthFile: writeFile(t, dir, "empty", "\n")}, "no USER:BCRYPT_HASH line"},
	} {
		stop, err := c.m.serve(slog.New(slog.NewTextHandler(io.Discard, nil)), &svc)
		if err == nil {
			stop()
			t.Errorf("%+v: no error", c.m)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.m, err, c.want)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverCertFiles writes a server certificate for 127.0.0.1 and its key
// (selfSignedCA's) and returns the pool that trusts it.
func serverCertFiles(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caFile, srv := selfSignedCA(t, dir)
	keyDER, err := x509.MarshalECPrivateKey(srv.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate[0]})))
	keyFile = writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return certFile, keyFile, pool
}
