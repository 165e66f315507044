package metrics

import (
	"github.com/borderwatch/borderwatch/names"
	"github.com/prometheus/client_golang/prometheus"
)

type namesCollector struct {
	stats                           *names.Stats
	cache                           *names.Cache
	learned, errors, ech, overflow  *prometheus.Desc
	dnsMessages, quicInitials, size *prometheus.Desc
	noSNI, recycled, evictions      *prometheus.Desc
	literals                        *prometheus.Desc
}

// NewNamesCollector exports what name learning saw.
func NewNamesCollector(stats *names.Stats, cache *names.Cache) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &namesCollector{
		stats:        stats,
		cache:        cache,
		learned:      d("names_learned_total", "Names learned, by source: DNS answers (per address), TLS SNI, QUIC SNI, HTTP Host.", "source"),
		errors:       d("names_parse_errors_total", "Malformed DNS, TLS or QUIC handshake payloads, counted and ignored.", "protocol"),
		ech:          d("tls_ech_total", "TLS ClientHellos with Encrypted Client Hello (the SNI seen is the public name)."),
		overflow:     d("names_reassembly_overflow_total", "First client flights not reassembled because a limit was reached (slots or bytes)."),
		dnsMessages:  d("dns_responses_total", "DNS responses parsed."),
		quicInitials: d("quic_initials_total", "QUIC Initial packets examined."),
		size:         d("names_cache_entries", "Client/address pairs in the DNS name cache."),
		noSNI:        d("tls_no_sni_total", "TLS ClientHellos parsed that carry no server name."),
		recycled:     d("names_reassembly_slots_recycled_total", "Reassembly slots taken from another flow's unfinished first flight (that flow is then not named by it)."),
		evictions:    d("names_cache_evictions_total", "Live entries dropped from the full DNS name cache to make room."),
		literals:     d("names_address_literals_total", "SNIs and HTTP Hosts that are IP address literals: not names, the flow is not named by them."),
	}
}

func (c *namesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.learned, c.errors, c.ech, c.overflow, c.dnsMessages, c.quicInitials, c.size, c.noSNI, c.recycled, c.evictions, c.literals} {
		ch <- d
	}
}

func (c *namesCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	counter(c.learned, s.DNSAnswers.Load(), "dns")
	counter(c.learned, s.TLSHellos.Load(), "sni")
	counter(c.learned, s.QUICHellos.Load(), "quic")
	counter(c.learned, s.HTTPHosts.Load(), "http")
	counter(c.errors, s.DNSMalformed.Load(), "dns")
	counter(c.errors, s.TLSMalformed.Load(), "tls")
	counter(c.errors, s.QUICMalformed.Load()+s.QUICDecryptFailed.Load(), "quic")
	counter(c.ech, s.TLSECH.Load())
	counter(c.overflow, s.ReassemblyOverflow.Load())
	counter(c.dnsMessages, s.DNSMessages.Load())
	counter(c.quicInitials, s.QUICInitials.Load())
	counter(c.noSNI, s.TLSNoSNI.Load())
	counter(c.recycled, s.SlotsRecycled.Load())
	counter(c.evictions, c.cache.Evictions())
	counter(c.literals, s.AddressLiterals.Load())
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(c.cache.Len()))
}
