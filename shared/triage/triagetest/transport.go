package triagetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3"
	apimfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	monitorfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity"
	securityfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity/fake"

	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// router sends each request to the official fake transports of its subscription and
// provider (APIM, Microsoft.Security, Microsoft.Insights). The official fakes report
// errors as Go errors that bypass azcore's retry policy and carry no ARM body; the
// router answers them, and the world's faults, as real HTTP responses with an ARM error
// body, so retries, the Recorder and runtime.NewResponseError see what Azure sends.
type router struct {
	w    *World
	subs map[string]*fakes
}

type fakes struct {
	apim, security, monitor policy.Transporter
}

// Transport is the world's ARM endpoint.
func (w *World) Transport() policy.Transporter {
	r := &router{w: w, subs: map[string]*fakes{}}
	for _, sub := range w.subscriptions() {
		r.subs[sub] = &fakes{
			apim:     apimfake.NewServerFactoryTransport(w.apimServers(sub)),
			security: securityfake.NewServerFactoryTransport(w.securityServers(sub)),
			monitor:  monitorfake.NewServerFactoryTransport(w.monitorServers(sub)),
		}
	}
	return r
}

func (r *router) Do(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	path := strings.ToLower(req.URL.Path)
	if f, ok := r.w.fault(path); ok {
		return (&fakearm.Error{Status: f.Status, Code: f.Code, Message: f.Message}).Response(req), nil
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 || segs[0] != "subscriptions" {
		return notFound(req, "NotFound", "triagetest: no such endpoint"), nil
	}
	fs := r.subs[segs[1]]
	if fs == nil {
		return notFound(req, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", segs[1])), nil
	}
	inner := fs.apim
	switch provider(path) {
	case "microsoft.security":
		inner = fs.security
	case "microsoft.insights":
		inner = fs.monitor
	}
	// The official fakes' dispatch panics (send on a closed channel) when the request's
	// context ends while a handler runs; the handlers are instant, so they get a context
	// that does not end, and the router answers the cancellation itself.
	resp, err := inner.Do(req.WithContext(context.WithoutCancel(req.Context())))
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return nil, ctxErr
	}
	var re *azcore.ResponseError
	if err != nil && errors.As(err, &re) {
		msg := "triagetest: " + http.StatusText(re.StatusCode)
		if re.StatusCode == http.StatusNotFound {
			msg = "The requested resource was not found."
		}
		return (&fakearm.Error{Status: re.StatusCode, Code: re.ErrorCode, Message: msg}).Response(req), nil
	}
	return resp, err
}

// provider is the last resource provider named in a path.
func provider(path string) string {
	i := strings.LastIndex(path, "/providers/")
	if i < 0 {
		return ""
	}
	rest := path[i+len("/providers/"):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func notFound(req *http.Request, code, msg string) *http.Response {
	return (&fakearm.Error{Status: http.StatusNotFound, Code: code, Message: msg}).Response(req)
}

// paged splits items into the world's pages.
func paged[T any, P any](w *World, items []T, page func([]T) P) azfake.PagerResponder[P] {
	var resp azfake.PagerResponder[P]
	size := w.PageSize
	if size <= 0 {
		size = len(items)
	}
	if len(items) == 0 {
		resp.AddPage(http.StatusOK, page([]T{}), nil)
		return resp
	}
	for i := 0; i < len(items); i += size {
		resp.AddPage(http.StatusOK, page(items[i:min(i+size, len(items))]), nil)
	}
	return resp
}

func (w *World) service(sub, rg, name string) *Service {
	for _, s := range w.Services {
		if strings.EqualFold(s.Subscription, sub) && strings.EqualFold(s.ResourceGroup, rg) && strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

func missing[P any]() azfake.PagerResponder[P] {
	var resp azfake.PagerResponder[P]
	resp.AddResponseError(http.StatusNotFound, "ResourceNotFound")
	return resp
}

func (s *Service) resource() *armapimanagement.ServiceResource {
	return &armapimanagement.ServiceResource{
		ID:       to.Ptr(s.ID()),
		Name:     to.Ptr(s.Name),
		Type:     to.Ptr("Microsoft.ApiManagement/service"),
		Location: to.Ptr("West Europe"),
		SKU:      &armapimanagement.ServiceSKUProperties{Name: to.Ptr(armapimanagement.SKUType(s.SKU)), Capacity: to.Ptr[int32](1)},
		Properties: &armapimanagement.ServiceProperties{
			PublisherEmail:     to.Ptr("apim-admins@contoso.com"),
			PublisherName:      to.Ptr("Contoso"),
			VirtualNetworkType: to.Ptr(armapimanagement.VirtualNetworkType(s.Network)),
			GatewayURL:         to.Ptr("https://" + s.Name + ".azure-api.net"),
		},
	}
}

func (s *Service) apiContract(a *API) *armapimanagement.APIContract {
	var protocols []*armapimanagement.Protocol
	for _, p := range a.Protocols {
		protocols = append(protocols, to.Ptr(armapimanagement.Protocol(p)))
	}
	c := &armapimanagement.APIContract{
		ID:   to.Ptr(s.ID() + "/apis/" + a.Name),
		Name: to.Ptr(a.Name),
		Type: to.Ptr("Microsoft.ApiManagement/service/apis"),
		Properties: &armapimanagement.APIContractProperties{
			Path:                 to.Ptr(a.Path),
			DisplayName:          to.Ptr(a.DisplayName),
			APIRevision:          to.Ptr(a.Revision),
			IsCurrent:            to.Ptr(!a.NotCurrent),
			IsOnline:             to.Ptr(true),
			SubscriptionRequired: to.Ptr(a.SubscriptionRequired),
			Protocols:            protocols,
			ServiceURL:           to.Ptr("https://backend.contoso.net/" + a.Path),
			APIType:              to.Ptr(armapimanagement.APITypeHTTP),
		},
	}
	if a.VersionSetID != "" {
		c.Properties.APIVersionSetID = to.Ptr(a.VersionSetID)
		c.Properties.APIVersion = to.Ptr(a.Version)
	}
	return c
}

// policyContract answers a policy read: the document as stored for rawxml, XML-escaped
// the way APIM escapes expressions for any other format.
func policyContract(id, doc string, format *armapimanagement.PolicyExportFormat) armapimanagement.PolicyContract {
	f := armapimanagement.PolicyContentFormatRawxml
	if format == nil || *format != armapimanagement.PolicyExportFormatRawxml {
		f = armapimanagement.PolicyContentFormatXML
		doc = strings.NewReplacer("&&", "&amp;&amp;", "=>", "=&gt;").Replace(doc)
	}
	return armapimanagement.PolicyContract{
		ID:         to.Ptr(id + "/policies/policy"),
		Name:       to.Ptr("policy"),
		Type:       to.Ptr("Microsoft.ApiManagement/service/policies"),
		Properties: &armapimanagement.PolicyContractProperties{Value: to.Ptr(doc), Format: to.Ptr(f)},
	}
}

func (w *World) apimServers(sub string) *apimfake.ServerFactory {
	const etag = "AAAAAAAAAAE="
	return &apimfake.ServerFactory{
		ServiceServer: apimfake.ServiceServer{
			Get: func(_ context.Context, rg, name string, _ *armapimanagement.ServiceClientGetOptions) (resp azfake.Responder[armapimanagement.ServiceClientGetResponse], errResp azfake.ErrorResponder) {
				s := w.service(sub, rg, name)
				if s == nil {
					errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
					return
				}
				resp.SetResponse(http.StatusOK, armapimanagement.ServiceClientGetResponse{ServiceResource: *s.resource()}, nil)
				return
			},
			NewListPager: func(*armapimanagement.ServiceClientListOptions) azfake.PagerResponder[armapimanagement.ServiceClientListResponse] {
				var items []*armapimanagement.ServiceResource
				for _, s := range w.Services {
					if strings.EqualFold(s.Subscription, sub) {
						items = append(items, s.resource())
					}
				}
				return paged(w, items, func(v []*armapimanagement.ServiceResource) armapimanagement.ServiceClientListResponse {
					return armapimanagement.ServiceClientListResponse{ServiceListResult: armapimanagement.ServiceListResult{Value: v}}
				})
			},
		},
		APIServer: apimfake.APIServer{
			NewListByServicePager: func(rg, name string, o *armapimanagement.APIClientListByServiceOptions) azfake.PagerResponder[armapimanagement.APIClientListByServiceResponse] {
				s := w.service(sub, rg, name)
				if s == nil {
					return missing[armapimanagement.APIClientListByServiceResponse]()
				}
				current := o != nil && o.Filter != nil && strings.EqualFold(strings.Join(strings.Fields(*o.Filter), " "), "isCurrent eq true")
				var items []*armapimanagement.APIContract
				for _, a := range s.APIs {
					if !current || !a.NotCurrent {
						items = append(items, s.apiContract(a))
					}
				}
				return paged(w, items, func(v []*armapimanagement.APIContract) armapimanagement.APIClientListByServiceResponse {
					return armapimanagement.APIClientListByServiceResponse{APICollection: armapimanagement.APICollection{Value: v, Count: to.Ptr(int64(len(items)))}}
				})
			},
		},
		APIOperationServer: apimfake.APIOperationServer{
			NewListByAPIPager: func(rg, name, api string, _ *armapimanagement.APIOperationClientListByAPIOptions) azfake.PagerResponder[armapimanagement.APIOperationClientListByAPIResponse] {
				s := w.service(sub, rg, name)
				if s == nil || s.API(api) == nil {
					return missing[armapimanagement.APIOperationClientListByAPIResponse]()
				}
				a := s.API(api)
				var items []*armapimanagement.OperationContract
				for _, op := range a.Operations {
					items = append(items, &armapimanagement.OperationContract{
						ID:   to.Ptr(s.ID() + "/apis/" + a.Name + "/operations/" + op.Name),
						Name: to.Ptr(op.Name),
						Type: to.Ptr("Microsoft.ApiManagement/service/apis/operations"),
						Properties: &armapimanagement.OperationContractProperties{
							DisplayName: to.Ptr(op.DisplayName), Method: to.Ptr(op.Method), URLTemplate: to.Ptr(op.URLTemplate),
						},
					})
				}
				return paged(w, items, func(v []*armapimanagement.OperationContract) armapimanagement.APIOperationClientListByAPIResponse {
					return armapimanagement.APIOperationClientListByAPIResponse{OperationCollection: armapimanagement.OperationCollection{Value: v, Count: to.Ptr(int64(len(items)))}}
				})
			},
		},
		ProductServer: apimfake.ProductServer{
			NewListByServicePager: func(rg, name string, _ *armapimanagement.ProductClientListByServiceOptions) azfake.PagerResponder[armapimanagement.ProductClientListByServiceResponse] {
				s := w.service(sub, rg, name)
				if s == nil {
					return missing[armapimanagement.ProductClientListByServiceResponse]()
				}
				var items []*armapimanagement.ProductContract
				for _, p := range s.Products {
					items = append(items, &armapimanagement.ProductContract{
						ID:   to.Ptr(s.ID() + "/products/" + p.Name),
						Name: to.Ptr(p.Name),
						Type: to.Ptr("Microsoft.ApiManagement/service/products"),
						Properties: &armapimanagement.ProductContractProperties{
							DisplayName:          to.Ptr(p.DisplayName),
							State:                to.Ptr(armapimanagement.ProductState(p.State)),
							SubscriptionRequired: to.Ptr(p.SubscriptionRequired),
							ApprovalRequired:     to.Ptr(false),
						},
					})
				}
				return paged(w, items, func(v []*armapimanagement.ProductContract) armapimanagement.ProductClientListByServiceResponse {
					return armapimanagement.ProductClientListByServiceResponse{ProductCollection: armapimanagement.ProductCollection{Value: v, Count: to.Ptr(int64(len(items)))}}
				})
			},
		},
		ProductAPIServer: apimfake.ProductAPIServer{
			NewListByProductPager: func(rg, name, product string, _ *armapimanagement.ProductAPIClientListByProductOptions) azfake.PagerResponder[armapimanagement.ProductAPIClientListByProductResponse] {
				s := w.service(sub, rg, name)
				if s == nil || s.Product(product) == nil {
					return missing[armapimanagement.ProductAPIClientListByProductResponse]()
				}
				var items []*armapimanagement.APIContract
				for _, n := range s.Product(product).APIs {
					if a := s.API(n); a != nil {
						items = append(items, s.apiContract(a))
					}
				}
				return paged(w, items, func(v []*armapimanagement.APIContract) armapimanagement.ProductAPIClientListByProductResponse {
					return armapimanagement.ProductAPIClientListByProductResponse{APICollection: armapimanagement.APICollection{Value: v, Count: to.Ptr(int64(len(items)))}}
				})
			},
		},
		TagResourceServer: apimfake.TagResourceServer{
			NewListByServicePager: func(rg, name string, o *armapimanagement.TagResourceClientListByServiceOptions) azfake.PagerResponder[armapimanagement.TagResourceClientListByServiceResponse] {
				s := w.service(sub, rg, name)
				if s == nil {
					return missing[armapimanagement.TagResourceClientListByServiceResponse]()
				}
				current := o != nil && o.Filter != nil && strings.Contains(strings.ToLower(*o.Filter), "iscurrent eq true")
				return paged(w, s.tagResources(current), func(v []*armapimanagement.TagResourceContract) armapimanagement.TagResourceClientListByServiceResponse {
					return armapimanagement.TagResourceClientListByServiceResponse{TagResourceCollection: armapimanagement.TagResourceCollection{Value: v}}
				})
			},
		},
		AllPoliciesServer: apimfake.AllPoliciesServer{
			NewListByServicePager: func(rg, name string, _ *armapimanagement.AllPoliciesClientListByServiceOptions) azfake.PagerResponder[armapimanagement.AllPoliciesClientListByServiceResponse] {
				s := w.service(sub, rg, name)
				if s == nil {
					return missing[armapimanagement.AllPoliciesClientListByServiceResponse]()
				}
				return paged(w, w.allPolicies(s), func(v []*armapimanagement.AllPoliciesContract) armapimanagement.AllPoliciesClientListByServiceResponse {
					return armapimanagement.AllPoliciesClientListByServiceResponse{AllPoliciesCollection: armapimanagement.AllPoliciesCollection{Value: v}}
				})
			},
		},
		PolicyServer: apimfake.PolicyServer{
			Get: func(_ context.Context, rg, name string, _ armapimanagement.PolicyIDName, o *armapimanagement.PolicyClientGetOptions) (resp azfake.Responder[armapimanagement.PolicyClientGetResponse], errResp azfake.ErrorResponder) {
				id, doc := w.policy(sub, rg, name, "", "", "")
				answerPolicy(&resp, &errResp, id, doc, o, func(c armapimanagement.PolicyContract) armapimanagement.PolicyClientGetResponse {
					return armapimanagement.PolicyClientGetResponse{PolicyContract: c, ETag: to.Ptr(etag)}
				})
				return
			},
		},
		ProductPolicyServer: apimfake.ProductPolicyServer{
			Get: func(_ context.Context, rg, name, product string, _ armapimanagement.PolicyIDName, o *armapimanagement.ProductPolicyClientGetOptions) (resp azfake.Responder[armapimanagement.ProductPolicyClientGetResponse], errResp azfake.ErrorResponder) {
				id, doc := w.policy(sub, rg, name, product, "", "")
				answerPolicy(&resp, &errResp, id, doc, o, func(c armapimanagement.PolicyContract) armapimanagement.ProductPolicyClientGetResponse {
					return armapimanagement.ProductPolicyClientGetResponse{PolicyContract: c, ETag: to.Ptr(etag)}
				})
				return
			},
		},
		APIPolicyServer: apimfake.APIPolicyServer{
			Get: func(_ context.Context, rg, name, api string, _ armapimanagement.PolicyIDName, o *armapimanagement.APIPolicyClientGetOptions) (resp azfake.Responder[armapimanagement.APIPolicyClientGetResponse], errResp azfake.ErrorResponder) {
				id, doc := w.policy(sub, rg, name, "", api, "")
				answerPolicy(&resp, &errResp, id, doc, o, func(c armapimanagement.PolicyContract) armapimanagement.APIPolicyClientGetResponse {
					return armapimanagement.APIPolicyClientGetResponse{PolicyContract: c, ETag: to.Ptr(etag)}
				})
				return
			},
		},
		APIOperationPolicyServer: apimfake.APIOperationPolicyServer{
			Get: func(_ context.Context, rg, name, api, op string, _ armapimanagement.PolicyIDName, o *armapimanagement.APIOperationPolicyClientGetOptions) (resp azfake.Responder[armapimanagement.APIOperationPolicyClientGetResponse], errResp azfake.ErrorResponder) {
				id, doc := w.policy(sub, rg, name, "", api, op)
				answerPolicy(&resp, &errResp, id, doc, o, func(c armapimanagement.PolicyContract) armapimanagement.APIOperationPolicyClientGetResponse {
					return armapimanagement.APIOperationPolicyClientGetResponse{PolicyContract: c, ETag: to.Ptr(etag)}
				})
				return
			},
		},
	}
}

// policy is the document at one scope (global when product, api and op are empty) and
// the scope's resource id; doc "" when there is none.
func (w *World) policy(sub, rg, name, product, api, op string) (id, doc string) {
	s := w.service(sub, rg, name)
	switch {
	case s == nil:
		return "", ""
	case product != "":
		if p := s.Product(product); p != nil {
			return s.ID() + "/products/" + p.Name, p.Policy
		}
	case api != "":
		a := s.API(api)
		if a == nil {
			return "", ""
		}
		if op == "" {
			return s.ID() + "/apis/" + a.Name, a.Policy
		}
		for _, x := range a.Operations {
			if strings.EqualFold(x.Name, op) {
				return s.ID() + "/apis/" + a.Name + "/operations/" + x.Name, x.Policy
			}
		}
	default:
		return s.ID(), s.Global
	}
	return "", ""
}

// allPolicies is the service's policy list as allPolicies answers it: a reference to
// every scope with a policy. A scope programmed to fail (Faults) is listed too: its
// policy exists, reading it fails.
func (w *World) allPolicies(s *Service) []*armapimanagement.AllPoliciesContract {
	var out []*armapimanagement.AllPoliciesContract
	add := func(scope, doc string) {
		ref := scope + "/policies/policy"
		if _, failing := w.Faults[strings.ToLower(ref)]; doc == "" && !failing {
			return
		}
		out = append(out, &armapimanagement.AllPoliciesContract{
			ID:   to.Ptr(fmt.Sprintf("%s/allPolicies/%d", s.ID(), len(out)+1)),
			Name: to.Ptr(fmt.Sprint(len(out) + 1)),
			Type: to.Ptr("Microsoft.ApiManagement/service/allpolicies"),
			Properties: &armapimanagement.AllPoliciesContractProperties{
				ReferencePolicyID: to.Ptr(ref),
				ComplianceState:   to.Ptr(armapimanagement.PolicyComplianceStateCompliant),
			},
		})
	}
	add(s.ID(), s.Global)
	for _, p := range s.Products {
		add(s.ID()+"/products/"+p.Name, p.Policy)
	}
	for _, a := range s.APIs {
		add(s.ID()+"/apis/"+a.Name, a.Policy)
		for _, op := range a.Operations {
			add(s.ID()+"/apis/"+a.Name+"/operations/"+op.Name, op.Policy)
		}
	}
	return out
}

// formatted is any policy read's options: they all carry the export format.
type formatted interface {
	*armapimanagement.PolicyClientGetOptions | *armapimanagement.ProductPolicyClientGetOptions |
		*armapimanagement.APIPolicyClientGetOptions | *armapimanagement.APIOperationPolicyClientGetOptions
}

// formatOf reads the format of any of them: the four option types are one struct.
func formatOf[O formatted](o O) *armapimanagement.PolicyExportFormat {
	if p := (*armapimanagement.PolicyClientGetOptions)(o); p != nil {
		return p.Format
	}
	return nil
}

// answerPolicy answers a policy read: the document, or 404 ResourceNotFound when the
// scope has none (as APIM answers).
func answerPolicy[R any, O formatted](resp *azfake.Responder[R], errResp *azfake.ErrorResponder, id, doc string, o O, wrap func(armapimanagement.PolicyContract) R) {
	if doc == "" {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	resp.SetResponse(http.StatusOK, wrap(policyContract(id, doc, formatOf(o))), nil)
}

// tagResources is the service's tag-to-entity links: API tags (named by the API's id,
// with its display name as name, as the service answers), plus an operation tag and a
// product tag that the collector must not take for API tags.
func (s *Service) tagResources(currentOnly bool) []*armapimanagement.TagResourceContract {
	var out []*armapimanagement.TagResourceContract
	tag := func(name string) *armapimanagement.TagResourceContractProperties {
		return &armapimanagement.TagResourceContractProperties{ID: to.Ptr(s.ID() + "/tags/" + strings.ToLower(name)), Name: to.Ptr(name)}
	}
	for _, a := range s.APIs {
		if currentOnly && a.NotCurrent {
			continue
		}
		for _, t := range a.Tags {
			out = append(out, &armapimanagement.TagResourceContract{
				Tag: tag(t),
				API: &armapimanagement.APITagResourceContractProperties{
					ID: to.Ptr(s.ID() + "/apis/" + a.Name), Name: to.Ptr(a.DisplayName), Path: to.Ptr(a.Path),
					IsCurrent: to.Ptr(!a.NotCurrent), APIRevision: to.Ptr(a.Revision),
				},
			})
		}
		if len(a.Operations) > 0 && len(a.Tags) > 0 {
			op := a.Operations[0]
			out = append(out, &armapimanagement.TagResourceContract{
				Tag: tag("operation-level"),
				API: &armapimanagement.APITagResourceContractProperties{ID: to.Ptr(s.ID() + "/apis/" + a.Name), Name: to.Ptr(a.DisplayName)},
				Operation: &armapimanagement.OperationTagResourceContractProperties{
					ID: to.Ptr(s.ID() + "/apis/" + a.Name + "/operations/" + op.Name), Name: to.Ptr(op.DisplayName),
					APIName: to.Ptr(a.DisplayName), Method: to.Ptr(op.Method), URLTemplate: to.Ptr(op.URLTemplate),
				},
			})
		}
	}
	if len(s.Products) > 0 {
		p := s.Products[0]
		out = append(out, &armapimanagement.TagResourceContract{
			Tag:     tag("product-level"),
			Product: &armapimanagement.ProductTagResourceContractProperties{ID: to.Ptr(s.ID() + "/products/" + p.Name), Name: to.Ptr(p.DisplayName)},
		})
	}
	return out
}

func (w *World) securityServers(sub string) *securityfake.ServerFactory {
	return &securityfake.ServerFactory{
		APICollectionsServer: securityfake.APICollectionsServer{
			NewListByAzureAPIManagementServicePager: func(rg, name string, _ *armsecurity.APICollectionsClientListByAzureAPIManagementServiceOptions) azfake.PagerResponder[armsecurity.APICollectionsClientListByAzureAPIManagementServiceResponse] {
				s := w.service(sub, rg, name)
				if s == nil {
					return missing[armsecurity.APICollectionsClientListByAzureAPIManagementServiceResponse]()
				}
				var items []*armsecurity.APICollection
				for _, a := range s.APIs {
					if a.Defender == nil {
						continue
					}
					d := a.Defender
					n := func(v int) *int64 { return to.Ptr(int64(v)) }
					state := armsecurity.ProvisioningState(d.ProvisioningState)
					p := &armsecurity.APICollectionProperties{
						ProvisioningState:    &state,
						DisplayName:          to.Ptr(a.DisplayName),
						DiscoveredVia:        to.Ptr(s.ID()),
						BaseURL:              to.Ptr("https://" + s.Name + ".azure-api.net/" + a.Path),
						NumberOfAPIEndpoints: n(d.Endpoints), NumberOfInactiveAPIEndpoints: n(d.Inactive),
						NumberOfUnauthenticatedAPIEndpoints: n(d.Unauthenticated), NumberOfExternalAPIEndpoints: n(d.External),
						NumberOfAPIEndpointsWithSensitiveDataExposed: n(d.SensitiveData),
					}
					if d.SensitivityLabel != "" {
						p.SensitivityLabel = to.Ptr(d.SensitivityLabel)
					}
					items = append(items, &armsecurity.APICollection{
						ID:         to.Ptr(s.ID() + "/providers/Microsoft.Security/apiCollections/" + a.Name),
						Name:       to.Ptr(a.Name),
						Type:       to.Ptr("Microsoft.Security/apiCollections"),
						Properties: p,
					})
				}
				return paged(w, items, func(v []*armsecurity.APICollection) armsecurity.APICollectionsClientListByAzureAPIManagementServiceResponse {
					return armsecurity.APICollectionsClientListByAzureAPIManagementServiceResponse{APICollectionList: armsecurity.APICollectionList{Value: v}}
				})
			},
		},
		AssessmentsServer: securityfake.AssessmentsServer{
			NewListPager: func(scope string, _ *armsecurity.AssessmentsClientListOptions) azfake.PagerResponder[armsecurity.AssessmentsClientListResponse] {
				var items []*armsecurity.AssessmentResponse
				for _, a := range w.Assessments[sub] {
					code := armsecurity.AssessmentStatusCode(a.Status)
					items = append(items, &armsecurity.AssessmentResponse{
						ID:   to.Ptr(a.Resource + "/providers/Microsoft.Security/assessments/" + a.Key),
						Name: to.Ptr(a.Key),
						Type: to.Ptr("Microsoft.Security/assessments"),
						Properties: &armsecurity.AssessmentPropertiesResponse{
							DisplayName:     to.Ptr(assessmentNames[a.Key]),
							ResourceDetails: &armsecurity.AzureResourceDetails{ID: to.Ptr(a.Resource), Source: to.Ptr(armsecurity.SourceAzure)},
							Status:          &armsecurity.AssessmentStatusResponse{Code: &code},
						},
					})
				}
				return paged(w, items, func(v []*armsecurity.AssessmentResponse) armsecurity.AssessmentsClientListResponse {
					return armsecurity.AssessmentsClientListResponse{AssessmentList: armsecurity.AssessmentList{Value: v}}
				})
			},
		},
	}
}

var assessmentNames = map[string]string{
	"91af2040-7874-4659-abf0-578e1f8d07dc": "API endpoints in Azure API Management should be authenticated",
	"4e8c00a2-e8bc-42a8-9e12-99584a51ad10": "API endpoints that are unused should be disabled and removed from the Azure API Management service",
	"1c0ba94f-e732-43c7-bf3a-05e80f45d642": "Azure API Management APIs should be onboarded to Defender for APIs",
	"c3b6ae71-f1f0-31b4-e6c1-d5951285d03d": "Guest Configuration extension should be installed on machines",
}

func (w *World) monitorServers(sub string) *monitorfake.ServerFactory {
	return &monitorfake.ServerFactory{
		MetricsServer: monitorfake.MetricsServer{
			List: func(_ context.Context, resourceURI string, o *armmonitor.MetricsClientListOptions) (resp azfake.Responder[armmonitor.MetricsClientListResponse], errResp azfake.ErrorResponder) {
				var s *Service
				for _, x := range w.Services {
					if strings.EqualFold(strings.Trim(x.ID(), "/"), strings.Trim(resourceURI, "/")) {
						s = x
					}
				}
				if s == nil {
					errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
					return
				}
				want := "Capacity"
				if strings.HasSuffix(strings.ToLower(s.SKU), "v2") {
					want = "CpuPercent_Gateway"
				}
				if o == nil || o.Metricnames == nil || !strings.EqualFold(*o.Metricnames, want) {
					// Azure Monitor refuses a metric the resource does not have.
					errResp.SetResponseError(http.StatusBadRequest, "BadRequest")
					return
				}
				var data []*armmonitor.MetricValue
				at := w.Collected.Add(-time.Hour).Truncate(time.Minute)
				for i, v := range s.Load {
					data = append(data, &armmonitor.MetricValue{TimeStamp: to.Ptr(at.Add(time.Duration(i) * 15 * time.Minute)), Maximum: to.Ptr(v)})
				}
				resp.SetResponse(http.StatusOK, armmonitor.MetricsClientListResponse{Response: armmonitor.Response{
					Timespan: o.Timespan,
					Interval: o.Interval,
					Value: []*armmonitor.Metric{{
						ID:         to.Ptr(s.ID() + "/providers/Microsoft.Insights/metrics/" + want),
						Name:       &armmonitor.LocalizableString{Value: to.Ptr(want), LocalizedValue: to.Ptr(want)},
						Type:       to.Ptr("Microsoft.Insights/metrics"),
						Unit:       to.Ptr(armmonitor.UnitPercent),
						Timeseries: []*armmonitor.TimeSeriesElement{{Data: data}},
					}},
				}}, nil)
				return
			},
		},
	}
}
