package signing

import (
	"crypto"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// miniEdge is the wiring the edge pipeline does, reduced to net/http so the
// contract is tested end to end over real sockets: the Request is filled
// from the raw request line and the socket peer (never X-Forwarded-For);
// failures answer 403 with the XML body and never reach the origin; the
// origin gets the stripped query and Cookie header.
func miniEdge(t *testing.T, tr *Trusted, origin string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, query, _ := strings.Cut(r.RequestURI, "?")
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			http.Error(w, "bad peer", http.StatusInternalServerError)
			return
		}
		cookies := strings.Join(r.Header.Values("Cookie"), "; ")
		res, err := tr.Verify(&Request{Scheme: "http", Host: r.Host, RawPath: path, RawQuery: query, Cookies: cookies, ClientIP: peer.Addr()})
		if err != nil {
			w.Header().Set("Content-Type", "text/xml")
			w.Header().Set("X-Cache", "Error from cloudfront")
			w.WriteHeader(http.StatusForbidden)
			w.Write(err.(*Error).Body())
			return
		}
		target := origin + path
		if res.StrippedQuery != "" {
			target += "?" + res.StrippedQuery
		}
		req, _ := http.NewRequest(r.Method, target, nil)
		if c := StripCookies(cookies); c != "" {
			req.Header.Set("Cookie", c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
}

type originLog struct {
	mu   sync.Mutex
	seen []string // RequestURI + " | " + Cookie
}

func (o *originLog) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.seen
	o.seen = nil
	return s
}

func TestHTTPEnforcement(t *testing.T) {
	rk := rsaKey(t)
	log := &originLog{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		log.seen = append(log.seen, r.RequestURI+" | "+r.Header.Get("Cookie"))
		log.mu.Unlock()
		io.WriteString(w, "object")
	}))
	defer origin.Close()
	// The real clock here: the URLs are valid for an hour from now.
	v, err := NewVerifier([]KeyGroup{{Name: "main", Keys: []PublicKey{mustPub(t, "KRSA", rk)}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := v.Trust("main")
	edge := miniEdge(t, tr, origin.URL)
	defer edge.Close()
	client := edge.Client()
	client.Timeout = 5 * time.Second
	exp := time.Now().Add(time.Hour)

	get := func(u, cookie, xff string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Two SDK-signed URLs for one object, with different expiries: both
	// reach the origin with the same URI (one cache key).
	sdk := sign.NewURLSigner("KRSA", rk)
	u1, _ := sdk.Sign(edge.URL+"/private/a%20b.jpg?x=1", exp)
	u2, _ := sdk.Sign(edge.URL+"/private/a%20b.jpg?x=1", exp.Add(time.Minute))
	for _, u := range []string{u1, u2} {
		if code, body := get(u, "session=abc; CloudFront-Policy=junk", ""); code != 200 || body != "object" {
			t.Fatalf("%s: %d %s", u, code, body)
		}
	}
	if got := log.take(); len(got) != 2 || got[0] != "/private/a%20b.jpg?x=1 | session=abc" || got[1] != got[0] {
		t.Fatalf("origin saw %q", got)
	}

	// IP-restricted custom policy: X-Forwarded-For naming the allowed
	// address changes nothing; the socket peer 127.0.0.1 is what counts.
	ipURL, _ := sdk.SignWithPolicy(edge.URL+"/private/ip.jpg", &sign.Policy{Statements: []sign.Statement{{
		Resource: edge.URL + "/private/*", Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(exp),
			IPAddress: &sign.IPAddress{SourceIP: "10.1.2.3/32"}}}}})
	code, body := get(ipURL, "", "10.1.2.3")
	if code != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("spoofed XFF: %d %s", code, body)
	}
	// Unsigned, tampered, and URL-over-cookie cases: 403, origin untouched.
	cookies, _ := sign.NewCookieSigner("KRSA", rk).Sign(edge.URL+"/private/*", exp)
	var jar []string
	for _, c := range cookies {
		jar = append(jar, c.Name+"="+c.Value)
	}
	for _, tc := range []struct{ url, cookie, code string }{
		{edge.URL + "/private/a.jpg", "", "MissingKey"},
		{u1 + "&y=2", "", "AccessDenied"},
		{strings.Replace(u1, "Key-Pair-Id=KRSA", "Key-Pair-Id=KX", 1), "", "InvalidKey"},
		{edge.URL + "/private/a.jpg?Expires=1", strings.Join(jar, "; "), "MissingKey"},
	} {
		code, body := get(tc.url, tc.cookie, "")
		if code != 403 || body != string(XMLError(tc.code, codeByName(tc.code).Message())) {
			t.Errorf("%s: %d %s", tc.url, code, body)
		}
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("rejected requests reached the origin: %q", got)
	}
	// Signed cookies: the origin sees the other cookies only.
	code, body = get(edge.URL+"/private/dir/c.jpg", "a=1; "+strings.Join(jar, "; ")+"; b=2", "")
	if code != 200 || body != "object" {
		t.Fatalf("cookies: %d %s", code, body)
	}
	if got := log.take(); len(got) != 1 || got[0] != "/private/dir/c.jpg | a=1; b=2" {
		t.Fatalf("origin saw %q", got)
	}
}

func codeByName(name string) Code {
	for c := MissingKey; c <= AccessDenied; c++ {
		if c.String() == name {
			return c
		}
	}
	return 0
}

func mustPub(t *testing.T, id string, k crypto.Signer) PublicKey {
	t.Helper()
	pk, err := NewPublicKey(id, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pk
}
