package affinity_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/affinity"
	"github.com/switchyard/switchyard/internal/runtime"
)

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func mustNew(t testing.TB, secret string) *affinity.Sealer {
	t.Helper()
	s, err := affinity.New([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := mustNew(t, "")
	for _, id := range []string{"127.0.0.1:9001", "[::1]:8080", "", strings.Repeat("x", 255)} {
		v := s.Seal(nil, affinity.KindTarget, "web", id, now.Add(time.Hour))
		for _, c := range v {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("value %q has a character that is not cookie-safe", v)
			}
		}
		if strings.Contains(string(v), base64.RawURLEncoding.EncodeToString([]byte("127.0.0.1"))) {
			t.Errorf("value shows the address: %s", v)
		}
		got, ok := s.Open(nil, affinity.KindTarget, "web", v, now)
		if !ok || string(got) != id {
			t.Errorf("Open(%q) = %q, %v", id, got, ok)
		}
	}
	// Two seals of the same id differ (random nonce): values are not linkable.
	a := s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:1", now.Add(time.Hour))
	b := s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:1", now.Add(time.Hour))
	if string(a) == string(b) {
		t.Errorf("two seals are equal")
	}
	// Long ids are cut to 255 bytes, never rejected or panicking.
	long := s.Seal(nil, affinity.KindTarget, "web", strings.Repeat("y", 400), now.Add(time.Hour))
	if got, ok := s.Open(nil, affinity.KindTarget, "web", long, now); !ok || len(got) != 255 {
		t.Errorf("long id: %d %v", len(got), ok)
	}
}

func TestTamperedValuesAreRejected(t *testing.T) {
	s := mustNew(t, "")
	other := mustNew(t, "")
	good := s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:9001", now.Add(time.Hour))
	raw, _ := base64.RawURLEncoding.DecodeString(string(good))
	reject := func(name string, kind affinity.Kind, scope string, v []byte, at time.Time, s *affinity.Sealer) {
		t.Helper()
		dst := []byte("keep")
		got, ok := s.Open(dst, kind, scope, v, at)
		if ok || string(got) != "keep" {
			t.Errorf("%s: accepted (%q)", name, got)
		}
	}
	// Every single flipped bit of the sealed bytes.
	for i := range raw {
		for bit := range 8 {
			bad := append([]byte(nil), raw...)
			bad[i] ^= 1 << bit
			reject("flipped bit", affinity.KindTarget, "web", []byte(base64.RawURLEncoding.EncodeToString(bad)), now, s)
		}
	}
	for n := range len(good) {
		reject("truncated", affinity.KindTarget, "web", good[:n], now, s)
	}
	reject("extended", affinity.KindTarget, "web", append(append([]byte(nil), good...), 'A', 'A'), now, s)
	reject("other key", affinity.KindTarget, "web", good, now, other)
	reject("expired", affinity.KindTarget, "web", good, now.Add(time.Hour), s)
	reject("long expired", affinity.KindTarget, "web", good, now.Add(48*time.Hour), s)
	reject("wrong group", affinity.KindTarget, "api", good, now, s)
	reject("wrong kind", affinity.KindApp, "web", good, now, s)
	reject("wrong kind tg", affinity.KindGroup, "web", good, now, s)
	reject("not base64", affinity.KindTarget, "web", []byte(strings.Repeat("!", 80)), now, s)
	reject("std base64 padding", affinity.KindTarget, "web", append(append([]byte(nil), good...), '='), now, s)
	reject("empty", affinity.KindTarget, "web", nil, now, s)
	reject("huge", affinity.KindTarget, "web", []byte(strings.Repeat("A", 100000)), now, s)
	reject("plain address", affinity.KindTarget, "web", []byte("127.0.0.1:9001"), now, s)
	// The value is still good just before its expiry.
	if _, ok := s.Open(nil, affinity.KindTarget, "web", good, now.Add(time.Hour-time.Second)); !ok {
		t.Errorf("rejected before expiry")
	}
}

func TestSharedSecret(t *testing.T) {
	a, b := mustNew(t, "shared-secret"), mustNew(t, "shared-secret")
	c := mustNew(t, "another-secret")
	v := a.Seal(nil, affinity.KindGroup, "listener-web/rule-10", "api-v2", now.Add(time.Hour))
	if id, ok := b.Open(nil, affinity.KindGroup, "listener-web/rule-10", v, now); !ok || string(id) != "api-v2" {
		t.Errorf("another instance with the same secret: %q %v", id, ok)
	}
	if _, ok := c.Open(nil, affinity.KindGroup, "listener-web/rule-10", v, now); ok {
		t.Errorf("another secret opened the value")
	}
}

func TestOpenTargetFollowsTheView(t *testing.T) {
	s := mustNew(t, "")
	g := runtime.NewRegistry(nil).Group("web")
	ts := g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:9001"}, {Addr: "127.0.0.1:9002"}})
	ts[0].SetHealth(true, "")
	ts[1].SetHealth(true, "")
	v := s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:9002", now.Add(time.Hour))
	if got := s.OpenTarget(g.View(), "web", v, now); got != ts[1] {
		t.Fatalf("OpenTarget = %v, want target 2", got)
	}
	if got := s.OpenAppTarget(g.View(), "web", v, now); got != nil {
		t.Errorf("an AWSALB value opened as AWSALBAPP")
	}
	app := s.Seal(nil, affinity.KindApp, "web", "127.0.0.1:9002", now.Add(time.Hour))
	if got := s.OpenAppTarget(g.View(), "web", app, now); got != ts[1] {
		t.Errorf("OpenAppTarget = %v", got)
	}
	// The sticky target turns unhealthy: the cookie no longer pins.
	ts[1].SetHealth(false, runtime.ReasonTimeout)
	if got := s.OpenTarget(g.View(), "web", v, now); got != nil {
		t.Errorf("unhealthy sticky target still returned")
	}
	ts[1].SetHealth(true, "")
	g.Deregister([]string{"127.0.0.1:9002"}, time.Hour)
	if got := s.OpenTarget(g.View(), "web", v, now); got != nil {
		t.Errorf("draining sticky target still returned")
	}
	if affinity.Find(nil, []byte("x")) != nil {
		t.Errorf("Find on nil view")
	}
}

func TestAppendSetCookie(t *testing.T) {
	exp := time.Date(2026, 12, 3, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	got := string(affinity.AppendSetCookie(nil, affinity.CookieLB, []byte("abc"), exp, false))
	if want := "AWSALB=abc; Expires=Thu, 03 Dec 2026 08:00:00 GMT; Path=/"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	got = string(affinity.AppendSetCookie(nil, affinity.CookieLBCORS, []byte("abc"), exp, true))
	if want := "AWSALBCORS=abc; Expires=Thu, 03 Dec 2026 08:00:00 GMT; Path=/; SameSite=None; Secure"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestAllocations(t *testing.T) {
	s := mustNew(t, "")
	g := runtime.NewRegistry(nil).Group("web")
	tg := g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:9001"}})[0]
	tg.SetHealth(true, "")
	view := g.View()
	v := s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:9001", now.Add(time.Hour))
	bad := append([]byte(nil), v...)
	bad[10] ^= 1
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(500, func() {
		if s.OpenTarget(view, "web", v, now) != tg {
			panic("lost")
		}
		s.OpenTarget(view, "web", bad, now)
		s.Open(dst[:0], affinity.KindTarget, "web", v, now)
	}); n != 0 {
		t.Errorf("decode path allocates %v times per run", n)
	}
	hdr := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(500, func() {
		out := s.Seal(hdr[:0], affinity.KindTarget, "web", "127.0.0.1:9001", now.Add(time.Hour))
		affinity.AppendSetCookie(out[len(out):], affinity.CookieLB, out, now, false)
	}); n != 0 {
		t.Errorf("encode path allocates %v times per run", n)
	}
}

func FuzzOpen(f *testing.F) {
	s := mustNew(f, "fuzz")
	f.Add(s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:9001", now.Add(time.Hour)))
	f.Add([]byte("AAAA"))
	f.Fuzz(func(t *testing.T, v []byte) {
		id, ok := s.Open(nil, affinity.KindTarget, "web", v, now)
		if ok && string(id) != "127.0.0.1:9001" {
			t.Errorf("forged value opened as %q", id)
		}
	})
}

func BenchmarkOpenTarget(b *testing.B) {
	s := mustNew(b, "")
	g := runtime.NewRegistry(nil).Group("web")
	tg := g.Register([]runtime.TargetSpec{{Addr: "127.0.0.1:9001"}})[0]
	tg.SetHealth(true, "")
	view := g.View()
	v := s.Seal(nil, affinity.KindTarget, "web", "127.0.0.1:9001", now.Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		s.OpenTarget(view, "web", v, now)
	}
}

func BenchmarkSeal(b *testing.B) {
	s := mustNew(b, "")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		s.Seal(dst[:0], affinity.KindTarget, "web", "127.0.0.1:9001", now)
	}
}
