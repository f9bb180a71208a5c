package cache

import (
	"slices"
	"testing"
	"time"
)

func TestNewKeyPolicy(t *testing.T) {
	p, err := NewKeyPolicy(NameList{Mode: "list", Names: []string{"X-Device", "Accept-Language", "x-device"}},
		NameList{Mode: "all"}, NameList{Mode: "list", Names: []string{"v", "a", "v"}}, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Headers, []string{"accept-language", "x-device"}) || p.Cookies != All ||
		p.Query != List || !slices.Equal(p.QueryNames, []string{"a", "v"}) || !p.Gzip || !p.Brotli {
		t.Errorf("policy %+v", p)
	}
	// Names in a different config order make the same key.
	p2, _ := NewKeyPolicy(NameList{Mode: "list", Names: []string{"accept-language", "X-Device"}},
		NameList{Mode: "all"}, NameList{Mode: "list", Names: []string{"a", "v"}}, true, time.Hour)
	r := &Request{Path: []byte("/"), Header: hdrs{"X-Device": "a", "Accept-Language": "b"}}
	k1, _ := p.AppendKey(nil, "d", r)
	k2, _ := p2.AppendKey(nil, "d", r)
	if string(k1) != string(k2) {
		t.Error("config name order changed the key")
	}

	if p, _ := NewKeyPolicy(NameList{}, NameList{}, NameList{}, true, 0); p.Gzip || p.Brotli {
		t.Error("compression with max_ttl 0 (caching disabled)")
	}
	if p, _ := NewKeyPolicy(NameList{Mode: "list", Names: []string{"Accept-Encoding"}}, NameList{}, NameList{}, true, time.Hour); p.Gzip || p.Brotli {
		t.Error("a policy keying Accept-Encoding itself does not compress")
	}
	if p, _ := NewKeyPolicy(NameList{Mode: "none"}, NameList{Mode: ""}, NameList{Mode: "none"}, false, time.Hour); p.Gzip || len(p.Headers) != 0 || p.Cookies != None || p.Query != None {
		t.Errorf("none policy %+v", p)
	}

	for name, tc := range map[string][3]NameList{
		"all headers":       {{Mode: "all"}, {}, {}},
		"forbidden header":  {{Mode: "list", Names: []string{"CloudFront-Viewer-Address"}}, {}, {}},
		"empty header name": {{Mode: "list", Names: []string{" "}}, {}, {}},
		"too many cookies":  {{}, {Mode: "list", Names: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}}, {}},
		"empty query name":  {{}, {}, {Mode: "list", Names: []string{""}}},
		"unknown mode":      {{}, {}, {Mode: "allExcept"}},
	} {
		if _, err := NewKeyPolicy(tc[0], tc[1], tc[2], false, time.Hour); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestNewTTLPolicy(t *testing.T) {
	d := func(x time.Duration) *time.Duration { return &x }
	p := NewTTLPolicy(0, nil, nil, nil)
	if p.MinTTL != 0 || p.DefaultTTL != 24*time.Hour || p.MaxTTL != 365*24*time.Hour || p.ErrorCachingMinTTL != 10*time.Second {
		t.Errorf("defaults %+v", p)
	}
	p = NewTTLPolicy(48*time.Hour, nil, nil, nil)
	if p.DefaultTTL != 48*time.Hour {
		t.Errorf("default ttl not raised to min ttl: %v", p.DefaultTTL)
	}
	p = NewTTLPolicy(0, d(2*365*24*time.Hour), d(time.Hour), nil)
	if p.MaxTTL != p.DefaultTTL {
		t.Errorf("max ttl must follow a larger default ttl: %v", p.MaxTTL)
	}
	p = NewTTLPolicy(0, d(0), d(0), map[int]time.Duration{404: time.Minute})
	if p.DefaultTTL != 0 || p.MaxTTL != 0 || p.ErrorTTLs[404] != time.Minute {
		t.Errorf("caching disabled %+v", p)
	}
	if CachesOptions([]string{"GET", "HEAD"}) || !CachesOptions([]string{"GET", "HEAD", "options"}) {
		t.Error("CachesOptions")
	}
	o := StoreOptions(0, 0)
	if o.MaxSize != 1<<30 || o.MaxObjectSize != 64<<20 {
		t.Errorf("store defaults %+v", o)
	}
	if o := StoreOptions(1<<20, 64<<20); o.MaxObjectSize != 1<<20 {
		t.Errorf("max_object_size not capped: %+v", o)
	}
}
