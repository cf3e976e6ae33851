// Package waf is the pure core of WAF enforcement: it turns desired IP blocks into the
// custom rules apiguard owns in an Application Gateway or Front Door WAF policy, and
// splices those rules into the policy document without touching anything else. It does
// no I/O; the reconciler in shared/enforce reads, writes and verifies. See README.md.
package waf

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// Kind is the WAF policy resource type: the two have different custom rule schemas.
type Kind string

const (
	AppGW     Kind = "appgw"     // Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies
	FrontDoor Kind = "frontdoor" // Microsoft.Network/FrontDoorWebApplicationFirewallPolicies
)

// Defaults. The priority band 50-99 is the one config.WAFTarget documents: after the
// customer's usual low-numbered rules (their Allow rules still run first) and inside
// Application Gateway's 1-100.
const (
	DefaultNamePrefix    = "apiguard"
	DefaultPriorityStart = 50
	DefaultPriorityEnd   = 99
	DefaultMaxValues     = 600 // values per IPMatch condition (540 on AppGW with CRS 3.1 and older)
	DefaultMaxRules      = 100 // custom rules per policy, the customer's included
	maxPrefixLen         = 40
)

// maxPriority is the highest custom rule priority each kind accepts. Application
// Gateway takes 1-100; Front Door documents no upper bound (the wire type is int32).
func maxPriority(k Kind) int {
	if k == AppGW {
		return 100
	}
	return math.MaxInt32
}

// Options say which rules apiguard owns in one policy and how it writes them.
type Options struct {
	Kind Kind
	// NamePrefix reserves rule names: every custom rule whose name starts with it
	// (case-insensitively) is apiguard's and may be replaced. Letters and digits,
	// starting with a letter, at most 40 characters (default "apiguard").
	NamePrefix string
	// PriorityStart..PriorityEnd (inclusive) is the band owned rules take their
	// priorities from (default 50-99). A customer rule inside the band keeps its
	// priority; ours use the free ones.
	PriorityStart int
	PriorityEnd   int
	// MaxValues is the number of addresses or ranges per IPMatch condition (default 600;
	// the caller sets 540 for Application Gateway with CRS 3.1 and older).
	MaxValues int
	// MaxRules is the custom rule limit of the policy, the customer's rules included
	// (default 100).
	MaxRules int
	// Action is "Block" (default) or "Log" (canary: the rules only log what they would block).
	Action string
	// MatchVariable is the address the rules match: Application Gateway "RemoteAddr",
	// Front Door "SocketAddr" (default; the peer address, which a client cannot spoof)
	// or "RemoteAddr".
	MatchVariable string
	// Now drops entries already expired and orders eviction by remaining time. The zero
	// time drops nothing.
	Now time.Time
	// Guard, when set, refuses entries of protected addresses (recorded as evictions)
	// at the last step before rules are written, whatever the caller checked before:
	// enforcement passes decide's guard, which sees through the IPv4 addresses
	// embedded in IPv6 ones (NAT64, 6to4, Teredo).
	Guard Guard
}

// Guard says why a block of p must never be written, or "" (decide.Guard is one).
type Guard interface {
	WhyPrefix(p netip.Prefix) string
}

// WithDefaults fills every zero field with its default.
func (o Options) WithDefaults() Options {
	if o.NamePrefix == "" {
		o.NamePrefix = DefaultNamePrefix
	}
	if o.PriorityStart == 0 {
		o.PriorityStart = DefaultPriorityStart
	}
	if o.PriorityEnd == 0 {
		o.PriorityEnd = DefaultPriorityEnd
	}
	if o.MaxValues == 0 {
		o.MaxValues = DefaultMaxValues
	}
	if o.MaxRules == 0 {
		o.MaxRules = DefaultMaxRules
	}
	if o.Action == "" {
		o.Action = "Block"
	}
	if o.MatchVariable == "" {
		o.MatchVariable = "RemoteAddr"
		if o.Kind == FrontDoor {
			o.MatchVariable = "SocketAddr"
		}
	}
	return o
}

// Validate checks the options as given (call WithDefaults first) and names every
// problem at once, as a rejection: a bad setting is fixed by the operator, not retried.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch o.Kind {
	case AppGW, FrontDoor:
	default:
		bad("kind %q is not %q or %q", o.Kind, AppGW, FrontDoor)
	}
	if !validPrefix(o.NamePrefix) {
		bad("name prefix %q must start with a letter and hold 1-%d letters and digits", o.NamePrefix, maxPrefixLen)
	}
	hi := maxPriority(o.Kind)
	switch {
	case o.PriorityStart < 1 || o.PriorityEnd < 1:
		bad("priority band %d-%d must start at 1 or above", o.PriorityStart, o.PriorityEnd)
	case o.PriorityEnd < o.PriorityStart:
		bad("priority band %d-%d is empty", o.PriorityStart, o.PriorityEnd)
	case o.PriorityEnd > hi:
		bad("priority band %d-%d: %s custom rules take priorities 1-%d", o.PriorityStart, o.PriorityEnd, o.Kind, hi)
	}
	if o.MaxValues < 1 || o.MaxValues > DefaultMaxValues {
		bad("max values %d outside 1-%d", o.MaxValues, DefaultMaxValues)
	}
	if o.MaxRules < 1 || o.MaxRules > DefaultMaxRules {
		bad("max rules %d outside 1-%d", o.MaxRules, DefaultMaxRules)
	}
	if o.Action != "Block" && o.Action != "Log" {
		bad("action %q is not Block or Log", o.Action)
	}
	switch {
	case o.Kind == AppGW && o.MatchVariable != "RemoteAddr":
		bad("match variable %q: Application Gateway matches addresses on RemoteAddr only", o.MatchVariable)
	case o.Kind == FrontDoor && o.MatchVariable != "SocketAddr" && o.MatchVariable != "RemoteAddr":
		bad("match variable %q is not SocketAddr or RemoteAddr", o.MatchVariable)
	}
	if len(errs) == 0 {
		return nil
	}
	return fault.Rejected(400, fmt.Errorf("waf options: %w", errors.Join(errs...)))
}

// validPrefix is the name rule Front Door enforces (letters and digits, a letter
// first), applied to both kinds so one prefix works everywhere.
func validPrefix(s string) bool {
	if len(s) == 0 || len(s) > maxPrefixLen || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// splitsForwarded says whether Forwarded entries get rules of their own on RemoteAddr:
// only on Front Door matching SocketAddr (otherwise every rule already matches RemoteAddr).
func (o Options) splitsForwarded() bool {
	return o.Kind == FrontDoor && o.MatchVariable != "RemoteAddr"
}
