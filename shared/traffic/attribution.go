package traffic

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// DefaultForwardedHeader is the request header that carries the forwarded chain.
const DefaultForwardedHeader = "X-Forwarded-For"

const (
	// maxForwardedEntries bounds the walk: only the rightmost entries are looked at,
	// however long a client makes the header.
	maxForwardedEntries = 32
	// maxEntryLen bounds one entry ("[ipv6%zone]:port" fits many times over).
	maxEntryLen = 100
)

// Notes explain an attribution that fell back. They are constants so callers can
// compare them.
const (
	NoteNoPeer            = "no usable peer address in the log (missing, or not an IP address)"
	NoteNoForwarded       = "peer is a trusted proxy but no forwarded address was logged; client is the proxy"
	NoteBadForwarded      = "unparseable forwarded entry after the trusted hops; client is the proxy"
	NoteTooManyHops       = "more than 32 forwarded entries are trusted proxies; client is the proxy"
	NoteAllTrusted        = "every forwarded entry is a trusted proxy; client is the furthest one"
	NoteFrontDoorNoSocket = "Front Door record without a usable socketIp; clientIp may come from a client-sent X-Forwarded-For and is not used"
)

// Trust says which proxies' forwarded headers are believed.
//
// The rule: Client = Peer (the address the logging gateway saw) unless Peer is
// inside one of Proxies. Then the forwarded chain is walked from the right,
// skipping entries that are themselves trusted proxies, and the first entry that
// is not becomes Client. An unparseable entry at that point stops the walk with
// Client = Peer: nothing to the left of it is ever used, since everything left of
// the last trusted hop was written by the client. Only the rightmost 32 entries
// are looked at.
type Trust struct {
	// Proxies are the address ranges of the proxies in front of the gateway (an
	// Application Gateway subnet, Front Door's AzureFrontDoor.Backend ranges, a CDN).
	// Empty: no proxy is trusted and every request is its peer's.
	Proxies []netip.Prefix
	// ForwardedHeader names the request header holding the chain, for logs that
	// record request headers (APIM with header logging). Default X-Forwarded-For.
	// "Forwarded" (RFC 7239) works too: each element's for= parameter is read.
	ForwardedHeader string
}

func (t Trust) validate() error {
	var errs []error
	for i, p := range t.Proxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("trusted proxy %d is not a valid prefix", i))
		}
	}
	h := t.ForwardedHeader
	if h == "" || len(h) > foldLen || strings.IndexFunc(h, func(r rune) bool { return !isTokenRune(r) }) >= 0 {
		errs = append(errs, fmt.Errorf("forwarded header %q is not a header name of 1-%d token characters", h, foldLen))
	}
	return errors.Join(errs...)
}

func isTokenRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// Trusted reports whether a is inside a trusted proxy prefix.
func (t Trust) Trusted(a netip.Addr) bool { return trusted(t.Proxies, normAddr(a)) }

// Attribute applies the rule to a request seen from peer with the given forwarded
// chain (the header's value, as logged). note is "" when the client is the peer or
// a forwarded entry found cleanly, else one of the Note constants.
func (t Trust) Attribute(peer netip.Addr, forwarded string) (client netip.Addr, note string) {
	return attribute(t.Proxies, normAddr(peer), forwarded)
}

// normPrefix masks p and turns an IPv4-mapped prefix into its IPv4 form.
func normPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

func normAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
		if pa := p.Addr(); pa.Is4In6() && a.Is4() && p.Bits() >= 96 && netip.PrefixFrom(pa.Unmap(), p.Bits()-96).Contains(a) {
			return true
		}
	}
	return false
}

// attribute is Trust.Attribute for normalized peers and chains held as either
// strings or bytes (the decoders pass bytes and allocate nothing).
func attribute[S ~string | ~[]byte](proxies []netip.Prefix, peer netip.Addr, chain S) (netip.Addr, string) {
	if !peer.IsValid() {
		return netip.Addr{}, NoteNoPeer
	}
	if len(proxies) == 0 || !trusted(proxies, peer) {
		return peer, ""
	}
	end := len(chain)
	for end > 0 && isBlankByte(chain[end-1]) {
		end--
	}
	if end == 0 {
		return peer, NoteNoForwarded
	}
	var furthest netip.Addr
	for range maxForwardedEntries {
		start := end
		for start > 0 && chain[start-1] != ',' && end-start <= maxEntryLen {
			start--
		}
		if end-start > maxEntryLen {
			return peer, NoteBadForwarded
		}
		a, ok := parseHost(chain[start:end])
		if !ok {
			return peer, NoteBadForwarded
		}
		if !trusted(proxies, a) {
			return a, ""
		}
		furthest = a
		if start == 0 {
			return furthest, NoteAllTrusted
		}
		end = start - 1
	}
	return peer, NoteTooManyHops
}

func isBlankByte(c byte) bool { return c == ' ' || c == '\t' }

// parseHost reads one forwarded entry: an address with optional port ("1.2.3.4",
// "1.2.3.4:5678", "[2001:db8::1]:443", "2001:db8::1"), optionally quoted or as an
// RFC 7239 element (for=...;proto=...). IPv4-mapped addresses become IPv4; zones are
// dropped. Hostnames, "unknown" and obfuscated identifiers are not addresses.
func parseHost[S ~string | ~[]byte](s S) (netip.Addr, bool) {
	s = trimBlank(s)
	if len(s) == 0 || len(s) > maxEntryLen {
		return netip.Addr{}, false
	}
	if indexByte(s, '=') >= 0 {
		s = forParam(s)
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) == 0 {
		return netip.Addr{}, false
	}
	host := s
	if s[0] == '[' {
		j := indexByte(s, ']')
		if j < 0 {
			return netip.Addr{}, false
		}
		host = s[1:j]
		if rest := s[j+1:]; len(rest) > 0 && (rest[0] != ':' || !isPort(rest[1:])) {
			return netip.Addr{}, false
		}
	} else if j := indexByte(s, ':'); j >= 0 && indexByte(s[j+1:], ':') < 0 {
		if !isPort(s[j+1:]) {
			return netip.Addr{}, false
		}
		host = s[:j]
	}
	if a, ok := parseIPv4(host); ok {
		return a, true
	}
	if indexByte(host, ':') < 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(host))
	if err != nil {
		return netip.Addr{}, false
	}
	return normAddr(a), true
}

// forParam returns the value of the for= parameter of an RFC 7239 element, or ""
// when there is none.
func forParam[S ~string | ~[]byte](s S) S {
	for len(s) > 0 {
		j := indexByte(s, ';')
		part := s
		if j >= 0 {
			part, s = s[:j], s[j+1:]
		} else {
			s = s[:0]
		}
		part = trimBlank(part)
		if len(part) > 4 && part[0]|0x20 == 'f' && part[1]|0x20 == 'o' && part[2]|0x20 == 'r' && part[3] == '=' {
			return part[4:]
		}
	}
	return s[:0]
}

func isPort[S ~string | ~[]byte](s S) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseIPv4 reads a dotted quad with no leading zeros (which some parsers read as
// octal: refusing them keeps every reader agreeing on the address).
func parseIPv4[S ~string | ~[]byte](s S) (netip.Addr, bool) {
	var out [4]byte
	part, n, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || part > 3 {
				return netip.Addr{}, false
			}
			out[part] = byte(n)
			part++
			n, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits > 0 && n == 0 {
			return netip.Addr{}, false
		}
		n = n*10 + int(c-'0')
		digits++
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	if part != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(out), true
}

func trimBlank[S ~string | ~[]byte](s S) S {
	for len(s) > 0 && isBlankByte(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isBlankByte(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func indexByte[S ~string | ~[]byte](s S, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
