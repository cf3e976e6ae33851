package fragment

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/cidr"
)

const (
	ipFilterOpen  = "\t<ip-filter action=\"forbid\">\n"
	ipFilterClose = "\t</ip-filter>\n"
	fwdOpen       = "\t<choose>\n\t\t<when condition=\""
	fwdClose      = "\">\n\t\t\t<return-response>\n\t\t\t\t<set-status code=\"403\" reason=\"Forbidden\" />\n" +
		"\t\t\t</return-response>\n\t\t</when>\n\t</choose>\n"
	maxKeyLen = 33 // "6" + 32 hex digits
)

// unit is what eviction removes as a whole: an aggregated block (its ip-filter entry
// with the forwarded keys inside it) or a throttle.
type unit struct {
	sev   int
	exp   time.Time
	block bool
	idx   int      // canonical position among its kind
	size  int      // bytes of its own text
	keys  []string // block: forwarded keys it carries
	nfwd  int      // block: forwarded blocks those keys stand for
	what  string
}

// Render writes the fragment enforcing blocks and throttles.
//
// Entries expired at opts.Now are dropped. Invalid entries, those opts.Guard refuses, and throttles the tier
// cannot enforce, are reported in Skipped and the rest proceeds. Blocks are aggregated
// into the fewest exact CIDRs and written as one ip-filter (forwarded blocks are also
// checked on the forwarded header); throttles on the same target and API are reduced
// to the strictest, which takes the group's highest severity. When the fragment would
// exceed opts.MaxBytes, the least important entries are evicted (lowest severity, then
// earliest expiry, then a throttle before a block, then the later in canonical order)
// until it fits, each recorded in Evicted. The same input in any order gives the same
// bytes.
//
// The only errors are invalid options (a fault.Reject naming every bad setting).
func Render(blocks []Block, throttles []Throttle, opts Options) (Result, error) {
	if err := opts.Validate(); err != nil {
		return Result{}, err
	}
	o := opts.withDefaults()
	var res Result
	expired := func(t time.Time) bool { return !o.Now.IsZero() && !t.After(o.Now) }

	all := make([]cidr.Block, 0, len(blocks))
	var fwd []cidr.Block
	for i := range blocks {
		b := &blocks[i]
		s, ok := cidr.BlockOf(b.Prefix)
		if !ok {
			res.Skipped = append(res.Skipped, Skip{What: b.Prefix.String(), Reason: "not a valid address or prefix"})
			continue
		}
		if o.Guard != nil {
			if why := o.Guard.WhyPrefix(b.Prefix); why != "" {
				res.Skipped = append(res.Skipped, Skip{What: b.Prefix.String(), Reason: "never blocked: " + why})
				continue
			}
		}
		if expired(b.Expires) {
			res.Expired++
			continue
		}
		s.SetMeta(b.Severity, b.Expires, b.Forwarded)
		all = append(all, s)
		if b.Forwarded {
			fwd = append(fwd, s)
		}
	}
	ths, converted := prepareThrottles(throttles, o, &res, expired)
	all = append(all, converted...)
	all = cidr.AggregateBlocks(all)
	fwd = cidr.AggregateBlocks(fwd)

	units := make([]unit, 0, len(all)+len(ths))
	lines := make([]string, len(all))
	for i := range all {
		lines[i] = ipFilterLine(&all[i])
		units = append(units, unit{sev: all[i].Severity(), exp: all[i].Expires(), block: true, idx: i,
			size: len(lines[i]), what: all[i].String()})
	}
	// Each forwarded block lies inside exactly one block of all (both are sorted):
	// evicting that block evicts its forwarded keys with it.
	p := 0
	for i := range fwd {
		for !all[p].Contains(&fwd[i]) {
			p++
		}
		units[p].keys = append(units[p].keys, nibbleKeys(&fwd[i])...)
		units[p].nfwd++
	}
	for i := range ths {
		units = append(units, unit{sev: ths[i].sev, exp: ths[i].exp, idx: i, size: len(ths[i].text),
			what: ths[i].name()})
	}

	keep, size := fit(units, o, &res)

	var b strings.Builder
	b.Grow(o.MaxBytes)
	b.WriteString(head)
	var keys []string
	for i := range all {
		if keep[i] {
			if res.Blocks == 0 {
				b.WriteString(ipFilterOpen)
			}
			res.Blocks++
			res.Forwarded += units[i].nfwd
			b.WriteString(lines[i])
			keys = append(keys, units[i].keys...)
		}
	}
	if res.Blocks > 0 {
		b.WriteString(ipFilterClose)
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		b.WriteString(fwdOpen)
		b.WriteString(attr(forwardedHead(o.ForwardedHeader, o.hops())))
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte(' ')
		}
		b.WriteString(attr(forwardedTail(keyLengths(keys))))
		b.WriteString(fwdClose)
	}
	for i := range ths {
		if keep[len(all)+i] {
			res.Throttles++
			b.WriteString(ths[i].text)
		}
	}
	b.WriteString(tail)
	res.XML = []byte(b.String())
	res.Size = len(res.XML)
	if res.Size != size || res.Size > o.MaxBytes {
		// fit sizes every part exactly; this would be a bug, never a fragment APIM refuses.
		return Result{}, fmt.Errorf("fragment: rendered %d bytes, sized %d, %d allowed", res.Size, size, o.MaxBytes)
	}
	slices.SortStableFunc(res.Skipped, func(a, b Skip) int {
		if c := strings.Compare(a.What, b.What); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return res, nil
}

// ipFilterLine is a block's child of ip-filter: <address> for one address,
// <address-range> for a CIDR (ip-filter has no CIDR syntax).
func ipFilterLine(b *cidr.Block) string {
	if b.Prefix().IsSingleIP() {
		return "\t\t<address>" + b.First().String() + "</address>\n"
	}
	return "\t\t<address-range from=\"" + b.First().String() + "\" to=\"" + b.Last().String() + "\" />\n"
}

// keyLengths lists the distinct lengths of keys, ascending.
func keyLengths(keys []string) []int {
	var seen [maxKeyLen + 1]bool
	for _, k := range keys {
		seen[len(k)] = true
	}
	var out []int
	for n, ok := range seen {
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// prepareThrottles validates throttles, applies the tier and reduces each target to
// one throttle (a per-client throttle's target is its kind, claim and API; it is never
// merged with single-client ones). On Consumption with "block", single-address ip
// throttles come back as blocks.
func prepareThrottles(in []Throttle, o Options, res *Result, expired func(time.Time) bool) ([]thr, []cidr.Block) {
	byKey := make(map[string][]thr, len(in))
	var converted []cidr.Block
	for i := range in {
		t := &in[i]
		if expired(t.Expires) {
			res.Expired++
			continue
		}
		th, reason := normalize(t)
		if reason == "" && th.kind == KeyIP && !th.each && o.Guard != nil {
			if why := o.Guard.WhyPrefix(netip.PrefixFrom(th.addr, th.addr.BitLen())); why != "" {
				reason = "never throttled: " + why
			}
		}
		if reason != "" {
			res.Skipped = append(res.Skipped, Skip{What: describe(t), Reason: reason})
			continue
		}
		if o.Tier == TierConsumption {
			what := th.name()
			switch {
			case o.ConsumptionThrottle == ConsumptionBlock && th.each:
				res.Skipped = append(res.Skipped, Skip{What: what,
					Reason: "Consumption tier has no rate-limit-by-key, and a per-client throttle names no address to block"})
			case o.ConsumptionThrottle == ConsumptionBlock && th.kind == KeyIP && th.api == "":
				s, _ := cidr.BlockOf(netip.PrefixFrom(th.addr, th.addr.BitLen()))
				s.SetMeta(th.sev, th.exp, false)
				converted = append(converted, s)
			case o.ConsumptionThrottle == ConsumptionBlock && th.kind == KeyIP:
				res.Skipped = append(res.Skipped, Skip{What: what,
					Reason: "Consumption tier has no rate-limit-by-key, and an API-scoped throttle cannot become a block everywhere"})
			default:
				res.Skipped = append(res.Skipped, Skip{What: what, Reason: "Consumption tier has no rate-limit-by-key"})
			}
			continue
		}
		byKey[th.key] = append(byKey[th.key], th)
	}
	// Each group keeps its strictest, and every other member is reported against that
	// one (not against whichever beat it first, which would depend on the input order).
	out := make([]thr, 0, len(byKey))
	for _, g := range byKey {
		best, sev := 0, g[0].sev
		for i := 1; i < len(g); i++ {
			if stricter(&g[i], &g[best]) {
				best = i
			}
			sev = max(sev, g[i].sev)
		}
		for i := range g {
			if i != best {
				res.Skipped = append(res.Skipped, supersededBy(&g[i], &g[best]))
			}
		}
		t := g[best]
		t.sev = sev
		t.render()
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b thr) int { return cmpThr(&a, &b) })
	return out, converted
}

func supersededBy(loose, strict *thr) Skip {
	return Skip{What: fmt.Sprintf("%s (%d calls per %d s)", loose.name(), loose.calls, loose.period),
		Reason: fmt.Sprintf("superseded by a stricter throttle on the same target: %d calls per %d s", strict.calls, strict.period)}
}

// fit decides which units stay and returns the size of the fragment they make. If
// everything does not fit in MaxBytes, units are evicted least important first until
// the rest does; then the evicted are offered back, most important first, and kept if
// they still fit, so that evicting one large unit (a throttle, or the last forwarded
// key and with it the ~1 KB header check) does not also cost smaller, less important
// ones their place. Sizes are exact: the ip-filter element exists only while a block
// stays, the forwarded check only while a forwarded key stays, and its text depends
// on which key lengths remain.
func fit(units []unit, o Options, res *Result) (keep []bool, size int) {
	keep = make([]bool, len(units))
	var (
		lines, blocks, thrBytes int
		keyBytes, keys          int
		lenCount                [maxKeyLen + 1]int
		fwdTail                 int
	)
	tailLen := func() int {
		var ls []int
		for n, c := range lenCount {
			if c > 0 {
				ls = append(ls, n)
			}
		}
		return len(attr(forwardedTail(ls)))
	}
	// move adds (d = 1) or removes (d = -1) unit i.
	move := func(i, d int) {
		keep[i] = d > 0
		u := &units[i]
		if !u.block {
			thrBytes += d * u.size
			return
		}
		lines += d * u.size
		blocks += d
		dirty := false
		for _, k := range u.keys {
			keyBytes += d * (len(k) + 1)
			keys += d
			lenCount[len(k)] += d
			dirty = dirty || lenCount[len(k)] == 0 || lenCount[len(k)] == d
		}
		if dirty {
			fwdTail = tailLen()
		}
	}
	for i := range units {
		move(i, 1)
	}
	fwdBase := len(fwdOpen) + len(attr(forwardedHead(o.ForwardedHeader, o.hops()))) + len(fwdClose)
	total := func() int {
		t := len(head) + len(tail) + lines + thrBytes
		if blocks > 0 {
			t += len(ipFilterOpen) + len(ipFilterClose)
		}
		if keys > 0 {
			t += fwdBase + keyBytes + fwdTail
		}
		return t
	}
	want := total()
	if want <= o.MaxBytes {
		return keep, want
	}
	order := make([]int, len(units))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpImportance(&units[a], &units[b]) })
	n := 0
	for ; n < len(order) && total() > o.MaxBytes; n++ {
		move(order[n], -1)
	}
	for j := n - 1; j >= 0; j-- {
		if move(order[j], 1); total() > o.MaxBytes {
			move(order[j], -1)
		}
	}
	reason := fmt.Sprintf("fragment limit: %d bytes wanted, %d allowed; least important evicted first (lowest severity, then shortest remaining time)",
		want, o.MaxBytes)
	for _, i := range order[:n] {
		if !keep[i] {
			u := &units[i]
			res.Evicted = append(res.Evicted, Eviction{What: u.what, Severity: u.sev, Expires: u.exp, Reason: reason})
		}
	}
	return keep, total()
}

// cmpImportance orders units least important first: lowest severity, then earliest
// expiry (shortest remaining time at any Now), then a throttle before a block (a
// block stops an attack, a throttle only slows it), then the later in canonical order
// (only so that the order is total).
func cmpImportance(a, b *unit) int {
	if c := cmp.Compare(a.sev, b.sev); c != 0 {
		return c
	}
	if c := a.exp.Compare(b.exp); c != 0 {
		return c
	}
	if a.block != b.block {
		if !a.block {
			return -1
		}
		return 1
	}
	return cmp.Compare(b.idx, a.idx)
}
