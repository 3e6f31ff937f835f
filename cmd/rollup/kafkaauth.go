package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaSecurity are the connection flags shared by run and bench: TLS
// (optionally mutual) and SASL authentication.
type kafkaSecurity struct {
	TLS           bool   `name:"tls" help:"Connect to the brokers with TLS, verifying their certificates against the system roots (or --tls-ca)." env:"ROLLUP_TLS"`
	TLSCA         string `name:"tls-ca" help:"PEM file of the CA certificates that signed the brokers' certificates. Implies --tls." env:"ROLLUP_TLS_CA" placeholder:"FILE"`
	TLSCert       string `name:"tls-cert" help:"PEM client certificate, for brokers that require mutual TLS (with --tls-key). Implies --tls." env:"ROLLUP_TLS_CERT" placeholder:"FILE"`
	TLSKey        string `name:"tls-key" help:"PEM private key of --tls-cert." env:"ROLLUP_TLS_KEY" placeholder:"FILE"`
	TLSServerName string `name:"tls-server-name" help:"Name the brokers' certificates must carry (default: the host of each broker address)." env:"ROLLUP_TLS_SERVER_NAME" placeholder:"NAME"`
	SASLMechanism string `name:"sasl-mechanism" help:"SASL authentication: none, plain, scram-sha-256 or scram-sha-512 (use TLS with plain: it sends the password as is)." default:"none" enum:"none,plain,scram-sha-256,scram-sha-512" env:"ROLLUP_SASL_MECHANISM"`
	SASLUser      string `name:"sasl-user" help:"SASL user name." env:"ROLLUP_SASL_USER" placeholder:"USER"`
	SASLPassword  string `name:"sasl-password" help:"SASL password. Prefer ROLLUP_SASL_PASSWORD or the config file: other users can read a process's command line." env:"ROLLUP_SASL_PASSWORD" placeholder:"PASSWORD"`
}

// opts returns the franz-go options for the flags, or an error naming the
// flag that is wrong.
func (k *kafkaSecurity) opts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if k.TLS || k.TLSCA != "" || k.TLSCert != "" || k.TLSKey != "" || k.TLSServerName != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.TLSServerName}
		if k.TLSCA != "" {
			pem, err := os.ReadFile(k.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca: no PEM certificate in %s", k.TLSCA)
			}
		}
		if (k.TLSCert == "") != (k.TLSKey == "") {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		if k.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(k.TLSCert, k.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		// DialTLSConfig sets ServerName per broker from its address
		// when the config leaves it empty.
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if k.SASLMechanism == "" || k.SASLMechanism == "none" {
		if k.SASLUser != "" || k.SASLPassword != "" {
			return nil, errors.New("--sasl-user/--sasl-password given without --sasl-mechanism")
		}
		return opts, nil
	}
	if k.SASLUser == "" || k.SASLPassword == "" {
		return nil, fmt.Errorf("--sasl-mechanism %s needs --sasl-user and --sasl-password (or ROLLUP_SASL_PASSWORD)", k.SASLMechanism)
	}
	switch k.SASLMechanism {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want none, plain, scram-sha-256 or scram-sha-512", k.SASLMechanism)
	}
	return opts, nil
}

// args renders the flags for a child process; the password travels in
// the environment (returned separately), not on its command line.
func (k *kafkaSecurity) args() (args, env []string) {
	add := func(flag, v string) {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	if k.TLS {
		args = append(args, "--tls")
	}
	add("--tls-ca", k.TLSCA)
	add("--tls-cert", k.TLSCert)
	add("--tls-key", k.TLSKey)
	add("--tls-server-name", k.TLSServerName)
	if k.SASLMechanism != "" && k.SASLMechanism != "none" {
		add("--sasl-mechanism", k.SASLMechanism)
		add("--sasl-user", k.SASLUser)
		env = append(env, "ROLLUP_SASL_PASSWORD="+k.SASLPassword)
	}
	return args, env
}
