package collect

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3"
	"golang.org/x/sync/errgroup"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage"
)

// collector is one run.
type collector struct {
	o     Options
	meter *meter
	opts  *arm.ClientOptions
	sem   chan struct{}
	pace  pacer
	gaps  gapList

	mu            sync.Mutex
	apim          map[string]*armapimanagement.ClientFactory
	policyFaults  int
	subscriptions map[string][]*serviceRead // by lower-case subscription, for assessments
}

func newCollector(o Options) *collector {
	m := &meter{maxBody: o.MaxBody, byKind: map[string]int{}}
	return &collector{
		o:             o,
		meter:         m,
		opts:          clientOptions(o.ClientOptions, m),
		sem:           make(chan struct{}, o.Concurrency),
		pace:          pacer{every: every(o.ReadsPerSecond)},
		apim:          map[string]*armapimanagement.ClientFactory{},
		subscriptions: map[string][]*serviceRead{},
	}
}

func (c *collector) publishStats() {
	if c.o.Stats == nil {
		return
	}
	c.meter.mu.Lock()
	defer c.meter.mu.Unlock()
	c.o.Stats.Calls = c.meter.calls
	c.o.Stats.ByKind = maps.Clone(c.meter.byKind)
}

// apimClients is the APIM client factory of one subscription.
func (c *collector) apimClients(sub string) (*armapimanagement.ClientFactory, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.apim[strings.ToLower(sub)]; f != nil {
		return f, nil
	}
	f, err := armapimanagement.NewClientFactory(sub, c.o.Credential, c.opts)
	if err != nil {
		return nil, fault.Invalid("collect", "APIM clients: %v", err)
	}
	c.apim[strings.ToLower(sub)] = f
	return f, nil
}

// call runs one request (or page) within the concurrency bound and its own deadline.
func (c *collector) call(ctx context.Context, fn func(context.Context) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := c.pace.wait(ctx); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	return fn(cctx)
}

// pacer spaces requests evenly: at most one per every.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

func every(perSecond float64) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / perSecond)
}

// wait blocks until the next request may go, or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	if p.every == 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.every)
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// pages reads every page of p, each page one call, at most MaxPages.
func pages[T any](ctx context.Context, c *collector, p *runtime.Pager[T], each func(T)) error {
	for n := 0; p.More(); n++ {
		if n >= c.o.MaxPages {
			return errTooManyPages
		}
		var page T
		err := c.call(ctx, func(ctx context.Context) error {
			var err error
			page, err = p.NextPage(ctx)
			return err
		})
		if err != nil {
			return err
		}
		each(page)
	}
	return nil
}

// soft handles a failed read that the run survives: a transient or fatal failure ends
// the run (returned), anything else is a gap with effect (nil returned, ok false).
func (c *collector) soft(ctx context.Context, err error, scope, what, effect string) (ok bool, _ error) {
	if err == nil {
		return true, nil
	}
	f := classify(ctx, err)
	if f.transient || f.fatal {
		return false, f.fail(what, scope)
	}
	c.gaps.add(scope, what, f.short, effect)
	return false, nil
}

func (c *collector) run(ctx context.Context, sc scopes) (triage.Inventory, error) {
	inv := triage.Inventory{Collected: c.o.Now().UTC(), WatchingSince: c.o.WatchingSince.UTC()}
	services, err := c.services(ctx, sc)
	if err != nil {
		return triage.Inventory{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range services {
		c.subscriptions[strings.ToLower(s.svc.Subscription)] = append(c.subscriptions[strings.ToLower(s.svc.Subscription)], s)
		g.Go(func() error { return c.readService(gctx, s) })
	}
	subs := slices.Sorted(maps.Keys(c.subscriptions))
	assessed := make([][]assessment, len(subs))
	assessedOK := make([]bool, len(subs))
	for i, sub := range subs {
		g.Go(func() error {
			var err error
			assessed[i], assessedOK[i], err = c.assessments(gctx, c.subscriptions[sub][0].svc.Subscription)
			return err
		})
	}
	var seen map[string]time.Time
	g.Go(func() error {
		var err error
		seen, err = c.lastSeen(gctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return triage.Inventory{}, err
	}
	if err := ctx.Err(); err != nil {
		return triage.Inventory{}, err
	}
	for i, sub := range subs {
		for _, s := range c.subscriptions[sub] {
			s.out.Defender.Assessments = assessedOK[i]
			s.attachAssessments(assessed[i])
		}
	}
	for _, s := range services {
		inv.Services = append(inv.Services, s.finish())
	}
	versions := map[string]string{}
	for _, s := range services {
		for _, a := range s.apis {
			if a.version != "" {
				versions[strings.ToLower(a.out.ID)] = a.version
			}
		}
	}
	attributeLastSeen(inv.Services, seen, versions)
	slices.SortFunc(inv.Services, func(a, b triage.Service) int {
		return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
	})
	inv.Gaps = c.gaps.sorted()
	return inv, nil
}

// services resolves the scopes to services: every service of each subscription (one
// list) and each named service (one get), once each.
func (c *collector) services(ctx context.Context, sc scopes) ([]*serviceRead, error) {
	var mu sync.Mutex
	found := map[string]*serviceRead{}
	add := func(r armapimanagement.ServiceResource, fallback *azureapim.Service) {
		s, ok := serviceOf(r, fallback)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if found[strings.ToLower(s.svc.String())] == nil {
			found[strings.ToLower(s.svc.String())] = s
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, sub := range sc.subscriptions {
		g.Go(func() error {
			f, err := c.apimClients(sub)
			if err != nil {
				return err
			}
			err = pages(gctx, c, f.NewServiceClient().NewListPager(nil), func(p armapimanagement.ServiceClientListResponse) {
				for _, r := range p.Value {
					if r != nil {
						add(*r, nil)
					}
				}
			})
			_, err = c.soft(gctx, err, "/subscriptions/"+sub, "API Management services",
				"no service of this subscription is in the report")
			return err
		})
	}
	for _, svc := range sc.services {
		g.Go(func() error {
			f, err := c.apimClients(svc.Subscription)
			if err != nil {
				return err
			}
			var resp armapimanagement.ServiceClientGetResponse
			err = c.call(gctx, func(ctx context.Context) error {
				var err error
				resp, err = f.NewServiceClient().Get(ctx, svc.ResourceGroup, svc.Name, nil)
				return err
			})
			ok, err := c.soft(gctx, err, svc.String(), "service", "the service's APIs are not in the report")
			if ok {
				add(resp.ServiceResource, &svc)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := slices.Collect(maps.Values(found))
	slices.SortFunc(out, func(a, b *serviceRead) int {
		return strings.Compare(strings.ToLower(a.svc.String()), strings.ToLower(b.svc.String()))
	})
	return out, nil
}

// serviceOf reads a service resource; its id decides the names (the scope's when the
// answer has none).
func serviceOf(r armapimanagement.ServiceResource, fallback *azureapim.Service) (*serviceRead, bool) {
	var svc azureapim.Service
	if r.ID != nil {
		if s, err := azureapim.ParseServiceID(*r.ID); err == nil {
			svc = s
		}
	}
	if svc.Name == "" {
		if fallback == nil {
			return nil, false
		}
		svc = *fallback
	}
	s := newServiceRead(svc)
	if r.SKU != nil && r.SKU.Name != nil {
		s.out.SKU = string(*r.SKU.Name)
	}
	if r.Properties != nil && r.Properties.VirtualNetworkType != nil {
		s.out.Network = string(*r.Properties.VirtualNetworkType)
	}
	return s, true
}
