package geo

// CountryUnknown is the operator country of a network whose operator's
// country borderwatch does not know.
const CountryUnknown = "unknown"

// operatorCountries gives, for each provider of the table, the country
// where its operator (the parent company) is headquartered: the
// jurisdiction it answers to, wherever its servers are.
var operatorCountries = map[string]string{
	"Amazon":       "US", // Amazon.com, Inc., Seattle
	"Google":       "US", // Alphabet Inc., Mountain View
	"Microsoft":    "US", // Redmond
	"Oracle":       "US", // Austin
	"Meta":         "US", // Menlo Park
	"Apple":        "US", // Cupertino
	"Akamai":       "US", // Cambridge, Massachusetts
	"Linode":       "US", // Akamai since 2022
	"Cloudflare":   "US", // San Francisco
	"Fastly":       "US", // San Francisco
	"DigitalOcean": "US", // New York
	"Vultr":        "US", // The Constant Company, West Palm Beach
	"ByteDance":    "CN", // Beijing (TikTok U.S. Data Security included: a ByteDance subsidiary)
	"Alibaba":      "CN", // Hangzhou
	"Tencent":      "CN", // Shenzhen
	"Huawei":       "CN", // Shenzhen
	"Baidu":        "CN", // Beijing
	"Yandex":       "RU", // Moscow
	"Hetzner":      "DE", // Gunzenhausen
	"OVH":          "FR", // Roubaix
}

// OperatorCountry returns the country where a provider's operator is
// headquartered, or "unknown" for "other", "unknown" and any provider
// not in the curated list (Config.Providers may add names).
func OperatorCountry(provider string) string {
	if provider == ProviderOther || provider == ProviderUnknown || provider == "" {
		return CountryUnknown // most addresses of a flood: no map lookup
	}
	if c, ok := operatorCountries[provider]; ok {
		return c
	}
	return CountryUnknown
}
