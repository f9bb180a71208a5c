package signing

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

func TestParsePolicyValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
	}{
		{`{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}`,
			Policy{Resource: "https://h/a", Expires: time.Unix(1767290400, 0).UTC()}},
		// The bare-object form of the custom signed-URL docs, whitespace, key
		// order within Condition irrelevant.
		{"{ \"Statement\": {\n \"Resource\": \"https://h/*\",\n \"Condition\": {\"IpAddress\": {\"AWS:SourceIp\": \"192.0.2.0/24\"}, \"DateGreaterThan\": {\"AWS:EpochTime\": 1}, \"DateLessThan\": {\"AWS:EpochTime\": 2}}}}",
			Policy{Resource: "https://h/*", Expires: time.Unix(2, 0).UTC(), Starts: time.Unix(1, 0).UTC(), SourceIP: netip.MustParsePrefix("192.0.2.0/24")}},
		// Resource omitted: any URL.
		{`{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`, Policy{Expires: time.Unix(5, 0).UTC()}},
		// Condition before Resource; escapes in the resource.
		{`{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}},"Resource":"https://h/\u0061\"b"}]}`,
			Policy{Resource: `https://h/a"b`, Expires: time.Unix(5, 0).UTC()}},
		{`{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"2001:db8::/32"}}}]}`,
			Policy{Resource: "*", Expires: time.Unix(5, 0).UTC(), SourceIP: netip.MustParsePrefix("2001:db8::/32")}},
	} {
		p, err := ParsePolicy([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if *p != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.in, *p, tc.want)
		}
	}
}

// malformedPolicies are the strictness cases (and fuzz seeds).
var malformedPolicies = []string{
	``,
	`null`,
	`[]`,
	`{}`,
	`{"Statement":[]}`,
	`{"Statement":null}`,
	`{"Statement":"x"}`,
	// two statements
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}},{"Resource":"b","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
	// duplicate keys at every level
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}],"Statement":[{"Resource":"b","Condition":{"DateLessThan":{"AWS:EpochTime":9}}}]}`,
	`{"Statement":[{"Resource":"a","Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}},"Condition":{"DateLessThan":{"AWS:EpochTime":9}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"DateLessThan":{"AWS:EpochTime":9}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5,"AWS:EpochTime":9}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"1.2.3.4/32","AWS:SourceIp":"0.0.0.0/0"}}}]}`,
	// missing DateLessThan, missing Condition, empty resource
	`{"Statement":[{"Resource":"a","Condition":{"DateGreaterThan":{"AWS:EpochTime":5}}}]}`,
	`{"Statement":[{"Resource":"a"}]}`,
	`{"Statement":[{"Resource":"","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{}}}]}`,
	// names are exact and case-sensitive; no extra keys
	`{"statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
	`{"Statement":[{"resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:Epochtime":5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}},"Effect":"Allow"}]}`,
	`{"Version":"1","Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"DateLessThanEquals":{"AWS:EpochTime":5}}}]}`,
	// epoch types
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":"5"}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5.5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":-5}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":1e9}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":99999999999999999999}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":null}}}]}`,
	// source IP
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"1.2.3.4"}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":["1.2.3.4/32"]}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"1.2.3.4/33"}}}]}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{}}}]}`,
	// syntax: trailing data, trailing comma, truncation, invalid UTF-8
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}{}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}],}`,
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]`,
	"{\"Statement\":[{\"Resource\":\"a\xff\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":5}}}]}",
	// depth and size caps
	`{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":5},"X":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}]}`,
	strings.Repeat("[", 100000),
	`{"Statement":[{"Resource":"` + strings.Repeat("a", MaxPolicySize) + `","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}`,
}

func TestParsePolicyMalformed(t *testing.T) {
	for _, in := range malformedPolicies {
		if p, err := ParsePolicy([]byte(in)); err == nil {
			t.Errorf("accepted %.120s as %+v", in, p)
		}
	}
}

// AppendJSON is byte-identical to the AWS SDK's encoding for every shape of
// policy the SDK can express.
func TestPolicyJSONMatchesSDK(t *testing.T) {
	exp, nbf := time.Unix(1767290400, 0), time.Unix(1767200000, 0)
	resources := []string{"https://h.test/a", "https://h.test/a?b=1&c=<2>", `https://h.test/"q"\`, "https://h.test/*", "http*://h.test/x", "*"}
	for _, res := range resources {
		for _, ip := range []string{"", "192.0.2.0/24", "10.0.0.5/32"} {
			for _, starts := range []time.Time{{}, nbf} {
				ours := &Policy{Resource: res, Expires: exp, Starts: starts}
				sdk := &sign.Policy{Statements: []sign.Statement{{Resource: res, Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(exp)}}}}
				if ip != "" {
					ours.SourceIP = netip.MustParsePrefix(ip)
					sdk.Statements[0].Condition.IPAddress = &sign.IPAddress{SourceIP: ip}
				}
				if !starts.IsZero() {
					sdk.Statements[0].Condition.DateGreaterThan = sign.NewAWSEpochTime(starts)
				}
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(sdk); err != nil {
					t.Fatal(err)
				}
				want := bytes.TrimSpace(buf.Bytes())
				got := ours.AppendJSON(nil)
				if !bytes.Equal(got, want) {
					t.Errorf("\n got %s\nwant %s", got, want)
				}
				// Round trip.
				back, err := ParsePolicy(got)
				if err != nil || !samePolicy(back, ours) {
					t.Errorf("round trip of %s: %+v %v", got, back, err)
				}
			}
		}
	}
}

// appendJSONString escapes exactly like encoding/json with
// SetEscapeHTML(false), on random bytes including invalid UTF-8.
func TestJSONStringEscaping(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	samples := []string{"", "plain", "<>&", "\x00\x1f\x7f", "\b\f\n\r\t", "\u2028\u2029", "é漢字", "\xff\xfe", "a\xe2\x80", `"\`}
	for range 2000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		samples = append(samples, string(b))
	}
	for _, s := range samples {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
		if got := appendJSONString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q as bytes: got %s want %s", s, got, want)
		}
	}
}

func samePolicy(a, b *Policy) bool {
	return a.Resource == b.Resource && a.Expires.Equal(b.Expires) && a.Starts.Equal(b.Starts) && a.SourceIP == b.SourceIP
}
