package fragment

import (
	"strconv"
	"strings"
	"unicode/utf16"
)

// The policy expressions apiguard writes. Values that come from outside (addresses,
// subscription and user ids, claim names and values, API ids) only ever appear inside
// C# string literals written by csString, whose output is printable ASCII without
// quotes, backslashes, XML specials, braces or parentheses: nothing a caller sends can
// end the literal, the expression or the attribute, or form a named value ({{name}}).
//
// The context members read are those of APIM's context variable: Request.IpAddress,
// Request.Headers, Subscription.Id, User.Id (IUser) and Api.Id (contextMembers in
// syntax_test.go holds the tests to this list).

// csSafe reports whether c may stand for itself inside a C# string literal in an APIM
// attribute. Everything else is written as a \uXXXX escape.
func csSafe(c rune) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.ContainsRune(" .:_-/@+=,;~!#$%*|?", c)
}

// csString writes s as a C# regular string literal (s must be valid UTF-8). Characters
// outside csSafe become \uXXXX escapes of their UTF-16 code units, which C# reads back
// as exactly the same string: a claim value with a quote, an angle bracket, "{{", a
// newline or an emoji still compares equal to what the token carries.
func csString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		if csSafe(r) {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			b.WriteString(`\u`)
			h := strconv.FormatUint(uint64(u), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)))
			b.WriteString(strings.ToUpper(h))
		}
	}
	b.WriteByte('"')
	return b.String()
}

// attr escapes text for a double-quoted XML attribute: &, < and " (">" is legal there
// and keeps conditions readable). Line breaks and tabs are written as character
// references because a parser turns literal ones into spaces.
func attr(s string) string {
	if !strings.ContainsAny(s, "&<\"\n\r\t") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		case '\t':
			b.WriteString("&#x9;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// keySafe reports whether c may stand for itself in a counter key.
func keySafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._~:-", c) >= 0
}

// keyPart percent-encodes one field of a counter key: "/" and "%" never appear raw, so
// fields cannot run into each other and the key is unique per throttle target.
func keyPart(s string) string {
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; keySafe(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&0xf])
		}
	}
	return b.String()
}

// counterKey is the literal counter key of a throttle: "apiguard/" + kind + fields.
// A literal is enough because the throttle's condition already admits only its
// target; it cannot collide with a customer's key (counter keys are shared across
// scopes) unless the customer uses the "apiguard/" prefix.
func counterKey(kind KeyKind, claim, value, api string) string {
	k := "apiguard/" + string(kind) + "/"
	if kind == KeyClaim {
		k += keyPart(claim) + "/"
	}
	k += keyPart(value)
	if api != "" {
		k += "/api/" + keyPart(api)
	}
	return k
}

// eachKeyPrefix is the literal part of a per-client throttle's counter key:
// "apiguard/each/" + kind + "/" + [claim + "/"] + "api/" + api + "/", fields
// percent-encoded. It differs per kind, claim and API, and the "each/" keeps it apart
// from the single-client keys ("apiguard/ip/...": no kind is "each").
func eachKeyPrefix(kind KeyKind, claim, api string) string {
	k := "apiguard/each/" + string(kind) + "/"
	if kind == KeyClaim {
		k += keyPart(claim) + "/"
	}
	return k + "api/" + keyPart(api) + "/"
}

// Per-client counter keys of subscription, user and claim throttles mark what follows
// the prefix, so an identity that reads like an address never shares the counter of
// the callers without one at that address.
const (
	markID   = "id/" // a subscription id, user id or claim value follows
	markAddr = "ip/" // no identity: the caller's address follows
)

// clientExpr is the C# expression, of type string, that names the client of a
// per-client throttle in its counter key:
//
//   - ip: context.Request.IpAddress, the immediate caller.
//   - subscription: "id/" + the subscription id, or "ip/" + the caller's address when
//     there is no subscription.
//   - user: "id/" + the APIM user id, or "ip/" + the caller's address when there is
//     no user (no subscription, or one no user owns).
//   - claim: "id/" + the claim as keyExpr reads it, or "ip/" + the caller's address
//     when the token or the claim is absent or empty. The token is parsed a second
//     time when the claim is present.
func clientExpr(kind KeyKind, claim string) string {
	var id, idThen string
	switch kind {
	case KeySubscription:
		id, idThen = "context.Subscription?.Id", "context.Subscription.Id"
	case KeyUser:
		id, idThen = "context.User?.Id", "context.User.Id"
	case KeyClaim:
		id = keyExpr(kind, claim)
		idThen = id
	default:
		return "context.Request.IpAddress"
	}
	return "string.IsNullOrEmpty(" + id + ") ? " + csString(markAddr) + " + context.Request.IpAddress : " +
		csString(markID) + " + " + idThen
}

// eachCounterKey is the counter key expression of a per-client throttle: the literal
// prefix, then the client.
func eachCounterKey(prefix string, kind KeyKind, claim string) string {
	return "@(" + csString(prefix) + " + (" + clientExpr(kind, claim) + "))"
}

// apiCondition admits every caller of one API (a per-client throttle's condition).
func apiCondition(api string) string {
	return "@(context.Api.Id == " + csString(api) + ")"
}

// keyExpr is the C# expression, of type string, that yields a throttle target's
// identity for the current request.
//
//   - ip: context.Request.IpAddress, the immediate caller.
//   - subscription: context.Subscription?.Id (null without a subscription).
//   - user: context.User?.Id, the APIM user (IUser.Id; userId in gateway logs), null
//     without a user: a subscription no user owns, or no subscription.
//   - claim: the claim from the bearer token in Authorization, read with AsJwt, which
//     parses without validating (null when there is no token). A multi-valued claim
//     reads as its values joined with commas.
func keyExpr(kind KeyKind, claim string) string {
	switch kind {
	case KeySubscription:
		return "context.Subscription?.Id"
	case KeyUser:
		return "context.User?.Id"
	case KeyClaim:
		return `context.Request.Headers.GetValueOrDefault("Authorization", "").AsJwt()?.Claims.GetValueOrDefault(` + csString(claim) + `, "")`
	}
	return "context.Request.IpAddress"
}

// condition is the C# condition that admits only a single-client throttle's target:
// the API first (cheap, and it spares the token parse on other APIs), then the key.
// Value is never empty, so a caller without a subscription, user or claim never matches.
func condition(kind KeyKind, claim, value, api string) string {
	c := keyExpr(kind, claim) + " == " + csString(value)
	if api != "" {
		c = "context.Api.Id == " + csString(api) + " && " + c
	}
	return "@(" + c + ")"
}

// forwardedHead and forwardedTail surround the set of forwarded keys in the C#
// statement block that decides whether the client behind the trusted proxy is blocked:
//
//  1. take the hops-th entry from the right of the header (fewer entries: no match);
//  2. strip "[...]" around IPv6 and ":port" after IPv4 (a single colon);
//  3. parse it with System.Net.IPAddress (no match if it does not parse), map an
//     IPv4-mapped IPv6 address to IPv4;
//  4. key = "4" or "6" + the address bytes in hex (BitConverter), which is the same for
//     every spelling of the address, unlike IPAddress.ToString for IPv6;
//  5. blocked if " " + key[:n] + " " occurs in the set for some key length n in use:
//     a single address is a full key, a CIDR block the prefix of its hex digits.
//
// Only members the APIM expression allow-list names are used (IPAddress, BitConverter,
// Math, String, Array).
func forwardedHead(header string, hops int) string {
	return "@{var h = context.Request.Headers.GetValueOrDefault(" + csString(header) + `, "").Split(','); ` +
		"if (" + strconv.Itoa(hops) + " > h.Length) return false; " +
		"var s = h[h.Length - " + strconv.Itoa(hops) + "].Trim(); " +
		`if (s.StartsWith("[")) { s = s.Substring(1, Math.Max(s.IndexOf(']') - 1, 0)); } ` +
		`else if (s.IndexOf(':') > 0 && s.IndexOf(':') == s.LastIndexOf(':')) { s = s.Substring(0, s.IndexOf(':')); } ` +
		"System.Net.IPAddress a; if (!System.Net.IPAddress.TryParse(s, out a)) return false; " +
		"if (a.IsIPv4MappedToIPv6) a = a.MapToIPv4(); " +
		"var b = a.GetAddressBytes(); " +
		`var k = (b.Length == 4 ? "4" : "6") + BitConverter.ToString(b).Replace("-", ""); ` +
		`var set = " `
}

// forwardedTail closes the set and tests each key length in use (ascending).
func forwardedTail(lengths []int) string {
	var b strings.Builder
	b.WriteString(`"; foreach (var n in new[] { `)
	for i, n := range lengths {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteString(` }) { if (k.Length >= n && set.Contains(" " + k.Substring(0, n) + " ")) return true; } return false;}`)
	return b.String()
}
