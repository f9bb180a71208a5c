package geo

import (
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/geo/geotest"
)

var testNetworks = map[string]string{
	"127.0.0.2/32":  "FR",
	"127.0.0.3/32":  "KP",
	"192.0.2.0/24":  "DE",
	"2001:db8::/32": "JP",
}

func openTestDB(t *testing.T, shape geotest.Shape) *DB {
	t.Helper()
	p, err := geotest.WriteFile(t.TempDir(), shape, testNetworks)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestEmbeddedSpotChecks(t *testing.T) {
	db, err := OpenEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"8.8.8.8":              "US",
		"81.2.69.142":          "GB",
		"133.1.1.1":            "JP",
		"2001:4860:4860::8888": "US",
		"41.0.0.1":             "ZA",
		"::ffff:8.8.8.8":       "US",
		"127.0.0.1":            "--",
		"10.1.2.3":             "--",
		"::1":                  "--",
	} {
		c, ok := db.Lookup(netip.MustParseAddr(ip))
		if c.String() != want || ok != (want != "--") {
			t.Errorf("Lookup(%s) = %s, %v; want %s", ip, c, ok, want)
		}
	}
	info := db.Info()
	if !strings.Contains(info.Source, "Number Resource Organization") || info.BuildTime.Year() < 2025 {
		t.Errorf("Info = %+v", info)
	}
	if l, f := db.Stats(); l != 9 || f != 6 {
		t.Errorf("Stats = %d lookups, %d found; want 9, 6", l, f)
	}
}

func TestBothRecordShapes(t *testing.T) {
	for _, shape := range []geotest.Shape{geotest.CountryCode, geotest.GeoLite2} {
		db := openTestDB(t, shape)
		for ip, want := range map[string]string{
			"127.0.0.2": "FR", "127.0.0.3": "KP", "192.0.2.77": "DE",
			"2001:db8::1": "JP", "127.0.0.1": "--", "8.8.8.8": "--",
		} {
			if c, _ := db.Lookup(netip.MustParseAddr(ip)); c.String() != want {
				t.Errorf("shape %d: Lookup(%s) = %s, want %s", shape, ip, c, want)
			}
		}
	}
}

func TestOpenRejectsGarbage(t *testing.T) {
	if _, err := Open(t.TempDir() + "/missing.mmdb"); err == nil {
		t.Fatal("missing file opened")
	}
	db, _ := OpenEmbedded()
	if err := db.Reload(t.TempDir() + "/missing.mmdb"); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if c, _ := db.Lookup(netip.MustParseAddr("8.8.8.8")); c.String() != "US" {
		t.Fatalf("failed reload lost the old database: %s", c)
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	db, _ := OpenEmbedded()
	addrs := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2001:4860:4860::8888"), netip.MustParseAddr("127.0.0.1")}
	for _, a := range addrs {
		db.Lookup(a) // warm the record cache
	}
	n := testing.AllocsPerRun(1000, func() {
		for _, a := range addrs {
			db.Lookup(a)
		}
	})
	if n != 0 {
		t.Fatalf("Lookup allocates %.1f times per run", n)
	}
}

func TestReloadUnderLookups(t *testing.T) {
	db, _ := OpenEmbedded()
	p, err := geotest.WriteFile(t.TempDir(), geotest.CountryCode, testNetworks)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				db.Lookup(netip.MustParseAddr("127.0.0.2"))
			}
		}()
	}
	for range 5 {
		if err := db.Reload(p); err != nil {
			t.Error(err)
		}
		if err := db.Reload(""); err != nil {
			t.Error(err)
		}
	}
	if err := db.Reload(p); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if c, _ := db.Lookup(netip.MustParseAddr("127.0.0.2")); c.String() != "FR" {
		t.Fatalf("after reload 127.0.0.2 = %s, want FR", c)
	}
}

func TestRestriction(t *testing.T) {
	fr, kp := Country{'F', 'R'}, Country{'K', 'P'}
	cases := []struct {
		typ, unknown string
		locs         []string
		c            Country
		known, want  bool
	}{
		{"none", "", nil, kp, true, true},
		{"blacklist", "", []string{"KP", "ir"}, kp, true, false},
		{"blacklist", "", []string{"KP"}, fr, true, true},
		{"blacklist", "", []string{"KP"}, Country{}, false, true},
		{"blacklist", "deny", []string{"KP"}, Country{}, false, false},
		{"whitelist", "", []string{"FR"}, fr, true, true},
		{"whitelist", "", []string{"FR"}, kp, true, false},
		{"whitelist", "allow", []string{"FR"}, Country{}, false, true},
		{"whitelist", "deny", []string{"FR"}, Country{}, false, false},
	}
	for _, c := range cases {
		r, err := NewRestriction(c.typ, c.locs, c.unknown)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Allow(c.c, c.known); got != c.want {
			t.Errorf("%s %v unknown=%s: Allow(%s, %v) = %v", c.typ, c.locs, c.unknown, c.c, c.known, got)
		}
	}
	r, _ := NewRestriction("blacklist", []string{"KP"}, "deny")
	r.Allow(kp, true)
	r.Allow(kp, true)
	r.Allow(Country{}, false)
	r.Allow(fr, true)
	if got := r.Refused(); got["KP"] != 2 || got["--"] != 1 || len(got) != 2 || r.RefusedTotal() != 3 {
		t.Fatalf("Refused = %v total %d", got, r.RefusedTotal())
	}
}

func TestRestrictionValidation(t *testing.T) {
	for _, c := range []struct {
		typ, unknown string
		locs         []string
	}{
		{"greylist", "", []string{"FR"}},
		{"blacklist", "", nil},
		{"blacklist", "", []string{"ZZ"}},
		{"blacklist", "", []string{"FRA"}},
		{"blacklist", "maybe", []string{"FR"}},
	} {
		if _, err := NewRestriction(c.typ, c.locs, c.unknown); err == nil {
			t.Errorf("NewRestriction(%q, %v, %q) accepted", c.typ, c.locs, c.unknown)
		}
	}
}

func TestClientFromXFF(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	peerTrusted := netip.MustParseAddr("127.0.0.1")
	peerOther := netip.MustParseAddr("192.0.2.9")
	cases := []struct {
		peer netip.Addr
		xff  string
		want string
	}{
		{peerOther, "203.0.113.7", "192.0.2.9"},                        // untrusted peer: XFF ignored
		{peerTrusted, "", "127.0.0.1"},                                 // nothing forwarded
		{peerTrusted, "203.0.113.7", "203.0.113.7"},                    // one hop
		{peerTrusted, "6.6.6.6, 203.0.113.7, 10.1.1.1", "203.0.113.7"}, // forged left part ignored
		{peerTrusted, "203.0.113.7:5555", "203.0.113.7"},
		{peerTrusted, "[2001:db8::1]:443", "2001:db8::1"},
		{peerTrusted, "2001:db8::2", "2001:db8::2"},
		{peerTrusted, "garbage, 10.1.1.1", "10.1.1.1"},  // walk stops at garbage
		{peerTrusted, "10.1.1.1, 10.2.2.2", "10.1.1.1"}, // all trusted: left-most seen
		{peerTrusted, " , 203.0.113.8 ,", "203.0.113.8"},
		{netip.MustParseAddr("::ffff:127.0.0.1"), "198.51.100.1", "198.51.100.1"},
	}
	for _, c := range cases {
		if got := ClientFromXFF(c.peer, []byte(c.xff), trusted); got.String() != c.want {
			t.Errorf("ClientFromXFF(%s, %q) = %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	xff := []byte("6.6.6.6, 203.0.113.7, 10.1.1.1")
	if n := testing.AllocsPerRun(1000, func() { ClientFromXFF(peerTrusted, xff, trusted) }); n != 0 {
		t.Fatalf("ClientFromXFF allocates %.1f", n)
	}
}

func TestClassifyUA(t *testing.T) {
	cases := []struct {
		ua   string
		want Device
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36", Device{Desktop: true}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", Device{Mobile: true, IOS: true}},
		{"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", Device{Tablet: true, IOS: true}},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36", Device{Mobile: true, Android: true}},
		{"Mozilla/5.0 (Linux; Android 13; SM-X700) Safari/537.36", Device{Tablet: true, Android: true}},
		{"Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0)", Device{SmartTV: true}},
		{"Roku/DVP-9.10 (519.10E04111A)", Device{SmartTV: true}},
		{"curl/8.5.0", Device{Desktop: true}},
		{"", Device{Desktop: true}},
	}
	for _, c := range cases {
		if got := ClassifyUA([]byte(c.ua)); got != c.want {
			t.Errorf("ClassifyUA(%q) = %+v, want %+v", c.ua, got, c.want)
		}
	}
	d := ClassifyUA([]byte("Mozilla/5.0 (iPad)"))
	if v, ok := d.Header(nil, []byte("cloudfront-is-tablet-viewer")); !ok || string(v) != "true" {
		t.Errorf("tablet header = %q %v", v, ok)
	}
	if v, ok := d.Header(nil, []byte("CloudFront-Is-Desktop-Viewer")); !ok || string(v) != "false" {
		t.Errorf("desktop header = %q %v", v, ok)
	}
	if _, ok := d.Header(nil, []byte("X-Other")); ok {
		t.Error("unknown header classified")
	}
}

func TestViewerFormatting(t *testing.T) {
	if got := string(AppendViewerAddress(nil, netip.MustParseAddrPort("198.51.100.10:46532"))); got != "198.51.100.10:46532" {
		t.Errorf("v4 = %s", got)
	}
	if got := string(AppendViewerAddress(nil, netip.MustParseAddrPort("[2001:db8::1]:443"))); got != "[2001:db8::1]:443" {
		t.Errorf("v6 = %s", got)
	}
	if got := string(AppendViewerTLS(nil, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "fullHandshake")); got != "TLSv1.3:TLS_AES_128_GCM_SHA256:fullHandshake" {
		t.Errorf("tls = %s", got)
	}
	for _, h := range ViewerHeaders {
		if !IsViewerHeader([]byte(strings.ToLower(h))) {
			t.Errorf("%s not reserved", h)
		}
	}
	if IsViewerHeader([]byte("X-CloudFront-Viewer")) || IsViewerHeader([]byte("Cloud")) {
		t.Error("non-CloudFront header reserved")
	}
}

func TestParseCountry(t *testing.T) {
	if c, err := ParseCountry("gb"); err != nil || c.String() != "GB" {
		t.Fatalf("gb = %s %v", c, err)
	}
	for _, bad := range []string{"", "G", "GBR", "ZZ", "1A", "é"} {
		if _, err := ParseCountry(bad); err == nil {
			t.Errorf("ParseCountry(%q) accepted", bad)
		}
	}
}
