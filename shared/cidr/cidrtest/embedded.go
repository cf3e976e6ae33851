package cidrtest

import (
	"net/netip"
)

// Form writes an IPv4 address into an IPv6 one the way a translator or tunnel does. The
// encoders are written from the RFC layouts byte by byte, apart from shared/cidr's bit
// table, so that tests check one against the other.
type Form struct {
	Name string // as cidr.Embedding.Name
	// Protected says the guard refuses every address of the form whatever it carries
	// (the range itself is not globally reachable).
	Protected bool
	Embed     func(v4 [4]byte) netip.Addr
}

// TeredoServer and TeredoClient are the public addresses a Teredo address of the
// "Teredo client" and "Teredo server" forms carries beside the sample.
var (
	TeredoServer = [4]byte{65, 54, 227, 120}
	TeredoClient = [4]byte{45, 153, 160, 142}
)

// Forms are the embedded forms the guard sees through, each with its encoder.
var Forms = []Form{
	{Name: "IPv4-mapped", Embed: func(v [4]byte) netip.Addr { return netip.AddrFrom16(netip.AddrFrom4(v).As16()) }},
	{Name: "IPv4-compatible", Embed: func(v [4]byte) netip.Addr { // ::a.b.c.d
		var b [16]byte
		copy(b[12:], v[:])
		return netip.AddrFrom16(b)
	}},
	{Name: "NAT64", Embed: func(v [4]byte) netip.Addr { // RFC 6052 /96: 64:ff9b::a.b.c.d
		b := [16]byte{0x00, 0x64, 0xff, 0x9b}
		copy(b[12:], v[:])
		return netip.AddrFrom16(b)
	}},
	{Name: "local-use NAT64", Protected: true, Embed: func(v [4]byte) netip.Addr {
		// RFC 6052 /48 layout: prefix (6 bytes), a.b, u-octet 0, c.d, suffix 0.
		b := [16]byte{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01, v[0], v[1], 0, v[2], v[3]}
		return netip.AddrFrom16(b)
	}},
	{Name: "6to4", Embed: func(v [4]byte) netip.Addr { // 2002:V4ADDR::/48, host ::1
		b := [16]byte{0x20, 0x02, v[0], v[1], v[2], v[3]}
		b[15] = 1
		return netip.AddrFrom16(b)
	}},
	{Name: "Teredo server", Embed: func(v [4]byte) netip.Addr { return teredo(v, TeredoClient) }},
	{Name: "Teredo client", Embed: func(v [4]byte) netip.Addr { return teredo(TeredoServer, v) }},
}

// teredo is RFC 4380 §4: 2001:0000, server, flags (cone bit), port and client
// address each inverted.
func teredo(server, client [4]byte) netip.Addr {
	b := [16]byte{0x20, 0x01, 0x00, 0x00, server[0], server[1], server[2], server[3], 0x80, 0x00, 0x63, 0xbf}
	for i := range 4 {
		b[12+i] = ^client[i]
	}
	return netip.AddrFrom16(b)
}

// Sample is an IPv4 address of one kind, for tables of embedded forms.
type Sample struct {
	Addr netip.Addr
	Kind string // "private", "loopback", "platform", "allow-listed", "public"...
}

// AllowListed is the allow-list under which Samples' "allow-listed" kind holds.
var AllowListed = []netip.Prefix{netip.MustParsePrefix("20.50.0.0/16")}

// Samples are IPv4 addresses of every kind the guard protects, and public ones it does
// not: embedded, only the public ones may be blocked (in forms that are not Protected).
var Samples = []Sample{
	{netip.MustParseAddr("10.0.0.1"), "private"},
	{netip.MustParseAddr("172.16.5.4"), "private"},
	{netip.MustParseAddr("192.168.1.1"), "private"},
	{netip.MustParseAddr("100.64.0.1"), "carrier-grade NAT"},
	{netip.MustParseAddr("127.0.0.1"), "loopback"},
	{netip.MustParseAddr("0.0.0.0"), "this network"},
	{netip.MustParseAddr("168.63.129.16"), "platform"},
	{netip.MustParseAddr("169.254.169.254"), "platform"},
	{netip.MustParseAddr("192.88.99.1"), "6to4 relay anycast"},
	{netip.MustParseAddr("224.0.0.1"), "multicast"},
	{netip.MustParseAddr("255.255.255.255"), "broadcast"},
	{netip.MustParseAddr("20.50.1.2"), "allow-listed"},
	{netip.MustParseAddr("45.153.160.142"), "public"},
	{netip.MustParseAddr("8.8.8.8"), "public"},
	{netip.MustParseAddr("52.168.1.1"), "public"},
}

// EmbeddedCase is one IPv4 sample in one embedded form.
type EmbeddedCase struct {
	Form      string
	Inner     Sample
	Addr      netip.Addr
	Blockable bool // public inner address in a form that is not protected whole
}

// EmbeddedCases are Samples in every Form.
func EmbeddedCases() []EmbeddedCase {
	out := make([]EmbeddedCase, 0, len(Forms)*len(Samples))
	for _, f := range Forms {
		for _, s := range Samples {
			out = append(out, EmbeddedCase{Form: f.Name, Inner: s, Addr: f.Embed(s.Addr.As4()),
				Blockable: s.Kind == "public" && !f.Protected})
		}
	}
	return out
}
