package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// selfSignedCA writes a CA certificate to dir and returns it with a server
// certificate for 127.0.0.1 signed by it.
func selfSignedCA(t *testing.T, dir string) (caFile string, server tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rollup test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}

// TestRunTLSAndSASL: the service reaches a broker that requires TLS and
// SCRAM-SHA-256 authentication, consumes and produces through it.
func TestRunTLSAndSASL(t *testing.T) {
	caFile, srvCert := selfSignedCA(t, t.TempDir())
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "rollups"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{srvCert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "rollup", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	broker := c.ListenAddrs()[0]
	t.Setenv("ROLLUP_SASL_PASSWORD", "s3cret")
	startService(t, "--brokers", broker, "--topic", "in", "--archive", "10s:sum,count", "--output-format", "jsonl",
		"--lateness", "0s", "--idle-timeout", "300ms", "--fetch-max-wait", "50ms", "--metrics-listen", "", "--metadata-interval", "200ms",
		"--tls-ca", caFile, "--sasl-mechanism", "scram-sha-256", "--sasl-user", "rollup")

	sec := kafkaSecurity{TLSCA: caFile, SASLMechanism: "scram-sha-256", SASLUser: "rollup", SASLPassword: "s3cret"}
	opts, err := sec.opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(broker), kgo.DefaultProduceTopic("in"),
		kgo.ConsumeTopics("rollups"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w0 := time.Now().Add(-time.Minute).Unix() / 10 * 10
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "m,h=a v=2 %d000000000\nm,h=a v=3 %d000000000\n", w0, w0+1)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("rollups read: %q", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, strings.Split(strings.TrimSpace(string(r.Value)), "\n")...) })
	}
	want := fmt.Sprintf(`{"metric":"m_v","tags":{"h":"a"},"step":"10s","start":%d,"aggregator":"count","value":2}`, w0)
	if got[0] != want && got[1] != want {
		t.Errorf("rollups %q lack %s", got, want)
	}
}

func TestKafkaSecurityFlags(t *testing.T) {
	for _, c := range []struct {
		k   kafkaSecurity
		err string
	}{
		{kafkaSecurity{SASLMechanism: "plain", SASLUser: "u"}, "needs --sasl-user and --sasl-password"},
		{kafkaSecurity{SASLUser: "u", SASLPassword: "p"}, "without --sasl-mechanism"},
		{kafkaSecurity{TLSCert: "a.pem"}, "--tls-cert and --tls-key go together"},
		{kafkaSecurity{TLSCA: "/nonexistent/ca.pem"}, "--tls-ca"},
	} {
		if _, err := c.k.opts(); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: error %v, want %q", c.k, err, c.err)
		}
	}
	args, env := (&kafkaSecurity{TLSCA: "ca.pem", SASLMechanism: "plain", SASLUser: "u", SASLPassword: "p"}).args()
	if strings.Join(args, " ") != "--tls-ca ca.pem --sasl-mechanism plain --sasl-user u" || strings.Join(env, " ") != "ROLLUP_SASL_PASSWORD=p" {
		t.Errorf("args %q env %q: the password must not be on the command line", args, env)
	}
}
