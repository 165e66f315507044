package apps

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func defaultCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassify(t *testing.T) {
	c := defaultCatalog(t)
	for _, tc := range []struct {
		desc string
		name string
		asn  uint32
		want string
	}{
		{"apex", "tiktok.com", 0, "tiktok"},
		{"subdomain", "www.tiktok.com", 0, "tiktok"},
		{"deep subdomain", "api16-normal-c-useast1a.tiktokv.com", 0, "tiktok"},
		{"not on a label boundary", "nottiktok.com", 0, Unknown},
		{"suffix inside the name", "tiktok.com.example.net", 0, Unknown},
		{"shorter than the suffix", "tiktok.co", 0, Unknown},
		{"bare public suffix", "com", 0, Unknown},
		{"musical.ly API (mobile capture)", "api2.musical.ly", 0, "tiktok"},
		{"upper case", "WWW.TikTok.COM", 0, "tiktok"},
		{"trailing dot", "www.tiktok.com.", 0, "tiktok"},
		{"HTTP Host with port", "www.tiktok.com:8080", 0, "tiktok"},
		{"upper case, dot and port", "V16M.TIKTOKCDN.COM.:443", 0, "tiktok"},
		{"longer suffix wins: googlevideo is youtube", "rr3---sn-4g5e6nz7.googlevideo.com", 0, "youtube"},
		{"longer suffix wins: youtubei.googleapis.com", "youtubei.googleapis.com", 0, "youtube"},
		{"shorter suffix: googleapis.com", "www.googleapis.com", 0, "google"},
		{"longer suffix wins: yt3.ggpht.com", "yt3.ggpht.com", 0, "youtube"},
		{"shorter suffix: ggpht.com", "lh3.ggpht.com", 0, "google"},
		{"longer suffix wins: weixin.qq.com", "short.weixin.qq.com", 0, "wechat"},
		{"shorter suffix: qq.com", "mail.qq.com", 0, "qq"},
		{"longer suffix wins: teams.microsoft.com", "presence.teams.microsoft.com", 0, "microsoft365"},
		{"Google country domain", "www.google.com.br", 0, "google"},
		{"Google brand TLD", "dns.google", 0, "google"},
		{"Meta brand TLD", "turner.facebook", 0, "facebook"},
		{"App Engine customer", "someone.appspot.com", 0, Unknown},
		{"Snapchat on App Engine", "feelinsonice-hrd.appspot.com", 0, "snapchat"},
		{"Azure customer", "foo.cloudapp.azure.com", 0, Unknown},
		{"AWS customer", "s3.amazonaws.com", 0, Unknown},
		{"no name: dedicated AS", "", 62041, "telegram"},
		{"no name: TikTok AS", "", 138699, "tiktok"},
		{"no name: Google AS", "", 15169, "google"},
		{"no name: shared AS (AWS)", "", 16509, Unknown},
		{"no name: shared AS (Meta)", "", 32934, Unknown},
		{"no name, no AS", "", 0, Unknown},
		{"unmatched name in a dedicated AS stays unknown", "example.org", 62041, Unknown},
		{"matched name beats the AS", "www.netflix.com", 62041, "netflix"},
		{"IPv4 literal counts as no name", "149.154.167.51", 62041, "telegram"},
		{"IPv6 literal counts as no name", "[2001:67c:4e8::1]:443", 62041, "telegram"},
		{"empty labels", "..", 0, Unknown},
		{"over-long name", strings.Repeat("a.", 200) + "tiktok.com", 0, Unknown},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := c.Classify(tc.name, tc.asn); got != tc.want {
				t.Errorf("Classify(%q, %d) = %q, want %q", tc.name, tc.asn, got, tc.want)
			}
		})
	}
}

// TestBenchNames: the names the shared benchmark generator
// (shared/bench/genpcap) puts in its capture classify as the apps they
// belong to.
func TestBenchNames(t *testing.T) {
	c := defaultCatalog(t)
	for name, want := range map[string]string{
		"www.tiktok.com": "tiktok", "v16-webapp.tiktok.com": "tiktok", "api16-normal-c-useast1a.tiktokv.com": "tiktok",
		"p16-sign-va.tiktokcdn.com": "tiktok", "mon.byteoversea.com": "tiktok", "log.byteoversea.com": "tiktok",
		"sf16-website-login.neutral.ttwstatic.com": "tiktok", "lf16-tiktok-web.ttwstatic.com": "tiktok",
		"www.google.com": "google", "rr3---sn-4g5e6nz7.googlevideo.com": "youtube", "fonts.gstatic.com": "google",
		"www.youtube.com": "youtube", "graph.facebook.com": "facebook", "scontent.xx.fbcdn.net": "facebook",
		"www.instagram.com": "instagram", "web.whatsapp.com": "whatsapp", "www.netflix.com": "netflix",
		"occ-0-1001-999.1.nflxso.net": "netflix", "d1.awsstatic.com": Unknown, "s3.amazonaws.com": Unknown,
		"login.microsoftonline.com": "microsoft365", "outlook.office365.com": "microsoft365",
		"teams.microsoft.com": "microsoft365", "www.apple.com": "apple", "weixin.qq.com": "wechat",
		"mmbiz.qpic.cn": "wechat", "www.baidu.com": "baidu", "yandex.ru": "yandex", "vk.com": "vk",
		"www.bbc.co.uk": Unknown, "github.com": Unknown, "api.telegram.org": "telegram", "discord.com": "discord",
		"zoom.us": "zoom", "temu.com": "temu", "www.shein.com": "shein", "www.aliexpress.com": "aliexpress",
		"www.alibabacloud.com": Unknown,
	} {
		if got := c.Classify(name, 0); got != want {
			t.Errorf("Classify(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestEveryDomain: every suffix of the catalog classifies to its own app,
// and so does a name below it.
func TestEveryDomain(t *testing.T) {
	c := defaultCatalog(t)
	n := 0
	for _, a := range c.Apps() {
		for _, d := range a.Domains {
			n++
			if got := c.Classify(d, 0); got != a.ID {
				t.Errorf("%s: Classify(%q) = %q", a.ID, d, got)
			}
			if got := c.Classify("x-borderwatch-test."+d, 0); got != a.ID {
				t.Errorf("%s: Classify(%q) = %q", a.ID, "x-borderwatch-test."+d, got)
			}
			if got := c.Classify("x"+d, 0); got == a.ID && !strings.Contains(d, ".") {
				t.Errorf("%s: %q matched %q across a label boundary", a.ID, "x"+d, d)
			}
		}
		for _, asn := range a.ASNs {
			if got := c.Classify("", asn); got != a.ID {
				t.Errorf("%s: Classify(\"\", AS%d) = %q", a.ID, asn, got)
			}
		}
	}
	if n < 300 {
		t.Errorf("only %d domains in the catalog", n)
	}
}

func TestIDs(t *testing.T) {
	c := defaultCatalog(t)
	want := []string{"alipay", "aliexpress", "amazon", "apple", "baidu", "capcut", "discord", "douyin", "facebook",
		"google", "instagram", "lemon8", "microsoft365", "netflix", "qq", "shein", "snapchat", "telegram", "temu",
		"tiktok", "unknown", "vk", "wechat", "whatsapp", "x", "yandex", "youtube", "zoom"}
	slices.Sort(want)
	if diff := cmp.Diff(want, c.IDs()); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
	for _, a := range c.Apps() {
		if a.Name == "" || a.Name == a.ID && len(a.ID) > 2 {
			t.Errorf("%s has no display name", a.ID)
		}
	}
	if got := c.Name("microsoft365"); got != "Microsoft 365" {
		t.Errorf("Name(microsoft365) = %q", got)
	}
	ids := c.IDs()
	ids[0] = "changed"
	if c.IDs()[0] == "changed" {
		t.Error("IDs exposes the catalog's slice")
	}
}

func TestNew(t *testing.T) {
	base := defaultCatalog(t).Apps()
	t.Run("replace and extend", func(t *testing.T) {
		c, err := New(base, []App{
			{ID: "tiktok", Name: "TikTok web only", Domains: []string{"TikTok.com."}},
			{ID: "intranet", Domains: []string{"intranet.example"}, ASNs: []uint32{64500}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"www.tiktok.com": "tiktok", "x.tiktokv.com": Unknown,
			"a.intranet.example": "intranet", "www.youtube.com": "youtube"} {
			if got := c.Classify(name, 0); got != want {
				t.Errorf("Classify(%q) = %q, want %q", name, got, want)
			}
		}
		if got := c.Classify("", 64500); got != "intranet" {
			t.Errorf("AS64500: %q", got)
		}
		if got := c.Classify("", 138699); got != Unknown {
			t.Errorf("replaced tiktok entry still has its AS: %q", got)
		}
		if got := c.Name("intranet"); got != "intranet" {
			t.Errorf("default display name %q", got)
		}
		if !slices.Contains(c.IDs(), "intranet") || len(c.IDs()) != len(base)+2 {
			t.Errorf("IDs: %v", c.IDs())
		}
	})
	t.Run("extra takes a suffix from the base", func(t *testing.T) {
		c, err := New(base, []App{{ID: "teams", Name: "Teams", Domains: []string{"teams.microsoft.com", "skype.com"}, ASNs: []uint32{36040}}})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"teams.microsoft.com": "teams", "api.skype.com": "teams",
			"www.microsoft.com": "microsoft365"} {
			if got := c.Classify(name, 0); got != want {
				t.Errorf("Classify(%q) = %q, want %q", name, got, want)
			}
		}
		if got := c.Classify("", 36040); got != "teams" {
			t.Errorf("AS36040: %q", got)
		}
		for _, a := range c.Apps() {
			if a.ID == "microsoft365" && slices.Contains(a.Domains, "skype.com") {
				t.Error("microsoft365 still lists skype.com")
			}
		}
	})
	t.Run("base is not modified", func(t *testing.T) {
		b := []App{{ID: "a", Name: "A", Domains: []string{"A.Example."}}}
		if _, err := New(b, nil); err != nil {
			t.Fatal(err)
		}
		if b[0].Domains[0] != "A.Example." {
			t.Errorf("New changed its input: %q", b[0].Domains[0])
		}
	})
	for _, tc := range []struct {
		desc        string
		base, extra []App
		want        string
	}{
		{"bad id", nil, []App{{ID: "Intranet", Domains: []string{"x.example"}}},
			`app "Intranet": id: must match [a-z0-9][a-z0-9_-]* (at most 64 characters) and not be "unknown" or "other"`},
		{"reserved id", nil, []App{{ID: "unknown", Domains: []string{"x.example"}}},
			`app "unknown": id: must match [a-z0-9][a-z0-9_-]* (at most 64 characters) and not be "unknown" or "other"`},
		{"nothing to match", nil, []App{{ID: "a"}}, `app "a": needs domains or asns`},
		{"space in domain", nil, []App{{ID: "a", Domains: []string{"ok.example", "a b.example"}}},
			`app "a": domains[1]: "a b.example" is not a domain suffix (letters, digits, '-' and '_' between dots)`},
		{"wildcard", nil, []App{{ID: "a", Domains: []string{"*.example.com"}}},
			`app "a": domains[0]: "*.example.com" is a wildcard: write the suffix alone, it matches every name below it`},
		{"empty label", nil, []App{{ID: "a", Domains: []string{"example..com"}}},
			`app "a": domains[0]: "example..com" is not a domain suffix (empty or over-long label)`},
		{"URL", nil, []App{{ID: "a", Domains: []string{"https://example.com/"}}},
			`app "a": domains[0]: "https://example.com/" is not a domain suffix (letters, digits, '-' and '_' between dots)`},
		{"empty domain", nil, []App{{ID: "a", Domains: []string{""}}}, `app "a": domains[0]: "" is empty`},
		{"AS 0", nil, []App{{ID: "a", ASNs: []uint32{64500, 0}}}, `app "a": asns[1]: AS number 0 is reserved`},
		{"same id twice", nil, []App{{ID: "a", Domains: []string{"a.example"}}, {ID: "a", Domains: []string{"b.example"}}},
			`app "a": id: is listed twice`},
		{"same domain in two base apps", []App{{ID: "a", Domains: []string{"a.example"}}, {ID: "b", Domains: []string{"A.example."}}}, nil,
			`app "b": domains[0]: "a.example" already belongs to app "a"`},
		{"same domain in two extra apps", base, []App{{ID: "a", Domains: []string{"a.example"}}, {ID: "b", Domains: []string{"a.example"}}},
			`app "b": domains[0]: "a.example" already belongs to app "a"`},
		{"same AS in two apps", []App{{ID: "a", ASNs: []uint32{64500}}, {ID: "b", ASNs: []uint32{64500}}}, nil,
			`app "b": asns[0]: AS64500 already belongs to app "a"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(tc.base, tc.extra)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	got, err := Parse([]byte("# comment\n- id: a\n  name: A\n  domains: [a.example, b.example]\n  asns: [64500]\n- id: b\n  domains:\n    - c.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []App{{ID: "a", Name: "A", Domains: []string{"a.example", "b.example"}, ASNs: []uint32{64500}}, {ID: "b", Domains: []string{"c.example"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if got, err := Parse(nil); err != nil || got != nil {
		t.Errorf("empty document: %v, %v", got, err)
	}
	for _, tc := range []struct {
		desc, yaml, want string
	}{
		{"unknown key", "- id: a\n  domain: [x.example]\n", "line 2: field domain not found in type apps.App"},
		{"not a list", "id: a\n", "line 1: cannot unmarshal !!map into []apps.App"},
		{"bad AS", "- id: a\n  asns: [AS64500]\n", "line 2: cannot unmarshal !!str `AS64500` into uint32"},
		{"bad domain", "- id: a\n  domains:\n    - ok.example\n    - bad/example\n",
			`line 4: app "a": domains[1]: "bad/example" is not a domain suffix (letters, digits, '-' and '_' between dots)`},
		{"bad id", "- id: a\n  domains: [a.example]\n- id: B\n  domains: [b.example]\n",
			`line 3: app "B": id: must match [a-z0-9][a-z0-9_-]* (at most 64 characters) and not be "unknown" or "other"`},
		{"AS 0", "- id: a\n  asns:\n    - 1\n    - 0\n", `line 4: app "a": asns[1]: AS number 0 is reserved`},
		{"empty entry", "- id: a\n  name: A\n", `line 1: app "a": needs domains or asns`},
		{"syntax", "- id: a\n\tname: A\n", "line 2: found a tab character that violates indentation"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestClassifyAllocs: the flow path's lookup allocates nothing, for plain,
// mixed-case and port-suffixed names and for AS-only flows.
func TestClassifyAllocs(t *testing.T) {
	c := defaultCatalog(t)
	for _, name := range []string{"api16-normal-c-useast1a.tiktokv.com", "WWW.TikTok.COM.", "www.example.org:8080", "", "10.1.2.3"} {
		if n := testing.AllocsPerRun(100, func() { c.Classify(name, 62041) }); n != 0 {
			t.Errorf("Classify(%q): %v allocations", name, n)
		}
	}
}

func FuzzClassify(f *testing.F) {
	c := defaultCatalog(f)
	for _, s := range []string{"www.tiktok.com", "", ".", "..", "a:1", "[::1]:80", "TIKTOK.COM.", strings.Repeat("a.", 130)} {
		f.Add(s, uint32(0))
	}
	ids := c.IDs()
	f.Fuzz(func(t *testing.T, name string, asn uint32) {
		got := c.Classify(name, asn)
		if !slices.Contains(ids, got) {
			t.Fatalf("Classify(%q, %d) = %q, not a catalog id", name, asn, got)
		}
		if got != Unknown && name != "" && !isIPLiteral(trimHost(name)) && c.Classify(strings.ToUpper(name), asn) != got {
			t.Fatalf("Classify depends on case for %q", name)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	c := defaultCatalog(b)
	for _, bc := range []struct{ desc, name string }{
		{"tiktok-5-labels", "api16-normal-c-useast1a.tiktokv.com"},
		{"unknown-4-labels", "cdn.assets.example.org"},
		{"mixed-case", "V16M.TikTokCDN.com."},
		{"asn-only", ""},
	} {
		b.Run(bc.desc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(bc.name, 15169)
			}
		})
	}
}

// BenchmarkParseCatalog: parsing the embedded catalog is part of every
// start-up.
func BenchmarkParseCatalog(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(catalogYAML); err != nil {
			b.Fatal(err)
		}
	}
}
