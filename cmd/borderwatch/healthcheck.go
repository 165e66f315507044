package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/config"
)

// healthOptions are the flags of `borderwatch healthcheck`.
type healthOptions struct {
	url       string
	urlSet    bool
	webConfig string
	timeout   time.Duration

	clientCert bool // the client configuration has a certificate
}

func addHealthcheck(c *kingpin.CmdClause) *healthOptions {
	h := &healthOptions{}
	c.Flag("url", "The daemon's health endpoint (default https://... when --web.config.file has a tls_config).").Default("http://127.0.0.1" + defaultListen + "/-/healthy").IsSetByUser(&h.urlSet).StringVar(&h.url)
	c.Flag("web.config.file", "HTTP client configuration for a daemon with TLS or basic auth, in Prometheus' http_config format (as promtool's --http.config.file): tls_config (ca_file, cert_file, key_file, server_name, insecure_skip_verify) and basic_auth (username, password or password_file). Not the daemon's own web configuration, which holds only password hashes.").StringVar(&h.webConfig)
	durationFlag(c, "timeout", "How long the request may take.", "5s", &h.timeout, time.Millisecond, 5*time.Minute)
	return h
}

// validate refuses a --url that is not an absolute http or https URL.
func (h *healthOptions) validate() error {
	u, err := neturl.Parse(h.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want an http:// or https:// URL", h.url)
	}
	return nil
}

// healthcheck implements `borderwatch healthcheck`: exit 0 when the URL
// answers 200, 1 otherwise.
func healthcheck(h *healthOptions, stderr io.Writer) int {
	c, url, err := h.client()
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v\n", err)
		return 1
	}
	resp, err := c.Get(url)
	if err != nil {
		hint := ""
		if strings.HasPrefix(url, "https:") && !h.clientCert && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "certificate required")) {
			// TLS 1.3: the server refuses a missing client certificate
			// after the client's side of the handshake is done.
			hint = " (the daemon may require a client certificate: cert_file and key_file in tls_config)"
		}
		fmt.Fprintf(stderr, "borderwatch: %v%s\n", err, hint)
		return 1
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized {
			hint = " (the daemon has basic auth: give basic_auth in --web.config.file)"
		}
		fmt.Fprintf(stderr, "borderwatch: %s: %s%s\n", url, resp.Status, hint)
		return 1
	}
	return 0
}

// client returns the HTTP client of the web configuration and the URL to
// check.
func (h *healthOptions) client() (*http.Client, string, error) {
	cfg := config.DefaultHTTPClientConfig
	if h.webConfig != "" {
		c, _, err := config.LoadHTTPConfigFile(h.webConfig)
		if err != nil {
			if strings.Contains(err.Error(), "tls_server_config") || strings.Contains(err.Error(), "basic_auth_users") {
				err = errors.New("this is a daemon's web configuration; the healthcheck needs a client configuration (tls_config, basic_auth: see README, Commands)")
			}
			// One line: YAML errors come one per line.
			return nil, "", fmt.Errorf("--web.config.file %s: %s", h.webConfig, strings.ReplaceAll(err.Error(), "\n ", ";"))
		}
		cfg = *c
	}
	// One GET needs no HTTP/2; over HTTP/1.1 a refused client certificate
	// is reported as the TLS alert it is ("tls: certificate required"),
	// where HTTP/2 may report only that the connection failed.
	cfg.EnableHTTP2 = false
	client, err := config.NewClientFromConfig(cfg, "borderwatch-healthcheck")
	if err != nil {
		return nil, "", fmt.Errorf("--web.config.file %s: %w", h.webConfig, err)
	}
	client.Timeout = h.timeout
	h.clientCert = cfg.TLSConfig.CertFile != "" || cfg.TLSConfig.Cert != "" || cfg.TLSConfig.CertRef != ""
	url := h.url
	if !h.urlSet && !reflect.ValueOf(cfg.TLSConfig).IsZero() {
		url = "https" + strings.TrimPrefix(url, "http")
	}
	return client, url, nil
}
