package geo

import "maps"

// Provider values besides the table's names.
const (
	// ProviderOther is the provider of an AS that is not in the table.
	ProviderOther = "other"
	// ProviderUnknown is the provider of an address whose AS is unknown.
	ProviderUnknown = "unknown"
)

// builtinProviders maps the AS numbers of large hosting, cloud and CDN
// operators to one normalised provider name each. Every number was checked
// against the organisation the embedded ASN database gives it
// (TestProvidersMatchOrganisations). An AS not listed is provider "other";
// the organisation name stays available in reports and `borderwatch lookup`.
// Extend or override it with Config.Providers (`providers:` in the
// configuration file).
var builtinProviders = map[uint32]string{
	// Amazon (AWS, Amazon.com)
	16509: "Amazon", 14618: "Amazon", 8987: "Amazon", 7224: "Amazon",
	// Google (Google Cloud, YouTube, Google services)
	15169: "Google", 396982: "Google", 36040: "Google", 19527: "Google", 139070: "Google", 43515: "Google", 16550: "Google",
	// Microsoft (Azure, Microsoft 365)
	8075: "Microsoft", 8068: "Microsoft", 8069: "Microsoft", 3598: "Microsoft", 12076: "Microsoft",
	// Oracle (Oracle Cloud Infrastructure)
	31898: "Oracle", 1215: "Oracle",
	// Akamai (CDN; Linode's network is listed as Linode below)
	20940: "Akamai", 16625: "Akamai", 32787: "Akamai", 21342: "Akamai", 35994: "Akamai", 12222: "Akamai", 18680: "Akamai",
	// Cloudflare
	13335: "Cloudflare", 209242: "Cloudflare", 395747: "Cloudflare",
	// Fastly
	54113: "Fastly",
	// ByteDance (TikTok, BytePlus)
	138699: "ByteDance", 396986: "ByteDance", 150436: "ByteDance",
	// Alibaba (Alibaba Cloud, Taobao)
	45102: "Alibaba", 37963: "Alibaba", 24429: "Alibaba", 134963: "Alibaba",
	// Tencent (Tencent Cloud, WeChat, QQ)
	45090: "Tencent", 132203: "Tencent", 132591: "Tencent", 133478: "Tencent",
	// Huawei (Huawei Cloud)
	55990: "Huawei", 136907: "Huawei", 131444: "Huawei", 200756: "Huawei", 265443: "Huawei",
	// Baidu
	38365: "Baidu", 55967: "Baidu",
	// Meta (Facebook, Instagram, WhatsApp)
	32934: "Meta", 63293: "Meta", 54115: "Meta",
	// Apple
	714: "Apple", 6185: "Apple",
	// Hetzner
	24940: "Hetzner", 213230: "Hetzner", 212317: "Hetzner",
	// OVH
	16276: "OVH", 35540: "OVH",
	// DigitalOcean
	14061: "DigitalOcean", 393406: "DigitalOcean",
	// Linode (Akamai Connected Cloud)
	63949: "Linode", 48337: "Linode",
	// Vultr (The Constant Company)
	20473: "Vultr",
	// Yandex (Yandex, Yandex.Cloud)
	13238: "Yandex", 200350: "Yandex",
}

// DefaultProviders returns a copy of the built-in ASN -> provider table.
func DefaultProviders() map[uint32]string { return maps.Clone(builtinProviders) }

// ProviderFor returns the provider of an AS number: extra's entry if it
// has one (extra overrides and extends the table; it may be nil), else the
// built-in table's, else "other"; asn 0 (no AS known) is "unknown".
func ProviderFor(asn uint32, extra map[uint32]string) string {
	if asn == 0 {
		return ProviderUnknown
	}
	if p, ok := extra[asn]; ok {
		return p
	}
	return providerIn(builtinProviders, asn)
}

func providerIn(table map[uint32]string, asn uint32) string {
	if asn == 0 {
		return ProviderUnknown
	}
	if p, ok := table[asn]; ok {
		return p
	}
	return ProviderOther
}

func mergeProviders(extra map[uint32]string) map[uint32]string {
	m := maps.Clone(builtinProviders)
	maps.Copy(m, extra)
	return m
}
