package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// healthPassword's bcrypt hash (cost 4) is in the daemon's web config.
const (
	healthPassword = "s3cret-health"
	healthHash     = "$2a$04$qwJJKQYzQpgm1v2HZgO5uuBSix74C3KVFAQ/8ZqZrp3yHZWAYNrSe"
)

// writeCerts writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, both signed by the CA, as PEM files in dir.
func writeCerts(t *testing.T, dir string) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "borderwatch test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.crt", "CERTIFICATE", caDER)
	for i, c := range []struct {
		name string
		tmpl x509.Certificate
	}{
		{"server", x509.Certificate{Subject: pkix.Name{CommonName: "borderwatch"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}},
		{"client", x509.Certificate{Subject: pkix.Name{CommonName: "healthcheck"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}},
	} {
		k := key()
		tmpl := c.tmpl
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter, tmpl.KeyUsage = big.NewInt(int64(i+2)), now.Add(-time.Hour), now.Add(time.Hour), x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(c.name+".crt", "CERTIFICATE", der)
		kder, _ := x509.MarshalECPrivateKey(k)
		write(c.name+".key", "EC PRIVATE KEY", kder)
	}
}

// TestHealthcheckWebConfig: a daemon started with a web config (TLS with
// required client certificates, basic auth, which /-/healthy needs too) is
// checked with --web.config.file, the client configuration; each missing
// or wrong piece is an exit 1 that says what failed.
func TestHealthcheckWebConfig(t *testing.T) {
	dir := t.TempDir()
	writeCerts(t, dir)
	p := func(name string) string { return filepath.Join(dir, name) }
	file := func(name, text string) string {
		if err := os.WriteFile(p(name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p(name)
	}
	serverCfg := file("web.yml", "tls_server_config:\n  cert_file: "+p("server.crt")+"\n  key_file: "+p("server.key")+
		"\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: "+p("ca.crt")+"\nbasic_auth_users:\n  health: "+healthHash+"\n")
	file("password", healthPassword+"\n")
	file("wrong", "guess\n")

	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- runContext(ctx, []string{"run", "--capture.file", "../../testdata/sample.pcap.gz", "--web.listen-address", addr, "--web.config.file", serverCfg}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()

	url := "https://" + addr + "/-/healthy"
	tlsOK := "tls_config:\n  ca_file: ca.crt\n  cert_file: client.crt\n  key_file: client.key\n"
	authOK := "basic_auth:\n  username: health\n  password_file: password\n"
	good := file("good.yml", tlsOK+authOK) // relative paths: next to the file
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, e, code := runCLI(t, "healthcheck", "--url", url, "--web.config.file", good)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed: %s\ndaemon: %s", e, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		name string
		cfg  string // client configuration; "" gives none
		url  string
		code int
		want string
	}{
		{"all given", tlsOK + authOK, url, 0, ""},
		{"insecure_skip_verify instead of the CA", "tls_config:\n  insecure_skip_verify: true\n  cert_file: client.crt\n  key_file: client.key\n" + authOK, url, 0, ""},
		{"inline password", tlsOK + "basic_auth:\n  username: health\n  password: " + healthPassword + "\n", url, 0, ""},
		{"wrong password", tlsOK + "basic_auth:\n  username: health\n  password_file: wrong\n", url, 1, "401 Unauthorized (the daemon has basic auth"},
		{"no basic auth: /-/healthy needs it too", tlsOK, url, 1, "401 Unauthorized"},
		{"unknown CA", "tls_config:\n  cert_file: client.crt\n  key_file: client.key\n" + authOK, url, 1, "certificate signed by unknown authority"},
		{"no client certificate", "tls_config:\n  ca_file: ca.crt\n" + authOK, url, 1, "certificate"},
		{"no configuration", "", url, 1, "certificate"},
		{"plain http to TLS", tlsOK + authOK, "http://" + addr + "/-/healthy", 1, "400 Bad Request"},
		{"the daemon's own web config", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  health: " + healthHash + "\n", url, 1, "this is a daemon's web configuration"},
		{"unknown key", tlsOK + "basic_auth:\n  user: health\n", url, 1, "field user not found"},
		{"missing CA file", "tls_config:\n  ca_file: nosuch.crt\n" + authOK, url, 1, "nosuch.crt"},
	} {
		args := []string{"healthcheck", "--url", c.url}
		if c.cfg != "" {
			args = append(args, "--web.config.file", file("client.yml", c.cfg))
		}
		out, e, code := runCLI(t, args...)
		if code != c.code || !strings.Contains(e, c.want) || out != "" || (c.code != 0 && strings.Count(e, "\n") != 1) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", c.name, code, e, c.code, c.want)
		}
	}
	if _, e, code := runCLI(t, "healthcheck", "--web.config.file", p("missing.yml")); code != 1 || !strings.Contains(e, "missing.yml") {
		t.Errorf("missing client config: exit %d %q", code, e)
	}

	// Without --url, a client configuration with a tls_config checks the
	// default address over https.
	h := &healthOptions{url: "http://127.0.0.1" + defaultListen + "/-/healthy", webConfig: good, timeout: time.Second}
	if _, u, err := h.client(); err != nil || u != "https://127.0.0.1"+defaultListen+"/-/healthy" {
		t.Errorf("default URL with TLS: %q %v", u, err)
	}
	h.urlSet = true
	if _, u, _ := h.client(); u != h.url {
		t.Errorf("a given --url changed: %q", u)
	}
}
