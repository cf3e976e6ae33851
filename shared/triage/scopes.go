package triage

import (
	"slices"
	"strings"
)

// serviceCtx is one service with its policies read on first use (an API that requires a
// key needs none of them).
type serviceCtx struct {
	svc      *Service
	global   *scope
	products []*scope // by index in svc.Products, read on first use
	// holders maps an API's name (lower-cased, without ";rev=n") to the indexes of the
	// products that hold it, from either side of the relation.
	holders map[string][]int
}

func (c *classifier) service(svc *Service) *serviceCtx {
	sc := &serviceCtx{svc: svc, products: make([]*scope, len(svc.Products)), holders: map[string][]int{}}
	byName := make(map[string]int, len(svc.Products))
	add := func(api string, i int) {
		k := apiKey(api)
		if !slices.Contains(sc.holders[k], i) {
			sc.holders[k] = append(sc.holders[k], i)
		}
	}
	for i := range svc.Products {
		p := &svc.Products[i]
		byName[strings.ToLower(p.Name)] = i
		for _, a := range p.APIs {
			add(a, i)
		}
	}
	for i := range svc.APIs {
		for _, p := range svc.APIs[i].Products {
			if j, ok := byName[strings.ToLower(p)]; ok {
				add(svc.APIs[i].Name, j)
			}
		}
	}
	for _, idx := range sc.holders {
		slices.Sort(idx) // the service's product order
	}
	return sc
}

// apiKey is how products name an API: its name without the revision, lower-cased.
func apiKey(name string) string {
	name, _, _ = strings.Cut(name, ";rev=")
	return strings.ToLower(name)
}

// access is how calls reach api without a key (see auth.go).
func (sc *serviceCtx) access(api *API) access {
	a := access{apiOpen: !api.SubscriptionRequired}
	for _, i := range sc.holders[apiKey(api.Name)] {
		p := &sc.svc.Products[i]
		if !p.SubscriptionRequired && strings.EqualFold(p.State, "published") {
			a.open = append(a.open, i)
		}
	}
	return a
}

// holdersOf returns the products that hold api, in the service's order.
func (sc *serviceCtx) holdersOf(api *API) []*Product {
	idx := sc.holders[apiKey(api.Name)]
	ps := make([]*Product, len(idx))
	for k, i := range idx {
		ps[k] = &sc.svc.Products[i]
	}
	return ps
}

func (sc *serviceCtx) globalScope(c *classifier) *scope {
	if sc.global == nil {
		sc.global = c.read(sc.svc.Global, "the global policy", sc.svc.ID, "global policy")
	}
	return sc.global
}

func (sc *serviceCtx) productScope(c *classifier, i int) *scope {
	if sc.products[i] == nil {
		p := &sc.svc.Products[i]
		sc.products[i] = c.read(p.Policy, "the policy of product "+p.Name, sc.svc.ID, "policy of products/"+p.Name)
	}
	return sc.products[i]
}

// apiCtx is one API with its policies read on first use.
type apiCtx struct {
	api   *API
	own   *scope
	ops   []*scope
	opsOK bool
}

func (ac *apiCtx) apiScope(c *classifier, sc *serviceCtx) *scope {
	if ac.own == nil {
		ac.own = c.read(ac.api.Policy, "the API policy", ac.api.ID, "policy of apis/"+ac.api.Name)
	}
	return ac.own
}

// opScopes returns the operations' policies; an API without operations has one
// operation without a policy of its own, so that its chain is still judged.
func (ac *apiCtx) opScopes(c *classifier, sc *serviceCtx) []*scope {
	if ac.opsOK {
		return ac.ops
	}
	ac.opsOK = true
	ops := ac.api.Operations
	if len(ops) == 0 {
		ac.ops = []*scope{nil}
		return ac.ops
	}
	ac.ops = make([]*scope, len(ops))
	for i := range ops {
		op := &ops[i]
		if !op.Policy.Found && !op.Policy.Unread {
			continue // inherits: walk skips it
		}
		ac.ops[i] = c.read(op.Policy, "the policy of operation "+op.Name, ac.api.ID, "policy of apis/"+ac.api.Name+"/operations/"+op.Name)
	}
	return ac.ops
}

// opLabel names operation i in a sentence.
func (ac *apiCtx) opLabel(i int) string {
	if len(ac.api.Operations) == 0 {
		return "the API (it has no operations)"
	}
	return "operation " + ac.api.Operations[i].Name
}

// read reads one policy; one the scanner cannot read becomes a gap of the run.
func (c *classifier) read(p Policy, label, gapScope, what string) *scope {
	s, err := c.reader.read(p, label)
	if err != nil {
		c.gaps = append(c.gaps, Gap{
			Scope:  gapScope,
			What:   what,
			Error:  err.Error(),
			Effect: "what this policy validates or limits is unknown: authentication through it is taken as unauthenticated",
		})
	}
	return &s
}
