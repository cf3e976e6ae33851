package fragment

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// thr is a valid throttle in canonical form, rendered.
type thr struct {
	kind               KeyKind
	claim, value, api  string
	each               bool       // per-client: each client of api separately (value is "")
	addr               netip.Addr // kind ip, single-client
	calls, period, sev int
	exp                time.Time
	// key is unique per target and scope: the literal counter key of a single-client
	// throttle, the literal part of a per-client one's counter key expression.
	key  string
	text string // the whole <choose> element
}

func kindRank(k KeyKind) int {
	switch k {
	case KeyIP:
		return 0
	case KeySubscription:
		return 1
	case KeyUser:
		return 2
	}
	return 3
}

// cmpThr is the canonical order of throttles in the fragment: ip (by address),
// subscription, user, claim (by claim name), then value, then API ("" first). Within a
// kind, the per-client throttles come after the single-client ones, by claim name
// and API. After dedup no two throttles compare equal.
func cmpThr(a, b *thr) int {
	if c := cmp.Compare(kindRank(a.kind), kindRank(b.kind)); c != 0 {
		return c
	}
	if a.each != b.each {
		if a.each {
			return 1
		}
		return -1
	}
	if a.kind == KeyIP {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
	}
	if c := strings.Compare(a.claim, b.claim); c != 0 {
		return c
	}
	if c := strings.Compare(a.value, b.value); c != 0 {
		return c
	}
	return strings.Compare(a.api, b.api)
}

// describe names a throttle that could not be made canonical.
func describe(t *Throttle) string {
	if t.Value == "" && t.API != "" {
		s := "throttle each " + string(t.Key)
		if t.Claim != "" {
			s += " claim " + strconv.Quote(t.Claim)
		}
		return s + " client of API " + strconv.Quote(t.API)
	}
	s := "throttle " + string(t.Key)
	if t.Claim != "" {
		s += " claim " + strconv.Quote(t.Claim)
	}
	s += " " + strconv.Quote(t.Value)
	if t.API != "" {
		s += " api " + strconv.Quote(t.API)
	}
	return s
}

// name is how records (Evicted, Skipped) name a valid throttle: "throttle " and its
// counter key, or for a per-client throttle "throttle each <kind> [<claim>] client of
// API <api>", with claim and API percent-encoded as in counter keys.
func (t *thr) name() string {
	if !t.each {
		return "throttle " + t.key
	}
	s := "throttle each " + string(t.kind)
	if t.kind == KeyClaim {
		s += " " + keyPart(t.claim)
	}
	return s + " client of API " + keyPart(t.api)
}

// checkText says why a caller-supplied string cannot be used, or "".
func checkText(field, s string) string {
	switch {
	case !utf8.ValidString(s):
		return field + " is not valid UTF-8"
	case len(s) > maxText:
		return fmt.Sprintf("%s is %d bytes, over the %d allowed", field, len(s), maxText)
	}
	return ""
}

// normalize validates a throttle and puts it in canonical form; the reason is
// non-empty when it cannot be enforced.
func normalize(t *Throttle) (thr, string) {
	th := thr{kind: KeyKind(strings.ToLower(strings.TrimSpace(string(t.Key)))), value: t.Value, api: t.API,
		calls: t.Calls, period: t.Period, sev: t.Severity, exp: t.Expires.Round(0).UTC()}
	switch th.kind {
	case KeyIP, KeySubscription, KeyUser:
	case KeyClaim:
		if t.Claim == "" {
			return th, "claim throttle without a claim name"
		}
		if r := checkText("claim name", t.Claim); r != "" {
			return th, r
		}
		th.claim = t.Claim
	default:
		return th, fmt.Sprintf("key kind %q: must be ip, subscription, user or claim", t.Key)
	}
	switch {
	case t.Value == "" && t.API == "":
		// Per-client throttles need an API: never every caller of every API.
		return th, "empty value: it would match every caller that has none"
	case t.Value == "":
		th.each = true
	default:
		if r := checkText("value", t.Value); r != "" {
			return th, r
		}
	}
	if r := checkText("API", t.API); r != "" {
		return th, r
	}
	if th.kind == KeyIP && !th.each {
		a, err := netip.ParseAddr(t.Value)
		if err != nil || a.Zone() != "" {
			return th, "value is not an IP address"
		}
		th.addr = a.Unmap()
		th.value = th.addr.String()
	}
	if t.Calls < 1 {
		return th, fmt.Sprintf("calls %d: must be at least 1", t.Calls)
	}
	if t.Period < 1 || t.Period > 300 {
		return th, fmt.Sprintf("renewal period %d s: must be 1..300", t.Period)
	}
	if th.each {
		th.key = eachKeyPrefix(th.kind, th.claim, th.api)
	} else {
		th.key = counterKey(th.kind, th.claim, th.value, th.api)
	}
	return th, ""
}

// stricter reports whether a allows fewer calls per second than b, and on equal rates
// whether it is the one to keep (more important, then longer-lived, then the shorter
// period, which reacts faster).
func stricter(a, b *thr) bool {
	ra, rb := int64(a.calls)*int64(b.period), int64(b.calls)*int64(a.period)
	switch {
	case ra != rb:
		return ra < rb
	case a.sev != b.sev:
		return a.sev > b.sev
	case !a.exp.Equal(b.exp):
		return a.exp.After(b.exp)
	}
	return a.period < b.period
}

// render writes the throttle's <choose>. A single-client throttle's condition admits
// only its target (and API), so unrelated callers are neither counted nor limited,
// and its counter key is a literal. A per-client throttle's condition admits every
// caller of its API, and its counter key is an expression naming the client, so each
// client has its own counter.
func (t *thr) render() {
	cond, key := condition(t.kind, t.claim, t.value, t.api), t.key
	if t.each {
		cond, key = apiCondition(t.api), eachCounterKey(t.key, t.kind, t.claim)
	}
	t.text = "\t<choose>\n\t\t<when condition=\"" + attr(cond) + "\">\n" +
		"\t\t\t<rate-limit-by-key calls=\"" + strconv.Itoa(t.calls) + "\" renewal-period=\"" + strconv.Itoa(t.period) +
		"\" counter-key=\"" + attr(key) + "\" />\n\t\t</when>\n\t</choose>\n"
}
