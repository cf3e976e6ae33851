package alert

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxAddresses caps the addresses one alert is decided on. Defender names one attacker,
// or a handful; a hundred is generous and keeps one hostile alert from fanning out into
// thousands of decisions. The addresses beyond it are counted (Incident.AddressesOverBound),
// never dropped unseen.
const MaxAddresses = 100

// Where an address was found.
const (
	SourceEntity             = "entity"
	SourceExtendedProperties = "extended_properties"
	SourceEvidence           = "evidence"
)

// addressSet collects normalized addresses in first-seen order, without duplicates,
// up to MaxAddresses; it counts the distinct ones beyond.
type addressSet struct {
	list []Address
	seen map[netip.Addr]struct{}
	over int
	// refused are the values structured fields gave as addresses that were not one
	// address; refusedMore counts those beyond maxRefused.
	refused     []RefusedAddress
	refusedMore int
}

// add records a, or counts it once the set is full. It reports whether to go on
// looking, which is always: an address past the bound must still be counted.
func (s *addressSet) add(a netip.Addr, source string) bool {
	a = normalizeAddr(a)
	if !a.IsValid() {
		return true
	}
	if s.seen == nil {
		s.seen = make(map[netip.Addr]struct{})
	}
	if _, dup := s.seen[a]; dup {
		return true
	}
	s.seen[a] = struct{}{}
	if len(s.list) >= MaxAddresses {
		s.over++
		return true
	}
	s.list = append(s.list, Address{IP: a, Source: source})
	return true
}

// normalizeAddr gives one spelling per address: IPv4-mapped IPv6 becomes IPv4 (a
// dual-stack front end reports ::ffff:1.2.3.4 for 1.2.3.4) and zones are dropped
// (they name a local interface, not a host on the internet).
func normalizeAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// maxRefused bounds the refused values kept on one incident, and maxRefusedValue the
// bytes kept of each: enough to see what was wrong, not a way to store a megabyte.
const (
	maxRefused      = MaxAddresses
	maxRefusedValue = 64
)

// refuse records a value given as an address in a structured field that is not one
// address, with why.
func (s *addressSet) refuse(value, source, reason string) {
	if len(s.refused) >= maxRefused {
		s.refusedMore++
		return
	}
	s.refused = append(s.refused, RefusedAddress{Value: quoteCut(value), Source: source, Reason: reason})
}

// quoteCut renders v with Go escapes (a NUL or a stray byte stays visible) and cut to
// maxRefusedValue bytes of input.
func quoteCut(v string) string {
	cut := len(v) > maxRefusedValue
	if cut {
		v = v[:maxRefusedValue]
	}
	q := strconv.Quote(v)
	q = q[1 : len(q)-1]
	if cut {
		q += "..."
	}
	return q
}

// maxAddressText is longer than any textual IPv6 address with a prefix length
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 49 bytes).
const maxAddressText = 64

// parseStrictAddress reads a structured field that names one address (an IP entity's
// address, a Graph ipEvidence's ipAddress). It accepts exactly one address, or a CIDR
// that is one address (/32, /128), and nothing around it: no blanks, port, brackets,
// zone or trailing bytes. A wider network is refused too, though well formed: decisions
// block single attackers, and acting on its first address would block something the
// alert did not name. The reason says what is wrong.
func parseStrictAddress(s string) (netip.Addr, string) {
	if s == "" {
		return netip.Addr{}, "empty"
	}
	if len(s) > maxAddressText {
		return netip.Addr{}, fmt.Sprintf("%d bytes, longer than any address", len(s))
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			return netip.Addr{}, fmt.Sprintf("blank at byte %d: want one address and nothing else", i)
		case c < 0x20 || c == 0x7f:
			return netip.Addr{}, fmt.Sprintf("control byte 0x%02x at byte %d", c, i)
		case c >= 0x80:
			return netip.Addr{}, fmt.Sprintf("non-ASCII byte 0x%02x at byte %d", c, i)
		}
	}
	if strings.Contains(s, "%") {
		return netip.Addr{}, "IPv6 zone: it names a local interface, not a host"
	}
	if addr, bits, ok := strings.Cut(s, "/"); ok {
		return parseStrictPrefix(s, addr, bits)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normalizeAddr(a), ""
	}
	if _, err := netip.ParseAddrPort(s); err == nil {
		return netip.Addr{}, "address with a port: want the address alone"
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return netip.Addr{}, "address in brackets: want the address alone"
	}
	return netip.Addr{}, "not an IP address"
}

// parseStrictPrefix reads s = addr "/" bits.
func parseStrictPrefix(s, addr, bits string) (netip.Addr, string) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}, "not an IP address before the slash"
	}
	n, err := strconv.Atoi(bits)
	if err != nil || bits == "" || bits[0] < '0' || bits[0] > '9' {
		return netip.Addr{}, fmt.Sprintf("prefix length %q is not a number from 0 to %d", bits, a.BitLen())
	}
	if n > a.BitLen() {
		return netip.Addr{}, fmt.Sprintf("prefix length /%d out of range for IPv%d (0-%d)", n, ipVersion(a), a.BitLen())
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Addr{}, fmt.Sprintf("prefix length %q is not canonical", bits)
	}
	if m := p.Masked(); m != p {
		return netip.Addr{}, fmt.Sprintf("host bits set: %s is not a network address (the network is %s)", s, m)
	}
	if p.IsSingleIP() {
		return normalizeAddr(p.Addr()), ""
	}
	return netip.Addr{}, fmt.Sprintf("a network of 2^%d addresses: only single addresses are acted on", p.Addr().BitLen()-p.Bits())
}

func ipVersion(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// scanAddresses finds IPv4 and IPv6 literals in free text (an extendedProperties
// value), calling emit for each in order until emit returns false.
//
// Free text holds many things that look like addresses, so a candidate is the longest
// run of hex digits, dots and colons, and it must stand alone: "1.2.3.4.5" is one run
// and no address; a run glued to a word ("v1.2.3.4", "1.2.3.4x") or following a word
// and a slash, as versions do in user agents ("Chrome/120.0.0.0"), is skipped, as is a
// run right after the word "version". Ports ("1.2.3.4:5678", "[2001:db8::1]:443") and
// IPv6 zones are dropped.
func scanAddresses(s string, emit func(netip.Addr) bool) {
	for i := 0; i < len(s); {
		if !isRunByte(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && isRunByte(s[i]) {
			i++
		}
		end := i
		zoneEnd := end
		if end < len(s) && s[end] == '%' {
			zoneEnd = end + 1
			for zoneEnd < len(s) && (isWordByte(s[zoneEnd]) || s[zoneEnd] == '-' || s[zoneEnd] == '.') {
				zoneEnd++
			}
			i = zoneEnd
		}
		cand := s[start:end]
		// A lone colon or trailing dots belong to the sentence ("IP:1.2.3.4", "from 1.2.3.4."),
		// a double colon to the address ("::1").
		if strings.HasPrefix(cand, ":") && !strings.HasPrefix(cand, "::") {
			cand = cand[1:]
			start++
		}
		if strings.HasSuffix(cand, ":") && !strings.HasSuffix(cand, "::") {
			cand = cand[:len(cand)-1]
		}
		cand = strings.TrimRight(cand, ".")
		if !standsAlone(s, start, zoneEnd) {
			continue
		}
		a, ok := literal(cand)
		if !ok {
			continue
		}
		if !emit(a) {
			return
		}
	}
}

// literal parses a candidate run: an address, or an address with a port.
func literal(c string) (netip.Addr, bool) {
	if strings.IndexFunc(c, func(r rune) bool { return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' }) < 0 {
		return netip.Addr{}, false // "::" alone is punctuation in prose, not a host
	}
	if a, err := netip.ParseAddr(c); err == nil {
		return normalizeAddr(a), true
	}
	if ap, err := netip.ParseAddrPort(c); err == nil && ap.Addr().Is4() {
		return normalizeAddr(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// standsAlone reports whether s[start:end] is not part of a larger word or version.
func standsAlone(s string, start, end int) bool {
	if end < len(s) && isWordByte(s[end]) {
		return false
	}
	if start == 0 {
		return true
	}
	prev := s[start-1]
	switch {
	case isWordByte(prev):
		return false
	case prev == '/':
		// "http://1.2.3.4" is an address; "Chrome/120.0.0.0" is a version.
		return start < 2 || !isWordByte(s[start-2])
	case prev == ' ' || prev == '\t':
		word := strings.ToLower(lastWord(s[:start]))
		return word != "version" && word != "ver" && word != "build"
	}
	return true
}

// lastWord is the word just before trailing blanks of s.
func lastWord(s string) string {
	s = strings.TrimRight(s, " \t")
	i := len(s)
	for i > 0 && isWordByte(s[i-1]) {
		i--
	}
	return s[i:]
}

// isRunByte reports whether c can be part of an address literal.
func isRunByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
