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
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/borderwatch/borderwatch/internal/startup"
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
	stampVersion()
	app := kingpin.New("borderwatch", "Tells where your traffic goes: per remote country, AS, hosting provider and app, and how much leaves your home region, from capture files or live interfaces, as Prometheus metrics.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
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

	lookupCmd := app.Command("lookup", "Print what the geo databases and published ranges say about addresses: country, ASN, organisation, provider, cloud region, operator country, region; with --geo.site-location the distance from the site to the country, with --rtt the placement a round trip gives.")
	lookupAddrs := lookupCmd.Arg("address", "IPv4 or IPv6 addresses").Required().Strings()
	lookupCmd.Flag("rtt", "Place the addresses as if they had answered a handshake after this round trip (e.g. 3ms), from --geo.site-location: shows what the round trip rules out.").DurationVar(&o.lookupRTT)

	healthCmd := app.Command("healthcheck", "Exit 0 if the daemon at --url answers /-/healthy with 200 (for container health checks).")
	h := addHealthcheck(healthCmd)

	cmd, exit, err := parse(app, args)
	if exit >= 0 { // --help, --version, help COMMAND: done, nothing runs
		return exit
	}
	if err == nil {
		err = o.validate(cmd == runCmd.FullCommand(), cmd == readCmd.FullCommand())
	}
	if err == nil && cmd == healthCmd.FullCommand() {
		err = h.validate()
	}
	if err != nil {
		err = nameLogFlag(err)
	}
	if err != nil {
		see := "borderwatch --help"
		if cmd != "" {
			see = "borderwatch help " + cmd
		}
		fmt.Fprintf(stderr, "borderwatch: %s (see %s)\n", strings.ReplaceAll(err.Error(), stdinArg, "-"), see)
		return 2
	}
	unStdin(o.readFiles)
	unStdin(*lookupAddrs)
	logCfg.Writer = stderr
	logger := promslog.New(&logCfg)

	switch cmd {
	case lookupCmd.FullCommand():
		startup.Done(0)
		return lookup(o, *lookupAddrs, stdout, stderr)
	case healthCmd.FullCommand():
		startup.Done(0)
		return healthcheck(h, stderr)
	case readCmd.FullCommand():
		return read(ctx, o, logger, stdout, stderr)
	default:
		if err := checkFiles(o.files); err != nil {
			logger.Error("capture file", "err", err)
			return 1
		}
		return daemon(ctx, o, logger, stderr)
	}
}

// nameLogFlag names the flag in promslog's errors, which do not.
func nameLogFlag(err error) error {
	msg := err.Error()
	for _, f := range []struct{ prefix, flag, values string }{
		{"unrecognized log level", "--log.level", "debug, info, warn, error"},
		{"unrecognized log format", "--log.format", "logfmt, json"},
	} {
		if strings.HasPrefix(msg, f.prefix) {
			return fmt.Errorf("%s %q: want one of %s", f.flag, strings.TrimPrefix(strings.TrimPrefix(msg, f.prefix), " "), f.values)
		}
	}
	return err
}

// exitRequest is how kingpin's terminate (after --help, --version or
// help COMMAND) leaves app.Parse: kingpin would otherwise go on and the
// command would run after the help.
type exitRequest struct{ code int }

// parse parses args. exit is the status to exit with right away (0 after
// the help or the version, 2 after a usage error kingpin reported itself),
// or -1 when the command is to run.
func parse(app *kingpin.Application, args []string) (cmd string, exit int, err error) {
	app.Terminate(func(code int) { panic(exitRequest{code}) })
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			cmd, exit, err = "", e.code, nil
			if exit != 0 {
				exit = 2
			}
		}
	}()
	cmd, err = app.Parse(stdinArgs(app, args))
	return cmd, -1, err
}

// stdinArg stands for a bare "-" (standard input) while kingpin parses:
// kingpin turns a lone "-" into "". It starts with neither "-" nor "@", so
// kingpin takes it as an argument.
const stdinArg = "\x00stdin\x00"

// stdinArgs rewrites args for kingpin: a value flag followed by "-" or a
// negative number ("--capture.file -", "--workers -3") becomes
// "--flag=VALUE" (kingpin would take the value for a short flag), and any
// other bare "-" becomes stdinArg. Arguments after "--" are left alone.
func stdinArgs(app *kingpin.Application, args []string) []string {
	valueFlags := map[string]bool{}
	m := app.Model()
	add := func(fs []*kingpin.FlagModel) {
		for _, f := range fs {
			if !f.IsBoolFlag() {
				valueFlags[f.Name] = true
			}
		}
	}
	add(m.Flags)
	var walk func(cs []*kingpin.CmdModel)
	walk = func(cs []*kingpin.CmdModel) {
		for _, c := range cs {
			add(c.Flags)
			walk(c.Commands)
		}
	}
	walk(m.Commands)

	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "-":
			out = append(out, stdinArg)
		case strings.HasPrefix(a, "--") && !strings.Contains(a, "=") && valueFlags[a[2:]] &&
			i+1 < len(args) && looksLikeValue(args[i+1]):
			out = append(out, a+"="+args[i+1])
			i++
		default:
			out = append(out, a)
		}
	}
	return out
}

// looksLikeValue reports whether an argument that starts with "-" is a
// value ("-", "-3", "-1s", "-.5", "-Inf") rather than a flag.
func looksLikeValue(s string) bool {
	if s == "-" {
		return true
	}
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	switch strings.ToLower(s[1:]) {
	case "inf", "infinity", "nan":
		return true
	}
	return s[1] >= '0' && s[1] <= '9' || s[1] == '.'
}

func unStdin(args []string) {
	for i, a := range args {
		if a == stdinArg {
			args[i] = "-"
		}
	}
}

var versionOnce sync.Once

// stampVersion fills in the version and build date from the binary's build
// information when the build did not set them with -ldflags -X (a plain
// go build or go install). prometheus/common/version finds the VCS
// revision there itself.
func stampVersion() {
	versionOnce.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		v, date := buildVersion(bi)
		if version.Version == "" {
			version.Version = v
		}
		if version.BuildDate == "" {
			version.BuildDate = date
		}
	})
}

// buildVersion returns the main module's version ("v1.2.3" from go
// install, a pseudo-version such as "v0.0.0-20261201230054-2442820cad09"
// from a VCS checkout, else "(devel)") and the VCS commit time.
func buildVersion(bi *debug.BuildInfo) (v, date string) {
	v = bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			date = s.Value
		}
	}
	return v, date
}
