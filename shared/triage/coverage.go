package triage

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// coverage lists the APIs Defender for APIs does not cover and plans their onboarding.
//
// Only services whose collections were read count (elsewhere nothing says which APIs are
// onboarded; the collector's gap says so). An API whose onboarding failed or was cancelled
// is not covered. Decommission APIs are listed but not planned: they are to be retired,
// not watched.
//
// The plan is per service, since onboarding loads that service's gateway: batches of
// BatchSize APIs, lightest traffic first and heaviest last. No request volume is in the
// inventory, so traffic is judged by a proxy: apiguard's last sighting of the API (any of
// its operations), by whole days (never seen is lightest, seen today heaviest), then by
// operation count (more operations, more traffic to watch), then by name. Services come
// in the inventory's order.
//
// Next is the first batch of the first service that can take it: Defender's plan on, and
// the gateway's Capacity known and below MaxCapacity. Waiting says why each service with
// a plan but not chosen waits.
func (c *classifier) coverage(items []*item) Coverage {
	cov := Coverage{NotOnboarded: []string{}}
	var waiting []string
	byService := map[*serviceCtx][]*item{}
	var services []*serviceCtx
	for _, it := range items {
		if !it.sc.svc.Defender.Collections || it.Onboarded {
			continue
		}
		if _, ok := byService[it.sc]; !ok {
			services = append(services, it.sc)
		}
		byService[it.sc] = append(byService[it.sc], it)
	}
	for _, sc := range services {
		its := byService[sc]
		slices.SortFunc(its, func(a, b *item) int { return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.API, b.API)) })
		var plan []*item
		for _, it := range its {
			cov.NotOnboarded = append(cov.NotOnboarded, it.API)
			if it.Priority != Decommission {
				plan = append(plan, it)
			}
		}
		if len(plan) == 0 {
			continue
		}
		w := make(map[*item]traffic, len(plan))
		for _, it := range plan {
			w[it] = trafficOf(it.ac.api, c.inv.Collected)
		}
		slices.SortStableFunc(plan, func(a, b *item) int { return w[a].compare(w[b]) })
		first := len(cov.Batches)
		n := (len(plan) + c.opts.BatchSize - 1) / c.opts.BatchSize
		for k := range n {
			batch := plan[k*c.opts.BatchSize : min((k+1)*c.opts.BatchSize, len(plan))]
			ids := make([]string, len(batch))
			for j, it := range batch {
				ids[j] = it.API
				it.batch, it.batches = k+1, n
			}
			cov.Batches = append(cov.Batches, ids)
		}
		if why := c.wait(sc.svc); why != "" {
			waiting = append(waiting, why)
		} else if cov.Next == nil {
			cov.Next = cov.Batches[first]
		}
	}
	cov.Waiting = strings.Join(waiting, "; ")
	return cov
}

// wait says why onboarding on svc waits, "" when it need not.
func (c *classifier) wait(svc *Service) string {
	switch {
	case svc.Defender.PlanOff:
		return fmt.Sprintf("service %s: Defender for APIs is not enabled on subscription %s", svc.Name, svc.Subscription)
	case svc.Capacity == nil:
		return fmt.Sprintf("service %s: its capacity was not read, and onboarding loads the gateway", svc.Name)
	case *svc.Capacity >= c.opts.MaxCapacity:
		return fmt.Sprintf("service %s: gateway capacity %.0f%% is at or above %.0f%%", svc.Name, *svc.Capacity, c.opts.MaxCapacity)
	}
	return ""
}

// traffic is the proxy for an API's traffic (see coverage).
type traffic struct {
	seen    bool
	daysAgo int64
	ops     int
	name    string
}

func trafficOf(api *API, collected time.Time) traffic {
	last := api.LastSeen
	for i := range api.Operations {
		if t := api.Operations[i].LastSeen; t.After(last) {
			last = t
		}
	}
	t := traffic{ops: len(api.Operations), name: api.Name}
	if !last.IsZero() {
		t.seen, t.daysAgo = true, int64(max(collected.Sub(last), 0)/day)
	}
	return t
}

// compare orders lighter traffic first.
func (t traffic) compare(u traffic) int {
	if t.seen != u.seen {
		return boolFirst(!t.seen, !u.seen)
	}
	return cmp.Or(
		cmp.Compare(u.daysAgo, t.daysAgo), // seen longer ago: lighter
		cmp.Compare(t.ops, u.ops),
		strings.Compare(t.name, u.name),
	)
}
