package apps

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/borderwatch/borderwatch/internal/testenv"
)

// ndpiToApp maps nDPI's application names (the part after the dot in
// "[proto: 91.126/TLS.Google]") to catalog ids. nDPI names not listed are
// not compared: they are other apps, or protocols (DNS, TLS, QUIC), or
// categories that cross ours (GoogleCloud and Azure are cloud customers,
// Alibaba is not AliExpress, DoH_DoT is a protocol).
var ndpiToApp = map[string]string{
	"TikTok": "tiktok", "Douyin": "douyin", "CapCut": "capcut", "Lemon8": "lemon8",
	"WeChat": "wechat", "QQ": "qq", "Alipay": "alipay", "Temu": "temu", "Shein": "shein", "AliExpress": "aliexpress",
	"Facebook": "facebook", "FacebookMessenger": "facebook", "FbookReelStory": "facebook", "FacebookVoip": "facebook", "Messenger": "facebook",
	"Instagram": "instagram", "WhatsApp": "whatsapp", "WhatsAppFiles": "whatsapp", "WhatsAppCall": "whatsapp",
	"YouTube": "youtube", "YouTubeUpload": "youtube",
	"Google": "google", "GoogleServices": "google", "GMail": "google", "GoogleMaps": "google", "GoogleDrive": "google",
	"GoogleDocs": "google", "GoogleClassroom": "google", "GoogleChat": "google", "GoogleCall": "google", "GoogleMeet": "google",
	"PlayStore": "google", "Crashlytics": "google", "DataSaver": "google",
	"NetFlix": "netflix", "Zoom": "zoom", "Telegram": "telegram", "TelegramVoip": "telegram",
	"Microsoft": "microsoft365", "Microsoft365": "microsoft365", "Teams": "microsoft365", "Skype_Teams": "microsoft365",
	"Skype_TeamsCall": "microsoft365", "Outlook": "microsoft365", "MS_OneDrive": "microsoft365", "Bing": "microsoft365",
	"Apple": "apple", "AppleiCloud": "apple", "AppleiTunes": "apple", "ApplePush": "apple", "AppleSiri": "apple",
	"AppleStore": "apple", "AppleTVPlus": "apple",
	"Amazon": "amazon", "AmazonVideo": "amazon", "Snapchat": "snapchat", "SnapchatCall": "snapchat",
	"Twitter": "x", "Discord": "discord", "Baidu": "baidu", "VK": "vk",
	"Yandex": "yandex", "YandexMail": "yandex", "YandexMusic": "yandex", "YandexMetrika": "yandex", "YandexDisk": "yandex",
	"YandexDirect": "yandex", "YandexMarket": "yandex", "YandexCloud": "yandex",
}

// ndpiFlowRE picks nDPI's classification and the flow's name out of a flow
// line of a result file.
var ndpiFlowRE = regexp.MustCompile(`\[proto: [0-9.]+/([^\]]+)\].*?\[Hostname/SNI: ([^\]]*)\]`)

type ndpiName struct{ host, app, proto string }

// readNDPINames returns the distinct (name, app) pairs (with the first
// nDPI protocol seen for them) of every nDPI result
// file, for the nDPI applications ndpiToApp maps.
func readNDPINames(t *testing.T) []ndpiName {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.SharedDir(t), "pcaps/ndpi/result/*.out"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no nDPI result files (%v)", err)
	}
	seen := map[ndpiName]bool{}
	var out []ndpiName
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m := ndpiFlowRE.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			proto := m[1]
			if i := strings.LastIndexByte(proto, '.'); i >= 0 {
				proto = proto[i+1:]
			}
			app, ok := ndpiToApp[proto]
			host := strings.ToLower(strings.TrimSpace(m[2]))
			if !ok || host == "" {
				continue
			}
			if _, err := netip.ParseAddr(host); err == nil {
				continue // nDPI matched an address list, not a name
			}
			k := ndpiName{host: host, app: app}
			if !seen[k] {
				seen[k] = true
				out = append(out, ndpiName{host, app, m[1]})
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].host < out[j].host })
	return out
}

// TestNDPITikTok: every name nDPI classifies as TikTok in its result files
// is tiktok.
func TestNDPITikTok(t *testing.T) {
	c := defaultCatalog(t)
	n := 0
	for _, e := range readNDPINames(t) {
		if e.app != "tiktok" {
			continue
		}
		n++
		if got := c.Classify(e.host, 0); got != "tiktok" {
			t.Errorf("nDPI: %s is %s; Classify: %s", e.host, e.proto, got)
		}
	}
	if n == 0 {
		t.Fatal("no TikTok name in the nDPI result files")
	}
	t.Logf("%d TikTok names", n)
}

// TestNDPIAgreement: for the names nDPI attributes to an app of ours, the
// catalog agrees on at least 95% of them. Disagreements are printed; the
// known ones are names the catalog leaves unknown on purpose (Azure and
// Akamai customer names such as *.trafficmanager.net, *.cloudapp.net,
// *.akamaihd.net, *.edgekey.net, which nDPI attributes by address or host
// prefix), and WeChat's short.weixin.qq.com, which nDPI calls QQ.
func TestNDPIAgreement(t *testing.T) {
	c := defaultCatalog(t)
	names := readNDPINames(t)
	agree := 0
	perApp := map[string][2]int{}
	for _, e := range names {
		got := c.Classify(e.host, 0)
		pa := perApp[e.app]
		pa[1]++
		if got == e.app {
			agree++
			pa[0]++
		} else {
			t.Logf("disagreement: %-50s nDPI %-24s -> %-12s Classify -> %s", e.host, e.proto, e.app, got)
		}
		perApp[e.app] = pa
	}
	ids := make([]string, 0, len(perApp))
	for id := range perApp {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Logf("%-14s %3d of %3d agree", id, perApp[id][0], perApp[id][1])
	}
	rate := float64(agree) / float64(len(names))
	t.Logf("%d of %d distinct names agree with nDPI (%.1f%%), over %d apps", agree, len(names), 100*rate, len(perApp))
	if len(names) < 200 || len(perApp) < 15 {
		t.Errorf("only %d names of %d apps found in the nDPI results", len(names), len(perApp))
	}
	if rate < 0.95 {
		t.Errorf("agreement %.1f%% is below 95%%", 100*rate)
	}
}
