package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3"
	"golang.org/x/sync/errgroup"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage"
)

// currentOnly is the $filter that keeps non-current revisions out of API lists.
const currentOnly = "isCurrent eq true"

// Effects of APIM gaps, as the report states them.
const (
	effectAPIs       = "no API of this service is ranked"
	effectOperations = "the API's operations are unknown: authentication through operation policies cannot be confirmed"
	effectProducts   = "product settings are unknown: subscription keys cannot be confirmed, keyless access through open products cannot be ruled out"
	effectProductAPI = "the product's APIs are unknown: keyless access through it cannot be ruled out"
	effectTags       = "API tags are unknown: sensitive data is judged on Defender's data only"
	effectPolicy     = "this scope's policy is unknown: authentication through it cannot be confirmed"
	effectName       = "an entity whose name cannot be addressed safely is left out"
)

// serviceRead is one service being read by many goroutines.
type serviceRead struct {
	svc azureapim.Service
	out triage.Service

	mu          sync.Mutex
	apis        map[string]*apiRead // by lower-case API name
	products    []*triage.Product
	tags        map[string][]string // lower-case API name -> tag names
	collections map[string]*triage.Collection
	// policies is the set of scopes that hold a policy, from allPolicies; nil when that
	// list could not be read, and every scope is then read.
	policies policyIndex
}

// apiRead is one API being read: the model's API plus what matching needs.
type apiRead struct {
	out     triage.API
	version string // apiVersion, for the version segment of request paths
}

func newServiceRead(svc azureapim.Service) *serviceRead {
	return &serviceRead{
		svc: svc,
		out: triage.Service{
			ID: svc.String(), Name: svc.Name, Subscription: svc.Subscription, ResourceGroup: svc.ResourceGroup,
		},
		apis: map[string]*apiRead{},
		tags: map[string][]string{},
	}
}

// readService reads everything of one service: its lists first, then per API and per
// product. Failures of one part are gaps; transient faults end the run.
func (c *collector) readService(ctx context.Context, s *serviceRead) error {
	f, err := c.apimClients(s.svc.Subscription)
	if err != nil {
		return err
	}
	rg, name, id := s.svc.ResourceGroup, s.svc.Name, s.svc.String()
	if s.policies, err = c.policyIndex(ctx, f, s); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)

	g.Go(func() error {
		err := pages(gctx, c, f.NewAPIClient().NewListByServicePager(rg, name, &armapimanagement.APIClientListByServiceOptions{Filter: to.Ptr(currentOnly)}),
			func(p armapimanagement.APIClientListByServiceResponse) {
				for _, a := range p.Value {
					s.addAPI(c, a)
				}
			})
		if _, err := c.soft(gctx, err, id, "APIs", effectAPIs); err != nil {
			return err
		}
		s.mu.Lock()
		apis := make([]*apiRead, 0, len(s.apis))
		for _, a := range s.apis {
			apis = append(apis, a)
		}
		s.mu.Unlock()
		for _, a := range apis {
			g.Go(func() error { return c.readAPI(gctx, f, s, a) })
		}
		return nil
	})

	g.Go(func() error {
		var products []*triage.Product
		err := pages(gctx, c, f.NewProductClient().NewListByServicePager(rg, name, nil), func(p armapimanagement.ProductClientListByServiceResponse) {
			for _, pr := range p.Value {
				if pr == nil || pr.Name == nil {
					continue
				}
				if !safeName(*pr.Name) {
					c.gaps.add(id, "product "+quoteName(*pr.Name), "name refused", effectName)
					continue
				}
				out := &triage.Product{Name: *pr.Name, APIs: []string{}}
				if pp := pr.Properties; pp != nil {
					out.DisplayName = deref(pp.DisplayName)
					if pp.State != nil {
						out.State = string(*pp.State)
					}
					out.SubscriptionRequired = pp.SubscriptionRequired == nil || *pp.SubscriptionRequired
				}
				products = append(products, out)
			}
		})
		if _, err := c.soft(gctx, err, id, "products", effectProducts); err != nil {
			return err
		}
		s.mu.Lock()
		s.products = products
		s.mu.Unlock()
		for _, p := range products {
			g.Go(func() error {
				err := pages(gctx, c, f.NewProductAPIClient().NewListByProductPager(rg, name, p.Name, nil), func(r armapimanagement.ProductAPIClientListByProductResponse) {
					for _, a := range r.Value {
						if a != nil && a.Name != nil {
							p.APIs = append(p.APIs, *a.Name)
						}
					}
				})
				if ok, err := c.soft(gctx, err, id+"/products/"+p.Name, "APIs of products/"+p.Name, effectProductAPI); !ok {
					p.APIs = nil
					return err
				}
				return nil
			})
			g.Go(func() error {
				pol, err := c.policy(gctx, s.policies, id+"/products/"+p.Name, "products/"+p.Name, func(ctx context.Context) (armapimanagement.PolicyContract, error) {
					r, err := f.NewProductPolicyClient().Get(ctx, rg, name, p.Name, armapimanagement.PolicyIDNamePolicy,
						&armapimanagement.ProductPolicyClientGetOptions{Format: to.Ptr(armapimanagement.PolicyExportFormatRawxml)})
					return r.PolicyContract, err
				})
				p.Policy = pol
				return err
			})
		}
		return nil
	})

	g.Go(func() error {
		err := pages(gctx, c, f.NewTagResourceClient().NewListByServicePager(rg, name, &armapimanagement.TagResourceClientListByServiceOptions{Filter: to.Ptr(currentOnly)}),
			func(p armapimanagement.TagResourceClientListByServiceResponse) {
				for _, t := range p.Value {
					s.addTag(t)
				}
			})
		_, err = c.soft(gctx, err, id, "tags", effectTags)
		return err
	})

	g.Go(func() error {
		pol, err := c.policy(gctx, s.policies, id, "global", func(ctx context.Context) (armapimanagement.PolicyContract, error) {
			r, err := f.NewPolicyClient().Get(ctx, rg, name, armapimanagement.PolicyIDNamePolicy,
				&armapimanagement.PolicyClientGetOptions{Format: to.Ptr(armapimanagement.PolicyExportFormatRawxml)})
			return r.PolicyContract, err
		})
		s.out.Global = pol
		return err
	})

	g.Go(func() error { return c.collections(gctx, s) })
	g.Go(func() error { return c.capacity(gctx, s) })
	return g.Wait()
}

// addAPI keeps a current revision from the API list; the service was asked to leave the
// others out, and anything it did not is dropped here.
func (s *serviceRead) addAPI(c *collector, a *armapimanagement.APIContract) {
	if a == nil || a.Name == nil {
		return
	}
	p := a.Properties
	if p == nil {
		p = &armapimanagement.APIContractProperties{}
	}
	if strings.Contains(*a.Name, ";") || (p.IsCurrent != nil && !*p.IsCurrent) {
		return
	}
	if !safeName(*a.Name) {
		c.gaps.add(s.out.ID, "API "+quoteName(*a.Name), "name refused", effectName)
		return
	}
	out := triage.API{
		ID:                   s.out.ID + "/apis/" + *a.Name,
		Name:                 *a.Name,
		DisplayName:          deref(p.DisplayName),
		Path:                 deref(p.Path),
		Revision:             deref(p.APIRevision),
		IsCurrent:            true,
		IsOnline:             p.IsOnline != nil && *p.IsOnline,
		SubscriptionRequired: p.SubscriptionRequired == nil || *p.SubscriptionRequired,
		VersionSetID:         deref(p.APIVersionSetID),
		Operations:           []triage.Operation{},
	}
	for _, pr := range p.Protocols {
		if pr != nil {
			out.Protocols = append(out.Protocols, string(*pr))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apis[strings.ToLower(*a.Name)] = &apiRead{out: out, version: deref(p.APIVersion)}
}

// addTag keeps the tags of APIs (not of operations or products). The API is named by
// the last segment of its id: the entry's name is the API's display name.
func (s *serviceRead) addTag(t *armapimanagement.TagResourceContract) {
	if t == nil || t.Tag == nil || t.API == nil || t.Operation != nil {
		return
	}
	api := lastSegment(deref(t.API.ID))
	if api == "" {
		api = deref(t.API.Name)
	}
	tag := deref(t.Tag.Name)
	if tag == "" {
		tag = lastSegment(deref(t.Tag.ID))
	}
	if api == "" || tag == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(api)
	if !slices.Contains(s.tags[k], tag) {
		s.tags[k] = append(s.tags[k], tag)
	}
}

// readAPI reads one API's operations with their policies, and its own policy.
func (c *collector) readAPI(ctx context.Context, f *armapimanagement.ClientFactory, s *serviceRead, a *apiRead) error {
	rg, name, api := s.svc.ResourceGroup, s.svc.Name, a.out.Name
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		pol, err := c.policy(gctx, s.policies, a.out.ID, "apis/"+api, func(ctx context.Context) (armapimanagement.PolicyContract, error) {
			r, err := f.NewAPIPolicyClient().Get(ctx, rg, name, api, armapimanagement.PolicyIDNamePolicy,
				&armapimanagement.APIPolicyClientGetOptions{Format: to.Ptr(armapimanagement.PolicyExportFormatRawxml)})
			return r.PolicyContract, err
		})
		a.out.Policy = pol
		return err
	})
	g.Go(func() error {
		var ops []triage.Operation
		err := pages(gctx, c, f.NewAPIOperationClient().NewListByAPIPager(rg, name, api, nil), func(p armapimanagement.APIOperationClientListByAPIResponse) {
			for _, o := range p.Value {
				if o == nil || o.Name == nil {
					continue
				}
				if !safeName(*o.Name) {
					c.gaps.add(a.out.ID, "operation "+quoteName(*o.Name), "name refused", effectName)
					continue
				}
				op := triage.Operation{Name: *o.Name}
				if p := o.Properties; p != nil {
					op.DisplayName, op.Method, op.URLTemplate = deref(p.DisplayName), deref(p.Method), deref(p.URLTemplate)
				}
				ops = append(ops, op)
			}
		})
		if ok, err := c.soft(gctx, err, a.out.ID, "operations", effectOperations); !ok {
			a.out.Operations = nil
			return err
		}
		a.out.Operations = ops
		if a.out.Operations == nil {
			a.out.Operations = []triage.Operation{}
		}
		for i := range a.out.Operations {
			op := &a.out.Operations[i]
			g.Go(func() error {
				pol, err := c.policy(gctx, s.policies, a.out.ID, "apis/"+api+"/operations/"+op.Name, func(ctx context.Context) (armapimanagement.PolicyContract, error) {
					r, err := f.NewAPIOperationPolicyClient().Get(ctx, rg, name, api, op.Name, armapimanagement.PolicyIDNamePolicy,
						&armapimanagement.APIOperationPolicyClientGetOptions{Format: to.Ptr(armapimanagement.PolicyExportFormatRawxml)})
					return r.PolicyContract, err
				})
				op.Policy = pol
				return err
			})
		}
		return nil
	})
	return g.Wait()
}

// ARM's codes for a 404 whose container is missing: not "no policy here".
var containerMissing = []string{"SubscriptionNotFound", "ResourceGroupNotFound", "ParentResourceNotFound"}

// policyIndex holds the scopes of one service that have a policy, as "global",
// "products/{p}", "apis/{api}" and "apis/{api}/operations/{op}", lower case.
type policyIndex map[string]bool

// policyIndex lists the service's policies (allPolicies: references, no bodies), so that
// only the scopes that have one are read: most operations have none, and a GET of each
// would be most of a run's ARM reads. A list the service does not answer (an older
// service, a 4xx) gives nil, and every scope is read as before; 429, 5xx after the
// retries and network faults fail the run, as for any list.
func (c *collector) policyIndex(ctx context.Context, f *armapimanagement.ClientFactory, s *serviceRead) (policyIndex, error) {
	idx := policyIndex{}
	prefix := strings.ToLower(s.svc.String()) + "/"
	err := pages(ctx, c, f.NewAllPoliciesClient().NewListByServicePager(s.svc.ResourceGroup, s.svc.Name, nil),
		func(p armapimanagement.AllPoliciesClientListByServiceResponse) {
			for _, v := range p.Value {
				if v == nil || v.Properties == nil || v.Properties.ReferencePolicyID == nil {
					continue
				}
				rest, ok := strings.CutPrefix(strings.ToLower(*v.Properties.ReferencePolicyID), prefix)
				if !ok {
					continue // another service's: not a scope read here
				}
				if rest == "policies/policy" {
					idx["global"] = true
				} else if scope, ok := strings.CutSuffix(rest, "/policies/policy"); ok {
					idx[scope] = true
				}
			}
		})
	if err == nil {
		return idx, nil
	}
	if f := classify(ctx, err); f.transient || f.fatal {
		return nil, f.fail("policy list", s.svc.String())
	}
	return nil, nil
}

// policy reads one scope's policy as raw XML. A scope that the service's policy list
// does not name has none, and is not read. A 404 is "no policy" (the scope
// inherits); a 5xx after the SDK's retries is an unread policy and a gap, up to
// MaxPolicyFaults in a run, beyond which the run fails as transient; 429, 408 and
// network faults fail the run; other 4xx are unread policies and gaps.
func (c *collector) policy(ctx context.Context, idx policyIndex, gapScope, scope string, get func(context.Context) (armapimanagement.PolicyContract, error)) (triage.Policy, error) {
	if idx != nil && !idx[strings.ToLower(scope)] {
		return triage.Policy{}, nil
	}
	var pc armapimanagement.PolicyContract
	err := c.call(ctx, func(ctx context.Context) error {
		var err error
		pc, err = get(ctx)
		return err
	})
	what := "policy of " + scope
	if err == nil {
		var format string
		var value string
		if pc.Properties != nil {
			if pc.Properties.Format != nil {
				format = string(*pc.Properties.Format)
			}
			value = deref(pc.Properties.Value)
		}
		if format != "" && format != string(armapimanagement.PolicyContentFormatRawxml) {
			c.gaps.add(gapScope, what, fmt.Sprintf("answered in format %s, not rawxml", format), effectPolicy)
			return triage.Policy{Unread: true}, nil
		}
		return triage.Policy{Found: true, XML: value}, nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && !slices.Contains(containerMissing, re.ErrorCode) {
		return triage.Policy{}, nil
	}
	f := classify(ctx, err)
	if f.status >= 500 && !f.fatal {
		c.mu.Lock()
		c.policyFaults++
		over := c.policyFaults > c.o.MaxPolicyFaults
		c.mu.Unlock()
		if over {
			return triage.Policy{}, fault.Transient(&readError{what: what, scope: gapScope,
				short: fmt.Sprintf("%s (more than %d policies unreadable: the service is failing)", f.short, c.o.MaxPolicyFaults), err: err})
		}
		c.gaps.add(gapScope, what, f.short, effectPolicy)
		return triage.Policy{Unread: true}, nil
	}
	if f.transient || f.fatal {
		return triage.Policy{}, f.fail(what, gapScope)
	}
	c.gaps.add(gapScope, what, f.short, effectPolicy)
	return triage.Policy{Unread: true}, nil
}

// finish assembles the service's part of the Inventory, sorted: products with the APIs
// they hold (current revisions only), APIs with their products, tags and collection.
func (s *serviceRead) finish() triage.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.out
	out.Products = []triage.Product{}
	holders := map[string][]string{}
	for _, p := range s.products {
		pr := *p
		if p.APIs != nil {
			pr.APIs = []string{}
			for _, name := range p.APIs {
				a := s.apis[strings.ToLower(name)]
				if a == nil || slices.Contains(pr.APIs, a.out.Name) {
					continue
				}
				pr.APIs = append(pr.APIs, a.out.Name)
				holders[strings.ToLower(a.out.Name)] = append(holders[strings.ToLower(a.out.Name)], pr.Name)
			}
			slices.Sort(pr.APIs)
		}
		out.Products = append(out.Products, pr)
	}
	slices.SortFunc(out.Products, func(a, b triage.Product) int { return strings.Compare(a.Name, b.Name) })
	out.APIs = []triage.API{}
	for k, a := range s.apis {
		api := a.out
		api.Products = slices.Sorted(slices.Values(holders[k]))
		if t := s.tags[k]; len(t) > 0 {
			api.Tags = slices.Sorted(slices.Values(t))
		}
		if col := s.collections[k]; col != nil {
			cc := *col
			api.Defender = &cc
		}
		slices.SortFunc(api.Operations, func(x, y triage.Operation) int { return strings.Compare(x.Name, y.Name) })
		slices.SortFunc(api.Assessments, func(x, y triage.Assessment) int {
			if c := strings.Compare(strings.ToLower(x.Operation), strings.ToLower(y.Operation)); c != 0 {
				return c
			}
			return strings.Compare(x.Key, y.Key)
		})
		out.APIs = append(out.APIs, api)
	}
	slices.SortFunc(out.APIs, func(a, b triage.API) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func lastSegment(id string) string {
	id = strings.TrimSuffix(id, "/")
	return id[strings.LastIndexByte(id, '/')+1:]
}

// quoteName shows a refused name in a gap, bounded and printable.
func quoteName(n string) string {
	if len(n) > 80 {
		n = n[:80] + "..."
	}
	return fmt.Sprintf("%q", n)
}
