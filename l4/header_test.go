package l4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// crc32cBitwise is a CRC32c (Castagnoli, reflected polynomial 0x82F63B78)
// written from the definition, independent of hash/crc32.
func crc32cBitwise(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82F63B78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestCRC32cCheckValue(t *testing.T) {
	// RFC 3720 / the usual check value for "123456789".
	if got := crc32cBitwise([]byte("123456789")); got != 0xE3069283 {
		t.Fatalf("bitwise crc32c = %#x", got)
	}
}

// parsedV2 is what the independent parser extracts.
type parsedV2 struct {
	cmd, fam byte
	src, dst netip.AddrPort
	tlvs     map[byte][]byte
	order    []byte
	total    int
}

// parseV2 is a PROXY v2 parser written from the spec text, for checking our
// encoder without trusting go-proxyproto alone. It verifies the CRC32C TLV.
func parseV2(b []byte) (parsedV2, error) {
	var p parsedV2
	if len(b) < 16 || !bytes.Equal(b[:12], []byte("\r\n\r\n\x00\r\nQUIT\n")) {
		return p, errors.New("bad signature")
	}
	if b[12]>>4 != 2 {
		return p, errors.New("bad version")
	}
	p.cmd, p.fam = b[12]&0xF, b[13]
	p.total = 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if p.total > len(b) {
		return p, errors.New("short header")
	}
	rest := b[16:p.total]
	switch p.fam {
	case 0x11:
		if len(rest) < 12 {
			return p, errors.New("short ipv4 block")
		}
		s, _ := netip.AddrFromSlice(rest[0:4])
		d, _ := netip.AddrFromSlice(rest[4:8])
		p.src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(rest[8:]))
		p.dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(rest[10:]))
		rest = rest[12:]
	case 0x21:
		if len(rest) < 36 {
			return p, errors.New("short ipv6 block")
		}
		s, _ := netip.AddrFromSlice(rest[0:16])
		d, _ := netip.AddrFromSlice(rest[16:32])
		p.src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(rest[32:]))
		p.dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(rest[34:]))
		rest = rest[36:]
	case 0x00:
	default:
		return p, errors.New("unexpected family")
	}
	p.tlvs = map[byte][]byte{}
	crcAt := -1
	off := p.total - len(rest)
	for len(rest) > 0 {
		if len(rest) < 3 {
			return p, errors.New("short tlv")
		}
		n := int(rest[1])<<8 | int(rest[2])
		if len(rest) < 3+n {
			return p, errors.New("tlv overruns header")
		}
		if _, dup := p.tlvs[rest[0]]; dup {
			return p, errors.New("duplicate tlv")
		}
		p.tlvs[rest[0]] = rest[3 : 3+n]
		p.order = append(p.order, rest[0])
		if rest[0] == 0x03 {
			crcAt = off + 3
		}
		off += 3 + n
		rest = rest[3+n:]
	}
	if crcAt < 0 {
		return p, errors.New("no crc32c tlv")
	}
	c := append([]byte(nil), b[:p.total]...)
	want := binary.BigEndian.Uint32(c[crcAt:])
	copy(c[crcAt:crcAt+4], []byte{0, 0, 0, 0})
	if got := crc32cBitwise(c); got != want {
		return p, errors.New("crc32c mismatch")
	}
	return p, nil
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const sigHex = "0d0a0d0a000d0a515549540a"

func TestHeaderV2Golden(t *testing.T) {
	opts := &HeaderOptions{
		UniqueID:   []byte{0xde, 0xad, 0xbe, 0xef},
		Authority:  "db.example.com",
		EndpointID: "vpce-08d2bf15fac5001c9",
	}
	cases := []struct {
		name     string
		src, dst string
		local    bool
		opts     *HeaderOptions
		golden   string
	}{
		{name: "ipv4", src: "127.0.0.2:40000", dst: "127.0.0.1:8081",
			golden: sigHex + "21 11 0013 7f000002 7f000001 9c40 1f91 03 0004 2d7098c1"},
		{name: "ipv6", src: "[::1]:40000", dst: "[2001:db8::1]:443",
			golden: sigHex + "21 21 002b 00000000000000000000000000000001 20010db8000000000000000000000001 9c40 01bb 03 0004 0a7f1c28"},
		{name: "local", local: true,
			golden: sigHex + "20 00 0007 03 0004 a9b87e8f"},
		{name: "ipv4 tlvs", src: "127.0.0.2:40000", dst: "127.0.0.1:8081", opts: opts,
			golden: sigHex + "21 11 0045 7f000002 7f000001 9c40 1f91 03 0004 854ef0e4" +
				" 02 000e " + hex.EncodeToString([]byte("db.example.com")) +
				" 05 0004 deadbeef" +
				" ea 0017 01 " + hex.EncodeToString([]byte("vpce-08d2bf15fac5001c9"))},
		{name: "mixed families become ipv6", src: "127.0.0.2:1", dst: "[::1]:2",
			golden: sigHex + "21 21 002b 00000000000000000000ffff7f000002 00000000000000000000000000000001 0001 0002 03 0004 0b05e757"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []byte
			var err error
			if c.local {
				got, err = AppendLocalHeaderV2(nil, c.opts)
			} else {
				got, err = AppendHeaderV2(nil, netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst), c.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, c.golden)
			if !bytes.Equal(got, want) {
				t.Fatalf("header bytes\n got %x\nwant %x", got, want)
			}

			// The independent parser (which also checks the CRC32C).
			p, err := parseV2(got)
			if err != nil {
				t.Fatalf("independent parser: %v", err)
			}
			if p.total != len(got) {
				t.Errorf("declared length %d, header %d bytes", p.total, len(got))
			}
			if p.order[0] != 0x03 {
				t.Errorf("first TLV %#x, want the CRC32C", p.order[0])
			}

			// go-proxyproto's parser, followed by payload bytes that must stay unread.
			r := bufio.NewReader(bytes.NewReader(append(append([]byte(nil), got...), "PAYLOAD"...)))
			h, err := proxyproto.Read(r)
			if err != nil {
				t.Fatalf("go-proxyproto: %v", err)
			}
			if rest, _ := r.Peek(7); string(rest) != "PAYLOAD" {
				t.Errorf("go-proxyproto consumed %q", rest)
			}
			if c.local {
				if !h.Command.IsLocal() || p.cmd != 0 || p.fam != 0 {
					t.Errorf("command %v fam %#x, want LOCAL UNSPEC", h.Command, p.fam)
				}
			} else {
				src, dst := netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst)
				hs, hd, ok := h.TCPAddrs()
				if !ok || hs.AddrPort().Addr().Unmap() != src.Addr().Unmap() || hs.AddrPort().Port() != src.Port() ||
					hd.AddrPort().Addr().Unmap() != dst.Addr().Unmap() || hd.AddrPort().Port() != dst.Port() {
					t.Errorf("go-proxyproto addrs %v %v", hs, hd)
				}
				if p.src.Addr().Unmap() != src.Addr().Unmap() || p.dst.Port() != dst.Port() {
					t.Errorf("independent parser addrs %v %v", p.src, p.dst)
				}
			}
			tlvs, err := h.TLVs()
			if err != nil {
				t.Fatal(err)
			}
			if c.opts != nil {
				if got := tlvparse.FindAWSVPCEndpointID(tlvs); got != c.opts.EndpointID {
					t.Errorf("AWS endpoint id %q", got)
				}
				if string(p.tlvs[0x02]) != c.opts.Authority || !bytes.Equal(p.tlvs[0x05], c.opts.UniqueID) {
					t.Errorf("authority %q unique id %x", p.tlvs[0x02], p.tlvs[0x05])
				}
			}

			// The go-proxyproto header type formats to the same bytes.
			if !c.local {
				ph, err := NewHeaderV2(netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst), c.opts)
				if err != nil {
					t.Fatal(err)
				}
				fb, err := FormatHeaderV2(ph)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(fb, got) {
					t.Errorf("FormatHeaderV2\n got %x\nwant %x", fb, got)
				}
			}
		})
	}
}

// A header go-proxyproto formats (checksum left zero) gets a correct one.
func TestFormatHeaderV2AddsCRC(t *testing.T) {
	h := proxyproto.HeaderProxyFromAddrs(2,
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1234}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80})
	if err := h.SetTLVs([]proxyproto.TLV{{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	b, err := FormatHeaderV2(h)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseV2(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.order[0] != 0x03 || string(p.tlvs[0x02]) != "x" {
		t.Errorf("tlvs %v", p.order)
	}
}

func TestHeaderV2Limits(t *testing.T) {
	src, dst := netip.MustParseAddrPort("127.0.0.2:1"), netip.MustParseAddrPort("127.0.0.1:2")
	if _, err := AppendHeaderV2(nil, src, dst, &HeaderOptions{UniqueID: make([]byte, 129)}); err == nil {
		t.Error("129-byte unique id accepted")
	}
	if _, err := AppendHeaderV2(nil, src, dst, &HeaderOptions{Authority: strings.Repeat("a", 4070)}); !errors.Is(err, ErrHeaderTooLong) {
		t.Errorf("oversized header: %v", err)
	}
	if _, err := AppendHeaderV2(nil, netip.AddrPort{}, dst, nil); err == nil {
		t.Error("invalid source accepted")
	}
	if err := ValidateEndpointID("vpce-0abc"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"vpce_1", "a b", "é", strings.Repeat("a", 256)} {
		if ValidateEndpointID(bad) == nil {
			t.Errorf("endpoint id %q accepted", bad)
		}
	}
}

func TestAppendHeaderV2Allocs(t *testing.T) {
	src, dst := netip.MustParseAddrPort("[::1]:40000"), netip.MustParseAddrPort("[::1]:8081")
	o := &HeaderOptions{UniqueID: []byte("0123456789abcdef"), Authority: "a.example"}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendHeaderV2(buf[:0], src, dst, o)
	})
	if allocs != 0 {
		t.Errorf("AppendHeaderV2 allocates %.1f times", allocs)
	}
}

// DialLocal writes a LOCAL header before anything else on the connection.
func TestDialLocal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 64)
		n, _ := c.Read(b)
		got <- b[:n]
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialLocal(nil)(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := <-got
	want := unhex(t, sigHex+"20 00 0007 03 0004 a9b87e8f")
	if !bytes.Equal(b, want) {
		t.Fatalf("target received %x, want %x", b, want)
	}
}
