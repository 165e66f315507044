package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/borderwatch/borderwatch/config"
	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/geo"
	"github.com/borderwatch/borderwatch/names"
	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/exporter-toolkit/web"
)

// options holds every flag.
type options struct {
	configFile  string
	configCheck bool
	countryDB   string
	asnDB       string
	geoCache    int
	homeRegion  string
	localNets   []string
	seriesLimit int
	asnLabel    bool
	maxFlows    int
	idle        time.Duration
	active      time.Duration
	workers     int
	dnsPorts    []uint

	// run
	files      []string
	fileRate   float64
	interfaces []string
	filter     string
	filterBPF  string
	promisc    bool
	snapLen    int
	blockSize  int
	numBlocks  int
	pollTO     time.Duration
	web        *web.FlagConfig
	metricPath string

	// read
	readFiles    []string
	format       string
	top          int
	maxEndpoints int
	progress     string
	cpuProfile   string
}

func (o *options) addCommon(app *kingpin.Application) {
	app.Flag("config.file", "YAML configuration file: home region, named regions, local networks, client groups, provider and app extensions (see README, Configuration).").StringVar(&o.configFile)
	app.Flag("config.check", "Validate --config.file and the databases, print the result and exit.").BoolVar(&o.configCheck)
	app.Flag("geo.country-db", "Country database (MaxMind GeoIP2/GeoLite2 Country or City, DB-IP, IPinfo Lite .mmdb). Default: the embedded database (RIR whois data via ip-location-db, CC0).").StringVar(&o.countryDB)
	app.Flag("geo.asn-db", "ASN database (MaxMind GeoLite2 ASN, DB-IP ASN, IPinfo Lite .mmdb). Default: the embedded database (RouteViews + RIRs + DB-IP ASN Lite via ip-location-db, CC BY 4.0).").StringVar(&o.asnDB)
	app.Flag("geo.cache-size", "Geo lookups cached per worker.").Default("65536").IntVar(&o.geoCache)
	app.Flag("geo.home-region", "Home region: ISO country codes and/or region sets, comma-separated (e.g. EU or EU,CH or US). Traffic to other countries is region=\"abroad\". Overrides home_region in the config file. Empty: every region label is \"unknown\".").StringVar(&o.homeRegion)
	app.Flag("capture.local-network", "A prefix of local addresses, in addition to the defaults (RFC 1918, RFC 6598, loopback, link-local, ULA). Repeatable.").StringsVar(&o.localNets)
	app.Flag("metrics.series-limit", "Series budget: distinct traffic label sets beyond it fold into \"other\" values (counted in borderwatch_series_overflow_total).").Default("10000").IntVar(&o.seriesLimit)
	app.Flag("metrics.asn-label", "Add an asn label (the remote AS number) to the traffic series.").BoolVar(&o.asnLabel)
	app.Flag("flow.max-flows", "Hard limit on flows tracked at once (all workers); past it the oldest in a slot is evicted and counted.").Default("262144").IntVar(&o.maxFlows)
	app.Flag("flow.idle-timeout", "A flow with no packet for this long ends.").Default("60s").DurationVar(&o.idle)
	app.Flag("flow.active-timeout", "A flow ends this long after its start even if busy (NetFlow's active timeout).").Default("30m").DurationVar(&o.active)
	app.Flag("workers", "Flow workers (0: one per core, less the reader's).").Default("0").IntVar(&o.workers)
	app.Flag("names.dns-port", "UDP/TCP port whose answers are read as DNS. Repeatable.").Default("53").UintsVar(&o.dnsPorts)
}

func (o *options) addRun(c *kingpin.CmdClause) {
	c.Flag("capture.file", "Capture file to read (pcap, pcapng, optionally gzip-compressed; - for standard input). Repeatable. The daemon keeps serving the final counts after the files end.").StringsVar(&o.files)
	c.Flag("capture.file-rate", "Read capture files at most this many packets per second (0: as fast as possible), e.g. to watch counters grow in a demo or a test.").Default("0").Float64Var(&o.fileRate)
	c.Flag("capture.interface", "Network interface to capture from live (AF_PACKET, Linux). Repeatable; \"any\" captures on all.").StringsVar(&o.interfaces)
	c.Flag("capture.filter", "Capture filter in tcpdump syntax (e.g. 'not port 22'), applied in the kernel; compiled by libpcap (libpcap0.8), loaded at run time. Without libpcap, use --capture.filter-bpf.").StringVar(&o.filter)
	c.Flag("capture.filter-bpf", "File with a compiled classic BPF program (the output of tcpdump -ddd; for \"any\" and tunnels compile with tcpdump -y RAW), applied in the kernel; needs no libpcap.").StringVar(&o.filterBPF)
	c.Flag("capture.promiscuous", "Put the interfaces in promiscuous mode (needs CAP_NET_ADMIN).").BoolVar(&o.promisc)
	c.Flag("capture.snaplen", "Bytes kept per frame (applied in the kernel). Counts use the IP header's length, so they stay exact with a short snap length, but names (SNI, DNS, Host) need whole packets.").Default("262144").IntVar(&o.snapLen)
	c.Flag("capture.block-size", "TPACKET_V3 ring block size in bytes.").Default("1048576").IntVar(&o.blockSize)
	c.Flag("capture.num-blocks", "TPACKET_V3 ring blocks per socket; memory is block size x blocks x workers per interface. Raise it when borderwatch_capture_kernel_drops_total grows.").Default("32").IntVar(&o.numBlocks)
	c.Flag("capture.poll-timeout", "How long a worker waits for frames before flushing its batch and checking the interface.").Default("100ms").DurationVar(&o.pollTO)
	c.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.metricPath)
}

func (o *options) addRead(c *kingpin.CmdClause) {
	c.Arg("file", "Capture files (pcap, pcapng, optionally gzip-compressed; - for standard input).").Required().StringsVar(&o.readFiles)
	c.Flag("format", "Output: table (for people), json, or prometheus (the text exposition format, exactly what a scrape would return).").Default("table").EnumVar(&o.format, "table", "json", "prometheus")
	c.Flag("top", "Rows per breakdown and endpoints listed (0: all).").Default("20").IntVar(&o.top)
	c.Flag("report.max-endpoints", "Remote addresses tracked for the report; the rest are summed as \"other\".").Default("1048576").IntVar(&o.maxEndpoints)
	c.Flag("debug.cpu-profile", "Write a Go CPU profile of the read to this file.").Hidden().StringVar(&o.cpuProfile)
	c.Flag("progress", "Progress line on standard error: auto (when it is a terminal), always, never.").Default("auto").EnumVar(&o.progress, "auto", "always", "never")
}

// settings is what the flags and the config file resolve to.
type settings struct {
	cfg    *config.Config
	policy *pipeline.Policy
	home   []string
}

func (o *options) loadConfig() (*config.Config, error) {
	if o.configFile == "" {
		return config.Default(), nil
	}
	return config.Load(o.configFile)
}

// settings loads the configuration file (if any) and resolves it with the
// flags, opening the databases.
func (o *options) settings() (*settings, error) {
	cfg, err := o.loadConfig()
	if err != nil {
		return nil, err
	}
	return o.buildPolicy(cfg, nil)
}

// buildPolicy resolves flags + config into a placement policy. geoRes may
// be reused from a previous policy (reload keeps the databases).
func (o *options) buildPolicy(cfg *config.Config, geoRes *geo.Resolver) (*settings, error) {
	ov := pipeline.PolicyOverrides{HomeRegion: splitList(o.homeRegion), Geo: geo.DefaultConfig()}
	if len(ov.HomeRegion) > 0 {
		// Checked here to name the flag; NewPolicy expands it again.
		if _, err := config.ExpandRegion(ov.HomeRegion, cfg.Regions); err != nil {
			return nil, fmt.Errorf("--geo.home-region: %w", err)
		}
	}
	for _, s := range o.localNets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("--capture.local-network %q: not a prefix or address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ov.LocalNetworks = append(ov.LocalNetworks, p)
	}
	ov.Geo.CountryDB, ov.Geo.ASNDB = o.countryDB, o.asnDB
	if o.geoCache > 0 {
		ov.Geo.CacheSize = o.geoCache
	}
	pol, err := pipeline.NewPolicy(cfg, ov, geoRes)
	if err != nil {
		return nil, err
	}
	return &settings{cfg: cfg, policy: pol, home: pol.HomeRegion}, nil
}

func (o *options) pipelineConfig(forFiles bool) pipeline.Config {
	pc := pipeline.DefaultConfig()
	pc.Workers = o.workers
	if pc.Workers <= 0 {
		// Files: one reader goroutine decodes, the rest count. Live: the
		// kernel's fan-out dispatches, one socket and worker per core.
		pc.Workers = workersDefault()
		if !forFiles {
			pc.Workers = runtime.GOMAXPROCS(0)
		}
	}
	pc.Flow = flow.Config{MaxFlows: o.maxFlows, IdleTimeout: o.idle, ActiveTimeout: o.active}
	pc.SeriesLimit = o.seriesLimit
	pc.ASNLabel = o.asnLabel
	nc := names.DefaultConfig()
	if len(o.dnsPorts) > 0 {
		nc.DNSPorts = nil
		for _, p := range o.dnsPorts {
			nc.DNSPorts = append(nc.DNSPorts, uint16(p))
		}
	}
	pc.Names = nc
	return pc
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
