package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sdkTestKey is the AWS SDK for Go v2 test key (internal/awstesting/unit,
// itself Go 1.11's crypto/rsa test key), for the SDK's known-answer vectors.
var sdkTestKey = func() *rsa.PrivateKey {
	n := func(s string) *big.Int {
		i, ok := new(big.Int).SetString(s, 10)
		if !ok {
			panic("bad test constant")
		}
		return i
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{
			N: n("14314132931241006650998084889274020608918049032671858325988396851334124245188214251956198731333464217832226406088020736932173064754214329009979944037640912127943488972644697423190955557435910767690712778463524983667852819010259499695177313115447116110358524558307947613422897787329221478860907963827160223559690523660574329011927531289655711860504630573766609239332569210831325633840174683944553667352219670930408593321661375473885147973879086994006440025257225431977751512374815915392249179976902953721486040787792801849818254465486633791826766873076617116727073077821584676715609985777563958286637185868165868520557"),
			E: 3,
		},
		D: n("9542755287494004433998723259516013739278699355114572217325597900889416163458809501304132487555642811888150937392013824621448709836142886006653296025093941418628992648429798282127303704957273845127141852309016655778568546006839666463451542076964744073572349705538631742281931858219480985907271975884773482372966847639853897890615456605598071088189838676728836833012254065983259638538107719766738032720239892094196108713378822882383694456030043492571063441943847195939549773271694647657549658603365629458610273821292232646334717612674519997533901052790334279661754176490593041941863932308687197618671528035670452762731"),
		Primes: []*big.Int{
			n("130903255182996722426771613606077755295583329135067340152947172868415809027537376306193179624298874215608270802054347609836776473930072411958753044562214537013874103802006369634761074377213995983876788718033850153719421695468704276694983032644416930879093914927146648402139231293035971427838068945045019075433"),
			n("109348945610485453577574767652527472924289229538286649661240938988020367005475727988253438647560958573506159449538793540472829815903949343191091817779240101054552748665267574271163617694640513549693841337820602726596756351006149518830932261246698766355347898158548465400674856021497190430791824869615170301029"),
		},
	}
	k.Precompute()
	return k
}()

// testClock is an injected clock the tests move by hand.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKeyPEM(readFile(t, "rsa_pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKeyPEM(readFile(t, "ec_sec1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// trusted builds a verifier with group "main" holding keys (id → key) and
// group "other" holding one unrelated key, trusting only "main".
func trusted(t testing.TB, clk *testClock, keys map[string]crypto.Signer, opts ...Option) *Trusted {
	t.Helper()
	var main []PublicKey
	for id, k := range keys {
		pk, err := NewPublicKey(id, k.Public())
		if err != nil {
			t.Fatal(err)
		}
		main = append(main, pk)
	}
	otherKey, err := ParsePrivateKeyPEM(readFile(t, "ec_pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewPublicKey("KOTHER", otherKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier([]KeyGroup{{Name: "main", Keys: main}, {Name: "other", Keys: []PublicKey{other}}},
		append([]Option{WithClock(clk.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := v.Trust("main")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// requestFor splits an absolute URL into a Request the way the edge fills
// it from the request line, without any decoding.
func requestFor(t testing.TB, rawURL string) *Request {
	t.Helper()
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		t.Fatalf("bad test url %q", rawURL)
	}
	host, pathQuery := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, pathQuery = rest[:i], rest[i:]
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	return &Request{Scheme: scheme, Host: host, RawPath: path, RawQuery: query, ClientIP: netip.MustParseAddr("127.0.0.1")}
}

// wantCode asserts err is a *Error with the code.
func wantCode(t testing.TB, err error, code Code) {
	t.Helper()
	se, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %v (%T), want *Error with code %v", err, err, code)
	}
	if se.Code != code {
		t.Fatalf("code = %v (%v), want %v", se.Code, se.Err, code)
	}
}
