package triage

import (
	"fmt"
	"slices"
	"strings"
)

// How a call reaches an API, as the gateway decides it:
//
//   - An API whose own subscriptionRequired is false takes calls without a key, whatever
//     its products say.
//   - An API whose subscriptionRequired is true wants a key, but a published product
//     that requires no subscription (an open product) lets calls through it without one.
//   - A product's policy applies only to calls made through that product.
//
// A call with a key is authenticated by the key. A call without one is authenticated
// only by a validate-jwt, validate-azure-ad-token or validate-client-certificate that
// its policy chain runs unconditionally: global, then the product it comes through (if
// any), then the API, then the operation, each scope running its parent's inbound where
// it has <base /> and dropping it where it has none. So an API is authenticated when no
// keyless path exists, or when every keyless path runs a validation on every operation.

// access is how calls reach an API without a key.
type access struct {
	apiOpen bool  // the API's own subscriptionRequired is false
	open    []int // published products without subscription that hold the API (indexes)
}

func (a access) keyRequired() bool { return !a.apiOpen && len(a.open) == 0 }

// path is one way a call without a key reaches the API: directly (product nil) or
// through an open product.
type path struct {
	product *Product
	scope   *scope // the product's policy; nil for the direct path
}

func (p path) String() string {
	if p.product == nil {
		return "without a product"
	}
	return "through open product " + p.product.Name
}

// paths lists the keyless paths. When the API takes keyless calls and is also in open
// products, a keyless call may be matched to either: all are paths.
func (c *classifier) paths(sc *serviceCtx, a access) []path {
	var ps []path
	if a.apiOpen {
		ps = append(ps, path{})
	}
	for _, i := range a.open {
		ps = append(ps, path{product: &sc.svc.Products[i], scope: sc.productScope(c, i)})
	}
	return ps
}

type verdict uint8

const (
	no verdict = iota
	yes
	maybe // unknown
)

// reach is what one policy chain, narrowest scope first, does with one feature.
type reach struct {
	v    verdict
	by   *scope // yes: the scope whose direct child provides it
	what string // yes: the element ("validate-jwt")
	// cut is where the chain ends without the feature: the scope without <base /> (no)
	// or the unreadable one (maybe); -1 when the chain ran out.
	cut  int
	frag *scope // a scope on the way that includes a fragment not in the inventory
	cond *scope // a scope on the way with a conditional validation
}

// walk follows chain (narrowest first; nil entries skipped) until a scope provides the
// feature (has returns its element), drops its parent (no <base />) or cannot be read.
func walk(chain []*scope, has func(*scope) string) reach {
	r := reach{cut: -1}
	for i, s := range chain {
		if s == nil || s.state == absent {
			continue
		}
		if s.state == unknown {
			r.v, r.cut = maybe, i
			return r
		}
		if r.cond == nil && s.conditional != "" {
			r.cond = s
		}
		if w := has(s); w != "" {
			r.v, r.by, r.what = yes, s, w
			return r
		}
		if r.frag == nil && len(s.fragments) > 0 {
			r.frag = s
		}
		if !s.base {
			r.cut = i
			break
		}
	}
	if r.frag != nil {
		r.v = maybe
	}
	return r
}

// dropped names a validation in a scope broader than chain[cut]: what the cut drops.
func dropped(chain []*scope, cut int) string {
	if cut < 0 {
		return ""
	}
	for _, s := range chain[cut+1:] {
		if s != nil && s.state == readable && s.validation != "" {
			return s.validation + " of " + s.label
		}
	}
	return ""
}

func hasValidation(s *scope) string { return s.validation }

func hasRateLimit(s *scope) string {
	if s.rateLimit {
		return "rate limit"
	}
	return ""
}

// authResult is the authenticated signal with what the recommendations need.
type authResult struct {
	sig    Signal
	phrase string
	access access
	// overriding are operations whose own policy has no <base /> and so drops a
	// validation of a broader scope.
	overriding []string
}

// failure is the first chain that fails, for the source.
type failure struct {
	r     reach
	chain []*scope
	op    string
	p     path
}

// authenticated decides the authenticated signal of an API.
func (c *classifier) authenticated(sc *serviceCtx, ac *apiCtx) authResult {
	api := ac.api
	res := authResult{access: sc.access(api)}
	sig := Signal{Name: SignalAuthenticated}
	a := res.access
	observed, seen := defenderAuth(api)
	if a.keyRequired() {
		sig.Value, sig.Known = true, true
		sig.Source = "the gateway requires a subscription key (API subscriptionRequired is true and no open product holds it)"
		if seen {
			sig.Source += "; " + observed + ": a change within those days, or calls the configuration does not explain"
		}
		res.sig, res.phrase = sig, "a subscription key is required"
		return res
	}
	var parts []string
	if a.apiOpen {
		parts = append(parts, "API subscriptionRequired is false: the gateway takes calls without a key")
	}
	if len(a.open) > 0 {
		parts = append(parts, fmt.Sprintf("%s %s (published, no subscription required) %s calls without a key",
			plural(len(a.open), "open product", "open products"), sc.productNames(a.open), plural(len(a.open), "takes", "take")))
	}

	// Every keyless path, every operation.
	var (
		worst          = yes
		first          *failure
		failing, total int
		by             []reach // the validations that reach, one per element and scope
		cond           *scope
	)
	ops := ac.opScopes(c, sc)
	over := make([]bool, len(ops))
	api0 := ac.apiScope(c, sc)
	global := sc.globalScope(c)
	chain := make([]*scope, 4)
	for _, p := range c.paths(sc, a) {
		for i, op := range ops {
			total++
			chain[0], chain[1], chain[2], chain[3] = op, api0, p.scope, global
			r := walk(chain, hasValidation)
			if cond == nil {
				cond = r.cond
			}
			if r.v == yes {
				if !slices.ContainsFunc(by, func(b reach) bool { return b.by == r.by && b.what == r.what }) {
					by = append(by, r)
				}
				continue
			}
			failing++
			if r.v == no && r.cut == 0 && dropped(chain, 0) != "" {
				over[i] = true
			}
			if first == nil || r.v == no && worst != no {
				first = &failure{r: r, chain: slices.Clone(chain), op: ac.opLabel(i), p: p}
			}
			if r.v == no || worst == yes {
				worst = r.v
			}
		}
	}
	for i := range api.Operations {
		if over[i] {
			res.overriding = append(res.overriding, api.Operations[i].Name)
		}
	}

	var condNote string
	if cond != nil && worst != yes {
		condNote = cond.conditional + " in " + cond.label + " applies only to some requests, so it does not count"
	}
	switch {
	case worst == yes:
		sig.Value, sig.Known = true, true
		var what, elems []string
		for _, b := range by {
			what = append(what, b.what+" in "+b.by.label)
			if !slices.Contains(elems, b.what) {
				elems = append(elems, b.what)
			}
		}
		parts = append(parts, "but "+sentence(what)+" "+plural(len(what), "reaches", "reach")+" every operation on every keyless path")
		res.phrase = "every call without a key is validated (" + sentence(elems) + ")"
		if seen {
			parts = append(parts, observed+": a change within those days, or calls the configuration does not explain")
		}
	case worst == no:
		sig.Value, sig.Known = false, true
		parts = append(parts, explainNo(first, failing, total), condNote, observed)
		res.phrase = "calls without a key reach operations that validate no token or certificate"
	case seen:
		// Observed unauthenticated traffic settles what the policies could not.
		sig.Value, sig.Known = false, true
		parts = append(parts, explainMaybe(first)+" unknown from the policies", condNote, observed+": not authenticated")
		res.phrase = "unauthenticated traffic seen by Defender"
	default:
		sig.Value, sig.Known = false, false
		parts = append(parts, explainMaybe(first)+" unknown: taken as unauthenticated (cautious)", condNote)
		res.phrase = "authentication unknown (taken as unauthenticated)"
	}
	parts = slices.DeleteFunc(parts, func(p string) bool { return p == "" })
	sig.Source = strings.Join(parts, "; ")
	res.sig = sig
	return res
}

// explainNo says why f, the first failing chain, fails.
func explainNo(f *failure, failing, total int) string {
	tail := ""
	if failing > 1 {
		tail = fmt.Sprintf(" (%d of %d operation paths lack a validation)", failing, total)
	}
	if d := dropped(f.chain, f.r.cut); d != "" {
		return fmt.Sprintf("%s has no <base />, so the %s does not reach %s when called %s%s", f.chain[f.r.cut].label, d, f.op, f.p, tail)
	}
	return fmt.Sprintf("no validate-jwt, validate-azure-ad-token or validate-client-certificate reaches %s when called %s%s", f.op, f.p, tail)
}

// explainMaybe says why f left authentication unknown.
func explainMaybe(f *failure) string {
	switch {
	case f == nil:
		return "nothing to read"
	case f.r.cut >= 0 && f.chain[f.r.cut].state == unknown:
		s := f.chain[f.r.cut]
		return fmt.Sprintf("%s %s, so whether a validation reaches %s when called %s is", s.label, s.why, f.op, f.p)
	case f.r.frag != nil:
		return fmt.Sprintf("%s includes %s %s, which the inventory does not hold, so whether a validation reaches %s is",
			f.r.frag.label, plural(len(f.r.frag.fragments), "fragment", "fragments"), strings.Join(f.r.frag.fragments, ", "), f.op)
	}
	return "authentication of " + f.op + " is"
}

// defenderAuth is Defender's view of authentication, for the source; seen is true when
// Defender observed unauthenticated traffic.
func defenderAuth(api *API) (string, bool) {
	if col := usable(api.Defender); col != nil && col.Unauthenticated > 0 {
		return fmt.Sprintf("Defender saw unauthenticated traffic on %d of %d endpoints in 30 days", col.Unauthenticated, col.Endpoints), true
	}
	n := 0
	for _, a := range api.Assessments {
		if a.Key == AssessmentAuthenticated && strings.EqualFold(a.Status, "Unhealthy") {
			n++
		}
	}
	if n > 0 {
		return fmt.Sprintf("Defender saw unauthenticated traffic: its authentication assessment is Unhealthy for %d %s", n, plural(n, "operation", "operations")), true
	}
	return "", false
}

func (sc *serviceCtx) productNames(idx []int) string {
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = sc.svc.Products[i].Name
	}
	return strings.Join(names, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
