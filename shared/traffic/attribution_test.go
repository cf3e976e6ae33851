package traffic

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/shared/config"
)

// attributionCases is the spoofing table of README.md, and more: who a request is
// attributed to for a peer, a trust configuration and a forwarded header as logged.
var attributionCases = []struct {
	name    string
	proxies string // APIGUARD_TRUSTED_PROXIES syntax (config.ParsePrefixes)
	peer    string
	chain   string
	client  string // "" for none
	note    string
}{
	// A client talking to the gateway directly cannot choose its address.
	{"spoofed XFF, no proxy configured", "", "203.0.113.5", "6.6.6.6", "203.0.113.5", ""},
	{"spoofed XFF, peer not a trusted proxy", "10.0.1.0/24", "203.0.113.5", "6.6.6.6", "203.0.113.5", ""},
	{"client claims to be a proxy", "10.0.1.0/24", "203.0.113.5", "10.0.1.5, 10.0.1.4", "203.0.113.5", ""},
	// Through one trusted proxy: the entry it appended is believed, nothing left of it.
	{"one trusted proxy", "10.0.1.0/24", "10.0.1.4", "203.0.113.5", "203.0.113.5", ""},
	{"spoofed left entries, one trusted proxy", "10.0.1.0/24", "10.0.1.4", "6.6.6.6, 7.7.7.7, 203.0.113.5", "203.0.113.5", ""},
	{"spoofed trusted-looking entry on the left", "10.0.1.0/24", "10.0.1.4", "10.0.1.9, 6.6.6.6, 203.0.113.5", "203.0.113.5", ""},
	// Two trusted proxies (Front Door then Application Gateway).
	{"two trusted proxies", "10.0.1.0/24, 147.243.0.0/16", "10.0.1.4", "6.6.6.6, 203.0.113.5, 147.243.1.1", "203.0.113.5", ""},
	{"two trusted proxies, same range", "10.0.0.0/8", "10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.1", "203.0.113.5", ""},
	{"every entry trusted", "10.0.0.0/8", "10.0.0.2", "10.0.0.5, 10.0.0.4", "10.0.0.5", NoteAllTrusted},
	// Ports, IPv6, normalization.
	{"IPv4 with port", "10.0.1.0/24", "10.0.1.4", "203.0.113.5:5678", "203.0.113.5", ""},
	{"IPv6 bracketed with port", "10.0.1.0/24", "10.0.1.4", "[2001:db8::1]:443", "2001:db8::1", ""},
	{"IPv6 bracketed", "10.0.1.0/24", "10.0.1.4", "[2001:db8::1]", "2001:db8::1", ""},
	{"IPv6 bare", "10.0.1.0/24", "10.0.1.4", "2001:db8::1", "2001:db8::1", ""},
	{"IPv4-mapped IPv6", "10.0.1.0/24", "10.0.1.4", "::ffff:203.0.113.5", "203.0.113.5", ""},
	{"zone dropped", "10.0.1.0/24", "10.0.1.4", "fe80::1%eth0", "fe80::1", ""},
	{"IPv6 proxy", "2001:db8:ffff::/48", "2001:db8:ffff::1", "203.0.113.5, 2001:db8:ffff::2", "203.0.113.5", ""},
	{"mapped peer is trusted", "10.0.1.0/24", "::ffff:10.0.1.4", "203.0.113.5", "203.0.113.5", ""},
	{"mapped proxy prefix", "::ffff:10.0.1.0/120", "10.0.1.4", "203.0.113.5", "203.0.113.5", ""},
	{"spaces and tabs", "10.0.1.0/24", "10.0.1.4", " 6.6.6.6 ,\t203.0.113.5\t", "203.0.113.5", ""},
	{"RFC 7239 element", "10.0.1.0/24", "10.0.1.4", "for=6.6.6.6, for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60", ""},
	{"RFC 7239 quoted IPv6", "10.0.1.0/24", "10.0.1.4", `for="[2001:db8:cafe::17]:4711"`, "2001:db8:cafe::17", ""},
	// Garbage: the walk stops at the first unparseable entry, client = the proxy.
	{"garbage rightmost", "10.0.1.0/24", "10.0.1.4", "203.0.113.5, garbage", "10.0.1.4", NoteBadForwarded},
	{"garbage left of the client is never read", "10.0.1.0/24", "10.0.1.4", "garbage, 203.0.113.5", "203.0.113.5", ""},
	{"garbage behind a trusted hop", "10.0.1.0/24", "10.0.1.4", "203.0.113.5, garbage, 10.0.1.3", "10.0.1.4", NoteBadForwarded},
	{"empty entry", "10.0.1.0/24", "10.0.1.4", "203.0.113.5, , 10.0.1.3", "10.0.1.4", NoteBadForwarded},
	{"unknown", "10.0.1.0/24", "10.0.1.4", "unknown", "10.0.1.4", NoteBadForwarded},
	{"hostname", "10.0.1.0/24", "10.0.1.4", "proxy.internal:8080", "10.0.1.4", NoteBadForwarded},
	{"leading zeros", "10.0.1.0/24", "10.0.1.4", "010.0.0.1", "10.0.1.4", NoteBadForwarded},
	{"port too long", "10.0.1.0/24", "10.0.1.4", "203.0.113.5:123456", "10.0.1.4", NoteBadForwarded},
	{"empty port", "10.0.1.0/24", "10.0.1.4", "203.0.113.5:", "10.0.1.4", NoteBadForwarded},
	{"unclosed bracket", "10.0.1.0/24", "10.0.1.4", "[2001:db8::1", "10.0.1.4", NoteBadForwarded},
	{"entry over 100 bytes", "10.0.1.0/24", "10.0.1.4", strings.Repeat("1", 200), "10.0.1.4", NoteBadForwarded},
	// Missing header.
	{"empty header", "10.0.1.0/24", "10.0.1.4", "", "10.0.1.4", NoteNoForwarded},
	{"blank header", "10.0.1.0/24", "10.0.1.4", "  \t", "10.0.1.4", NoteNoForwarded},
	{"no peer", "10.0.1.0/24", "", "203.0.113.5", "", NoteNoPeer},
	// Bounds: only the rightmost 32 entries are looked at.
	{"header over 8 KiB", "10.0.1.0/24", "10.0.1.4", strings.Repeat("6.6.6.6, ", 1000) + "203.0.113.5", "203.0.113.5", ""},
	{"40 trusted hops", "10.0.0.0/8", "10.0.0.1", "203.0.113.5, " + hops(40), "10.0.0.1", NoteTooManyHops},
	{"32 trusted hops then the client", "10.0.0.0/8", "10.0.0.1", "203.0.113.5, " + hops(32), "10.0.0.1", NoteTooManyHops},
	{"31 trusted hops then the client", "10.0.0.0/8", "10.0.0.1", "203.0.113.5, " + hops(31), "203.0.113.5", ""},
}

// hops returns n trusted entries, comma separated.
func hops(n int) string {
	h := make([]string, n)
	for i := range h {
		h[i] = fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
	}
	return strings.Join(h, ", ")
}

func TestAttribution(t *testing.T) {
	for _, c := range attributionCases {
		t.Run(c.name, func(t *testing.T) {
			proxies, err := config.ParsePrefixes(c.proxies)
			if err != nil {
				t.Fatal(err)
			}
			var peer netip.Addr
			if c.peer != "" {
				peer = netip.MustParseAddr(c.peer)
			}
			trust := Trust{Proxies: proxies}
			client, note := trust.Attribute(peer, c.chain)
			if got := addr(client); got != c.client || note != c.note {
				t.Errorf("client %q note %q, want %q note %q", got, note, c.client, c.note)
			}
			// The byte path the decoders take agrees with the string path.
			bc, bn := attribute(trust.normalized(), normAddr(peer), []byte(c.chain))
			if bc != client || bn != note {
				t.Errorf("bytes: client %v note %q, string: %v %q", bc, bn, client, note)
			}
		})
	}
}

func (t Trust) normalized() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range t.Proxies {
		out = append(out, normPrefix(p))
	}
	return out
}

// The long-header case must not cost more than the rightmost entries.
func BenchmarkAttributeLongHeader(b *testing.B) {
	trust := Trust{Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	chain := []byte(strings.Repeat("6.6.6.6, ", 100_000) + "203.0.113.5, 10.0.0.9")
	peer := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := attribute(trust.Proxies, peer, chain); c.String() != "203.0.113.5" {
			b.Fatal(c)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := Options{Format: "xml", MaxRecordBytes: 10, MaxBatchBytes: 5,
		Trust: Trust{Proxies: []netip.Prefix{{}}, ForwardedHeader: "X Bad"}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"xml", "max record bytes", "max batch bytes", "trusted proxy 0", "X Bad"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
