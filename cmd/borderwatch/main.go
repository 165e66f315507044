// Command borderwatch tells where a network's traffic goes: it reads
// capture files or watches interfaces, follows every flow, learns the name
// behind each remote address, classifies the app, places the remote end in
// a country, an AS and a hosting provider, and exports Prometheus metrics
// about how much data leaves the home region.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// defaultListen is borderwatch's port: the Prometheus exporter range
// 9100-9999 is fully allocated, so it uses 10107 (see README, "Port").
const defaultListen = ":10107"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// runContext runs borderwatch until ctx ends (signals, or a test).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("borderwatch", "Tells where your traffic goes: per remote country, AS, hosting provider and app, and how much leaves your home region, from capture files or live interfaces, as Prometheus metrics.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(nil)
	app.Version(version.Print("borderwatch"))
	app.HelpFlag.Short('h')

	o := &options{}
	o.addCommon(app)
	var logCfg promslog.Config
	promslogflag.AddFlags(app, &logCfg)

	runCmd := app.Command("run", "Run the daemon: capture (live or from files), serve /metrics. The default command.").Default()
	o.addRun(runCmd)
	o.web = kingpinflag.AddFlags(runCmd, defaultListen)

	readCmd := app.Command("read", "Read capture files as fast as possible and print a report (table, json, or the Prometheus exposition a scrape would return).")
	o.addRead(readCmd)

	lookupCmd := app.Command("lookup", "Print what the geo databases say about addresses: country, ASN, organisation, provider.")
	lookupAddrs := lookupCmd.Arg("address", "IPv4 or IPv6 addresses").Required().Strings()

	healthCmd := app.Command("healthcheck", "Exit 0 if the daemon at --url answers /-/healthy (for container health checks).")
	healthURL := healthCmd.Flag("url", "The daemon's health endpoint.").Default("http://127.0.0.1" + defaultListen + "/-/healthy").String()

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v (see borderwatch --help)\n", err)
		return 2
	}
	if cmd == "" { // --help or --version
		return 0
	}
	logCfg.Writer = stderr
	logger := promslog.New(&logCfg)

	switch cmd {
	case lookupCmd.FullCommand():
		return lookup(o, *lookupAddrs, stdout, stderr)
	case healthCmd.FullCommand():
		return healthcheck(*healthURL, stderr)
	case readCmd.FullCommand():
		return read(ctx, o, logger, stdout, stderr)
	default:
		return daemon(ctx, o, logger, stderr)
	}
}

func workersDefault() int {
	return max(1, runtime.GOMAXPROCS(0)-1)
}

func healthcheck(url string, stderr io.Writer) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "borderwatch: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "borderwatch: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
