package l4

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// PROXY protocol v2 constants (HAProxy doc/proxy-protocol.txt §2.2).
const (
	pp2TypeALPN      = 0x01
	pp2TypeAuthority = 0x02
	pp2TypeCRC32C    = 0x03
	pp2TypeUniqueID  = 0x05
	// pp2TypeAWS is AWS's custom TLV; its value starts with a subtype byte.
	pp2TypeAWS          = 0xEA
	pp2SubtypeAWSVPCEID = 0x01

	// MaxUniqueIDLen is the spec's bound on PP2_TYPE_UNIQUE_ID.
	MaxUniqueIDLen = 128
	// maxHeaderV2Len is go-proxyproto's receive limit (MaxV2HeaderSize);
	// we never send more than receivers of that library accept.
	maxHeaderV2Len = 4096
)

var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrHeaderTooLong is returned when the TLVs would make a PROXY v2 header
// longer than receivers accept (4096 bytes, go-proxyproto's limit).
var ErrHeaderTooLong = errors.New("l4: proxy header: longer than 4096 bytes")

// HeaderOptions are the TLVs of a PROXY v2 header besides PP2_TYPE_CRC32C,
// which is always sent. The zero value sends no optional TLV.
type HeaderOptions struct {
	// UniqueID is sent as PP2_TYPE_UNIQUE_ID (at most 128 bytes); nil omits it.
	UniqueID []byte
	// Authority is sent as PP2_TYPE_AUTHORITY: the SNI of a TLS listener.
	Authority string
	// EndpointID is sent as the AWS TLV 0xEA with subtype 0x01 (the VPC
	// endpoint id NLB sends for PrivateLink traffic): US-ASCII letters,
	// digits and '-' (ValidateEndpointID).
	EndpointID string
}

// ValidateEndpointID checks the config value proxy_protocol_endpoint_id:
// receivers such as go-proxyproto's tlvparse accept only [A-Za-z0-9-].
func ValidateEndpointID(s string) error {
	if len(s) > 255 {
		return fmt.Errorf("l4: endpoint id: longer than 255 bytes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("l4: endpoint id %q: byte %d is not a letter, digit or '-'", s, i)
		}
	}
	return nil
}

// AppendHeaderV2 appends a PROXY protocol v2 header with the PROXY command
// for a TCP flow from src to dst, and returns the extended buffer. IPv4 and
// IPv4-mapped addresses are sent as TCP over IPv4 when both ends are IPv4,
// otherwise both are sent as IPv6. The TLVs are, in order: PP2_TYPE_CRC32C
// (over the whole header with the field zeroed), PP2_TYPE_AUTHORITY,
// PP2_TYPE_UNIQUE_ID and the AWS endpoint id, each only when set. It does
// not allocate when b has room for the header.
func AppendHeaderV2(b []byte, src, dst netip.AddrPort, o *HeaderOptions) ([]byte, error) {
	if !src.IsValid() || !dst.IsValid() {
		return b, fmt.Errorf("l4: proxy header %s -> %s: invalid address", src, dst)
	}
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	start := len(b)
	b = append(b, v2Signature[:]...)
	b = append(b, 0x21) // version 2, PROXY
	if s.Is4() && d.Is4() {
		b = append(b, 0x11, 0, 0) // TCP over IPv4, length patched below
		a4 := s.As4()
		b = append(b, a4[:]...)
		a4 = d.As4()
		b = append(b, a4[:]...)
	} else {
		b = append(b, 0x21, 0, 0) // TCP over IPv6
		a16 := s.As16()
		b = append(b, a16[:]...)
		a16 = d.As16()
		b = append(b, a16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return finishV2(b, start, o)
}

// AppendLocalHeaderV2 appends a PROXY v2 header with the LOCAL command and
// no addresses (family UNSPEC), as NLB sends on health-check connections:
// the receiver uses the real connection endpoints. PP2_TYPE_CRC32C is
// included, and the TLVs of o when set.
func AppendLocalHeaderV2(b []byte, o *HeaderOptions) ([]byte, error) {
	start := len(b)
	b = append(b, v2Signature[:]...)
	b = append(b, 0x20, 0x00, 0, 0) // version 2 LOCAL, UNSPEC
	return finishV2(b, start, o)
}

func appendTLV(b []byte, typ byte, v []byte) []byte {
	b = append(b, typ, byte(len(v)>>8), byte(len(v)))
	return append(b, v...)
}

func appendTLVString(b []byte, typ byte, v string) []byte {
	b = append(b, typ, byte(len(v)>>8), byte(len(v)))
	return append(b, v...)
}

// finishV2 appends the TLVs, patches the length and fills the checksum.
func finishV2(b []byte, start int, o *HeaderOptions) ([]byte, error) {
	crcAt := len(b) + 3
	b = append(b, pp2TypeCRC32C, 0, 4, 0, 0, 0, 0)
	if o != nil {
		if len(o.UniqueID) > MaxUniqueIDLen {
			return b[:start], fmt.Errorf("l4: proxy header unique id: %d bytes, at most %d", len(o.UniqueID), MaxUniqueIDLen)
		}
		if len(o.Authority) > maxHeaderV2Len || len(o.EndpointID) > maxHeaderV2Len {
			return b[:start], ErrHeaderTooLong
		}
		if o.Authority != "" {
			b = appendTLVString(b, pp2TypeAuthority, o.Authority)
		}
		if o.UniqueID != nil {
			b = appendTLV(b, pp2TypeUniqueID, o.UniqueID)
		}
		if o.EndpointID != "" {
			n := len(o.EndpointID) + 1
			b = append(b, pp2TypeAWS, byte(n>>8), byte(n), pp2SubtypeAWSVPCEID)
			b = append(b, o.EndpointID...)
		}
	}
	total := len(b) - start
	if total > maxHeaderV2Len {
		return b[:start], ErrHeaderTooLong
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(total-16))
	binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b[start:], castagnoli))
	return b, nil
}

// NewHeaderV2 returns the header AppendHeaderV2 writes as go-proxyproto's
// type, for code that works with that library; FormatHeaderV2 turns it into
// bytes with a correct checksum (go-proxyproto's Format leaves it zero).
func NewHeaderV2(src, dst netip.AddrPort, o *HeaderOptions) (*proxyproto.Header, error) {
	if !src.IsValid() || !dst.IsValid() {
		return nil, fmt.Errorf("l4: proxy header %s -> %s: invalid address", src, dst)
	}
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	h := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY}
	if s.Is4() && d.Is4() {
		h.TransportProtocol = proxyproto.TCPv4
	} else {
		h.TransportProtocol = proxyproto.TCPv6
		s, d = netip.AddrFrom16(s.As16()), netip.AddrFrom16(d.As16())
	}
	h.SourceAddr = &net.TCPAddr{IP: s.AsSlice(), Port: int(src.Port())}
	h.DestinationAddr = &net.TCPAddr{IP: d.AsSlice(), Port: int(dst.Port())}
	if err := h.SetTLVs(headerTLVs(o)); err != nil {
		return nil, fmt.Errorf("l4: proxy header tlvs: %w", err)
	}
	return h, nil
}

func headerTLVs(o *HeaderOptions) []proxyproto.TLV {
	tlvs := []proxyproto.TLV{{Type: pp2TypeCRC32C, Value: make([]byte, 4)}}
	if o == nil {
		return tlvs
	}
	if o.Authority != "" {
		tlvs = append(tlvs, proxyproto.TLV{Type: pp2TypeAuthority, Value: []byte(o.Authority)})
	}
	if o.UniqueID != nil {
		tlvs = append(tlvs, proxyproto.TLV{Type: pp2TypeUniqueID, Value: o.UniqueID})
	}
	if o.EndpointID != "" {
		tlvs = append(tlvs, proxyproto.TLV{Type: pp2TypeAWS, Value: append([]byte{pp2SubtypeAWSVPCEID}, o.EndpointID...)})
	}
	return tlvs
}

// FormatHeaderV2 formats a version 2 go-proxyproto header and sets its
// PP2_TYPE_CRC32C to the CRC32c (Castagnoli) of the whole header computed
// with the field zeroed; a header without that TLV gets one in front of its
// other TLVs.
func FormatHeaderV2(h *proxyproto.Header) ([]byte, error) {
	if h.Version != 2 {
		return nil, fmt.Errorf("l4: proxy header: version %d, want 2", h.Version)
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return nil, fmt.Errorf("l4: proxy header tlvs: %w", err)
	}
	found := false
	for i := range tlvs {
		if tlvs[i].Type == pp2TypeCRC32C {
			tlvs[i].Value = make([]byte, 4)
			found = true
		}
	}
	if !found {
		tlvs = append([]proxyproto.TLV{{Type: pp2TypeCRC32C, Value: make([]byte, 4)}}, tlvs...)
	}
	c := *h
	if err := c.SetTLVs(tlvs); err != nil {
		return nil, fmt.Errorf("l4: proxy header tlvs: %w", err)
	}
	b, err := c.Format()
	if err != nil {
		return nil, fmt.Errorf("l4: proxy header format: %w", err)
	}
	at, ok := crcOffset(b)
	if !ok {
		return nil, fmt.Errorf("l4: proxy header: formatted header has no checksum field")
	}
	binary.BigEndian.PutUint32(b[at:], crc32.Checksum(b, castagnoli))
	return b, nil
}

// crcOffset finds the value of the first PP2_TYPE_CRC32C TLV in a formatted
// v2 header.
func crcOffset(b []byte) (int, bool) {
	if len(b) < 16 {
		return 0, false
	}
	i := 16
	switch b[13] >> 4 {
	case 1:
		i += 12
	case 2:
		i += 36
	case 3:
		i += 216
	}
	end := 16 + int(binary.BigEndian.Uint16(b[14:]))
	if end > len(b) {
		return 0, false
	}
	for i+3 <= end {
		n := int(binary.BigEndian.Uint16(b[i+1:]))
		if b[i] == pp2TypeCRC32C && n == 4 && i+7 <= end {
			return i + 3, true
		}
		i += 3 + n
	}
	return 0, false
}

// DialLocal returns a dial function, the shape of health.Options.Dial, that
// connects with d (nil: a zero net.Dialer) and writes a PROXY v2 LOCAL
// header before returning the connection, as NLB does on health checks to
// targets of a group with proxy_protocol_v2. The write is bounded by ctx.
func DialLocal(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	hdr, _ := AppendLocalHeaderV2(nil, nil) // fixed content: cannot fail
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetWriteDeadline(dl)
		}
		if _, err := c.Write(hdr); err != nil {
			c.Close()
			return nil, fmt.Errorf("l4: proxy header %s: %w", addr, err)
		}
		_ = c.SetWriteDeadline(time.Time{})
		return c, nil
	}
}
