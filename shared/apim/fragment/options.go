package fragment

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// Defaults and limits.
const (
	// DefaultMaxBytes is APIM's limit on a policy fragment.
	DefaultMaxBytes = 32768
	// DefaultForwardedHeader is the header Application Gateway (and most proxies) append
	// the client address to.
	DefaultForwardedHeader = "X-Forwarded-For"
	// DefaultTrustedHops is one trusted proxy in front of APIM.
	DefaultTrustedHops = 1
	// maxTrustedHops bounds TrustedHops: no real chain of proxies is longer.
	maxTrustedHops = 16
	// maxText bounds Value, Claim and API: subscription ids, user ids, claim values and
	// API names are short; a longer one is a mistake or an attack on the fragment's size.
	maxText = 256
)

// Tiers, as Options.Tier takes them (case-insensitive). Only Consumption lacks
// rate-limit-by-key; the v2 tiers and Isolated have it.
const (
	TierDeveloper   = "developer"
	TierBasic       = "basic"
	TierStandard    = "standard"
	TierPremium     = "premium"
	TierConsumption = "consumption"
)

var knownTiers = map[string]bool{
	"": true, TierDeveloper: true, TierBasic: true, TierStandard: true, TierPremium: true,
	TierConsumption: true, "basicv2": true, "standardv2": true, "premiumv2": true, "isolated": true,
}

// ConsumptionThrottle values.
const (
	ConsumptionSkip  = "skip"  // throttles are left out and reported in Result.Skipped
	ConsumptionBlock = "block" // an ip throttle becomes a block; identity throttles are skipped
)

// Options say how the fragment is written. The zero value is usable: every zero field
// takes its default.
type Options struct {
	// MaxBytes is the size the rendered fragment must not exceed (default and maximum
	// 32768, APIM's fragment limit). Everything written is ASCII, so bytes are characters.
	MaxBytes int
	// ForwardedHeader carries the client address when a trusted proxy sits in front of
	// APIM: "X-Forwarded-For" (default; a list, see TrustedHops) or a single-address
	// header such as Front Door's "X-Azure-ClientIP". Any other header name is read
	// like X-Azure-ClientIP: its right-most entry is the client.
	ForwardedHeader string
	// TrustedHops applies to X-Forwarded-For only: how many trusted proxies append to it
	// in front of APIM (default 1). Each appends the address of the peer it saw, so with
	// N trusted proxies the client is the N-th entry counted from the right; entries
	// further left were written by the client and are never trusted. With fewer than N
	// entries the request is not matched. Ports (Application Gateway appends ip:port)
	// and IPv6 brackets are stripped.
	TrustedHops int
	// Tier is the APIM tier: "", "developer", "basic", "standard", "premium",
	// "consumption" (or "basicv2", "standardv2", "premiumv2", "isolated"). Only
	// Consumption changes anything: it has no rate-limit-by-key.
	Tier string
	// ConsumptionThrottle says what becomes of throttles on Consumption: "skip"
	// (default) or "block" (an ip throttle that is not API-scoped becomes a block;
	// the others are skipped).
	ConsumptionThrottle string
	// Now drops entries that have expired (Expires <= Now) and is the clock eviction's
	// "shortest remaining time" is read against. The zero time drops nothing.
	Now time.Time
	// Guard, when set, refuses blocks and ip throttles of protected addresses (reported
	// in Skipped) at the last step before bytes are written, whatever the caller
	// checked before: enforcement passes decide's guard, which sees through the IPv4
	// addresses embedded in IPv6 ones (NAT64, 6to4, Teredo).
	Guard Guard
}

// Guard says why a block of p must never be written, or "" (decide.Guard is one).
type Guard interface {
	WhyPrefix(p netip.Prefix) string
}

// withDefaults fills every zero field with its default and normalises case.
func (o Options) withDefaults() Options {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.ForwardedHeader == "" {
		o.ForwardedHeader = DefaultForwardedHeader
	}
	if o.TrustedHops == 0 {
		o.TrustedHops = DefaultTrustedHops
	}
	o.Tier = strings.ToLower(strings.TrimSpace(o.Tier))
	o.ConsumptionThrottle = strings.ToLower(strings.TrimSpace(o.ConsumptionThrottle))
	if o.ConsumptionThrottle == "" {
		o.ConsumptionThrottle = ConsumptionSkip
	}
	return o
}

// Validate reports every invalid setting at once, as a rejection: retrying with the
// same options cannot help. Zero fields are valid (they take defaults).
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	switch {
	case o.MaxBytes < 0 || o.MaxBytes > DefaultMaxBytes:
		errs = append(errs, fmt.Errorf("MaxBytes %d: must be 1..%d (APIM's fragment limit)", o.MaxBytes, DefaultMaxBytes))
	case o.MaxBytes < len(emptyFragment):
		errs = append(errs, fmt.Errorf("MaxBytes %d: even the empty fragment takes %d bytes", o.MaxBytes, len(emptyFragment)))
	}
	if !isToken(o.ForwardedHeader) {
		errs = append(errs, fmt.Errorf("ForwardedHeader %q: not an HTTP header name", o.ForwardedHeader))
	} else if strings.EqualFold(o.ForwardedHeader, "Forwarded") {
		errs = append(errs, errors.New(`ForwardedHeader "Forwarded": the RFC 7239 header (for=...) is not supported; use X-Forwarded-For or X-Azure-ClientIP`))
	}
	if o.TrustedHops < 1 || o.TrustedHops > maxTrustedHops {
		errs = append(errs, fmt.Errorf("TrustedHops %d: must be 1..%d", o.TrustedHops, maxTrustedHops))
	}
	if !knownTiers[o.Tier] {
		errs = append(errs, fmt.Errorf("Tier %q: not an APIM tier (developer, basic, standard, premium, consumption, basicv2, standardv2, premiumv2, isolated)", o.Tier))
	}
	if o.ConsumptionThrottle != ConsumptionSkip && o.ConsumptionThrottle != ConsumptionBlock {
		errs = append(errs, fmt.Errorf("ConsumptionThrottle %q: must be %q or %q", o.ConsumptionThrottle, ConsumptionSkip, ConsumptionBlock))
	}
	if len(errs) == 0 {
		return nil
	}
	return fault.Rejected(0, fmt.Errorf("fragment options: %w", errors.Join(errs...)))
}

// isXFF reports whether the forwarded header is a list appended to by each proxy.
func (o Options) isXFF() bool { return strings.EqualFold(o.ForwardedHeader, DefaultForwardedHeader) }

// hops is the entry, counted from the right, that holds the client.
func (o Options) hops() int {
	if o.isXFF() {
		return o.TrustedHops
	}
	return 1
}

// isToken reports whether s is an RFC 9110 token, the syntax of a header name.
func isToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
