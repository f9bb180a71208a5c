package l4

import (
	"bufio"
	"bytes"
	"net/netip"
	"testing"
	"testing/iotest"

	proxyproto "github.com/pires/go-proxyproto"
)

// readHeaderAsListener reads a header the way ProxyProtocolListener does
// (go-proxyproto's parser, then our validation) and returns the client
// address a flow would use.
func readHeaderAsListener(r *bufio.Reader) (h *proxyproto.Header, client netip.AddrPort, err error) {
	h, err = proxyproto.Read(r)
	if err != nil {
		return nil, client, err
	}
	if err := validateHeader(h); err != nil {
		return nil, client, err
	}
	if h.Command.IsProxy() && h.TransportProtocol != proxyproto.UNSPEC {
		client, _ = addrPort(h.SourceAddr)
	}
	return h, client, nil
}

// FUZ-01: no panic; the same verdict whether the bytes come at once or one
// at a time; an accepted PROXY header always yields a client address; never
// more than a maximal header is consumed.
func FuzzProxyHeader(f *testing.F) {
	v4, _ := AppendHeaderV2(nil, netip.MustParseAddrPort("127.0.0.2:1"), netip.MustParseAddrPort("127.0.0.1:2"),
		&HeaderOptions{UniqueID: []byte("id"), Authority: "a", EndpointID: "vpce-1"})
	v6, _ := AppendHeaderV2(nil, netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("[::1]:2"), nil)
	local, _ := AppendLocalHeaderV2(nil, nil)
	seeds := [][]byte{
		v4, v6, local,
		[]byte("PROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n"),
		[]byte("PROXY TCP6 ::1 ::1 1 2\r\n"),
		[]byte("PROXY UNKNOWN\r\n"),
		[]byte("PROXY TCP4 127.0.0.1 127.0.0.2 1 2\n"),
		[]byte("PROXY TCP4 127.0.0.01 127.0.0.2 01 2\r\n"),
		[]byte("proxy TCP4 127.0.0.1 127.0.0.2 1 2\r\n"),
		append([]byte("PROXY TCP4 127.0.0.1 127.0.0.2 1 2"), bytes.Repeat([]byte(" "), 100)...),
		append([]byte("PROXY "), v4...),
		append(append([]byte(nil), v4...), v4...),
		v4[:20],
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	}
	bad := append([]byte(nil), v4...)
	bad[13] = 0x13 // undefined transport
	seeds = append(seeds, bad)
	long := append([]byte(nil), v4...)
	long[14], long[15] = 0xff, 0xff
	seeds = append(seeds, long)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		whole := bufio.NewReader(src)
		h1, c1, err1 := readHeaderAsListener(whole)
		slow := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(data)))
		h2, c2, err2 := readHeaderAsListener(slow)
		// go-proxyproto refuses a v1 line that does not arrive in one read
		// (its slow-loris defence), so for v1 only "accepted one byte at a
		// time ⇒ accepted at once" holds.
		v1 := bytes.HasPrefix(data, []byte("PROXY"))
		if (err1 == nil) != (err2 == nil) && !(v1 && err1 == nil) {
			t.Fatalf("verdicts differ: %v vs %v", err1, err2)
		}
		if consumed := len(data) - src.Len() - whole.Buffered(); consumed > 4096+16 {
			t.Fatalf("consumed %d bytes", consumed)
		}
		if err1 != nil || err2 != nil {
			return
		}
		if !h1.EqualsTo(h2) || c1 != c2 {
			t.Fatalf("headers differ: %+v vs %+v", h1, h2)
		}
		if h1.Command.IsProxy() && (h1.TransportProtocol == proxyproto.TCPv4 || h1.TransportProtocol == proxyproto.TCPv6) {
			if h1.SourceAddr == nil || h1.DestinationAddr == nil || !c1.IsValid() {
				t.Fatalf("accepted PROXY header without addresses: %+v", h1)
			}
		}
	})
}
