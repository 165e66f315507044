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
	// Amazon (AWS, Amazon.com; 135630: AWS China; 214101: Amazon Data
	// Services European sovereign cloud)
	16509: "Amazon", 14618: "Amazon", 8987: "Amazon", 7224: "Amazon", 38895: "Amazon", 135630: "Amazon", 214101: "Amazon",
	// Google (Google Cloud, YouTube, Google services; not Google Fiber,
	// AS16591, a residential ISP)
	15169: "Google", 396982: "Google", 36040: "Google", 19527: "Google", 139070: "Google", 43515: "Google", 16550: "Google",
	36384: "Google", 36492: "Google", 45566: "Google",
	// Microsoft (Azure, Microsoft 365)
	8075: "Microsoft", 8068: "Microsoft", 8069: "Microsoft", 8070: "Microsoft", 8071: "Microsoft", 3598: "Microsoft",
	12076: "Microsoft", 200517: "Microsoft", 35106: "Microsoft", 45139: "Microsoft",
	// Oracle (Oracle Cloud Infrastructure; 33517: Dyn)
	31898: "Oracle", 1215: "Oracle", 54253: "Oracle", 33517: "Oracle",
	// Akamai (CDN; Linode's network is listed as Linode below)
	20940: "Akamai", 16625: "Akamai", 32787: "Akamai", 21342: "Akamai", 35994: "Akamai", 12222: "Akamai", 18680: "Akamai",
	200005: "Akamai", 34164: "Akamai", 33905: "Akamai", 31984: "Akamai",
	// Cloudflare
	13335: "Cloudflare", 209242: "Cloudflare", 395747: "Cloudflare", 132892: "Cloudflare", 14789: "Cloudflare",
	202623: "Cloudflare", 203898: "Cloudflare", 394536: "Cloudflare", 139242: "Cloudflare",
	// Fastly
	54113: "Fastly",
	// ByteDance (TikTok, BytePlus; 11983: TikTok U.S. Data Security)
	138699: "ByteDance", 396986: "ByteDance", 150436: "ByteDance", 11983: "ByteDance",
	// Alibaba (Alibaba Cloud, Taobao)
	45102: "Alibaba", 37963: "Alibaba", 24429: "Alibaba", 134963: "Alibaba",
	// Tencent (Tencent Cloud, WeChat, QQ)
	45090: "Tencent", 132203: "Tencent", 132591: "Tencent", 133478: "Tencent", 137876: "Tencent",
	// Huawei (Huawei Cloud)
	55990: "Huawei", 136907: "Huawei", 131444: "Huawei", 200756: "Huawei", 265443: "Huawei",
	206798: "Huawei", 206204: "Huawei", 141180: "Huawei", 149167: "Huawei",
	// Baidu
	38365: "Baidu", 55967: "Baidu", 63288: "Baidu", 199506: "Baidu", 133746: "Baidu", 38627: "Baidu",
	// Meta (Facebook, Instagram, WhatsApp)
	32934: "Meta", 63293: "Meta", 54115: "Meta", 149642: "Meta",
	// Apple
	714: "Apple", 6185: "Apple",
	// Hetzner
	24940: "Hetzner", 213230: "Hetzner", 212317: "Hetzner", 215859: "Hetzner",
	// OVH
	16276: "OVH", 35540: "OVH",
	// DigitalOcean
	14061: "DigitalOcean", 393406: "DigitalOcean", 46652: "DigitalOcean",
	// Linode (Akamai Connected Cloud; AS63949 is named Akamai Technologies
	// since Akamai bought Linode, and kept as Linode to tell the cloud
	// from the CDN)
	63949: "Linode", 48337: "Linode",
	// Vultr (The Constant Company)
	20473: "Vultr", 54094: "Vultr", 46407: "Vultr", 11508: "Vultr",
	// Yandex (Yandex, Yandex.Cloud)
	13238: "Yandex", 200350: "Yandex", 202611: "Yandex", 44534: "Yandex", 215013: "Yandex", 210656: "Yandex",
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
