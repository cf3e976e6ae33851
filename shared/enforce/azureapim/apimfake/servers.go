package apimfake

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3"
	sdkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/apimanagement/armapimanagement/v3/fake"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// Size limits the service enforces on a document's value.
const (
	maxPolicy   = 256 << 10
	maxFragment = 32 << 10
)

// The handlers below implement the service's semantics on the official fake servers.
// Methods left nil (delete, list, entity tags) answer "not implemented" loudly:
// apiguard never calls them.
func (s *Service) servers() *sdkfake.ServerFactory {
	return &sdkfake.ServerFactory{
		PolicyServer: sdkfake.PolicyServer{
			Get: func(ctx context.Context, rg, name string, pid armapimanagement.PolicyIDName, o *armapimanagement.PolicyClientGetOptions) (
				resp azfake.Responder[armapimanagement.PolicyClientGetResponse], errResp azfake.ErrorResponder) {
				var f *armapimanagement.PolicyExportFormat
				if o != nil {
					f = o.Format
				}
				c, etag, fail := s.readPolicy(rg, name, azureapim.Global, pid, f)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(http.StatusOK, armapimanagement.PolicyClientGetResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
			CreateOrUpdate: func(ctx context.Context, rg, name string, pid armapimanagement.PolicyIDName, p armapimanagement.PolicyContract, _ *armapimanagement.PolicyClientCreateOrUpdateOptions) (
				resp azfake.Responder[armapimanagement.PolicyClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				c, etag, status, fail := s.writePolicy(ctx, rg, name, azureapim.Global, pid, p)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(status, armapimanagement.PolicyClientCreateOrUpdateResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
		},
		ProductPolicyServer: sdkfake.ProductPolicyServer{
			Get: func(ctx context.Context, rg, name, product string, pid armapimanagement.PolicyIDName, o *armapimanagement.ProductPolicyClientGetOptions) (
				resp azfake.Responder[armapimanagement.ProductPolicyClientGetResponse], errResp azfake.ErrorResponder) {
				var f *armapimanagement.PolicyExportFormat
				if o != nil {
					f = o.Format
				}
				c, etag, fail := s.readPolicy(rg, name, azureapim.Scope{Product: product}, pid, f)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(http.StatusOK, armapimanagement.ProductPolicyClientGetResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
			CreateOrUpdate: func(ctx context.Context, rg, name, product string, pid armapimanagement.PolicyIDName, p armapimanagement.PolicyContract, _ *armapimanagement.ProductPolicyClientCreateOrUpdateOptions) (
				resp azfake.Responder[armapimanagement.ProductPolicyClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				c, etag, status, fail := s.writePolicy(ctx, rg, name, azureapim.Scope{Product: product}, pid, p)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(status, armapimanagement.ProductPolicyClientCreateOrUpdateResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
		},
		APIPolicyServer: sdkfake.APIPolicyServer{
			Get: func(ctx context.Context, rg, name, api string, pid armapimanagement.PolicyIDName, o *armapimanagement.APIPolicyClientGetOptions) (
				resp azfake.Responder[armapimanagement.APIPolicyClientGetResponse], errResp azfake.ErrorResponder) {
				var f *armapimanagement.PolicyExportFormat
				if o != nil {
					f = o.Format
				}
				c, etag, fail := s.readPolicy(rg, name, azureapim.Scope{API: api}, pid, f)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(http.StatusOK, armapimanagement.APIPolicyClientGetResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
			CreateOrUpdate: func(ctx context.Context, rg, name, api string, pid armapimanagement.PolicyIDName, p armapimanagement.PolicyContract, _ *armapimanagement.APIPolicyClientCreateOrUpdateOptions) (
				resp azfake.Responder[armapimanagement.APIPolicyClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				c, etag, status, fail := s.writePolicy(ctx, rg, name, azureapim.Scope{API: api}, pid, p)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(status, armapimanagement.APIPolicyClientCreateOrUpdateResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
		},
		APIOperationPolicyServer: sdkfake.APIOperationPolicyServer{
			Get: func(ctx context.Context, rg, name, api, op string, pid armapimanagement.PolicyIDName, o *armapimanagement.APIOperationPolicyClientGetOptions) (
				resp azfake.Responder[armapimanagement.APIOperationPolicyClientGetResponse], errResp azfake.ErrorResponder) {
				var f *armapimanagement.PolicyExportFormat
				if o != nil {
					f = o.Format
				}
				c, etag, fail := s.readPolicy(rg, name, azureapim.Scope{API: api, Operation: op}, pid, f)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(http.StatusOK, armapimanagement.APIOperationPolicyClientGetResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
			CreateOrUpdate: func(ctx context.Context, rg, name, api, op string, pid armapimanagement.PolicyIDName, p armapimanagement.PolicyContract, _ *armapimanagement.APIOperationPolicyClientCreateOrUpdateOptions) (
				resp azfake.Responder[armapimanagement.APIOperationPolicyClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				c, etag, status, fail := s.writePolicy(ctx, rg, name, azureapim.Scope{API: api, Operation: op}, pid, p)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(status, armapimanagement.APIOperationPolicyClientCreateOrUpdateResponse{PolicyContract: c, ETag: &etag}, nil)
				return
			},
		},
		PolicyFragmentServer: sdkfake.PolicyFragmentServer{
			Get: func(ctx context.Context, rg, name, id string, o *armapimanagement.PolicyFragmentClientGetOptions) (
				resp azfake.Responder[armapimanagement.PolicyFragmentClientGetResponse], errResp azfake.ErrorResponder) {
				var f *string
				if o != nil && o.Format != nil {
					f = to.Ptr(string(*o.Format))
				}
				c, etag, fail := s.readFragment(rg, name, id, f)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.SetResponse(http.StatusOK, armapimanagement.PolicyFragmentClientGetResponse{PolicyFragmentContract: c, ETag: &etag}, nil)
				return
			},
			// The write is checked and applied when the PUT is accepted; the operation
			// then reports in progress twice (the PUT's answer and one poll) before it
			// succeeds. The official transport only lets 200/201 through here: the
			// transport turns the in-progress poll into the 202 the service sends.
			BeginCreateOrUpdate: func(ctx context.Context, rg, name, id string, p armapimanagement.PolicyFragmentContract, _ *armapimanagement.PolicyFragmentClientBeginCreateOrUpdateOptions) (
				resp azfake.PollerResponder[armapimanagement.PolicyFragmentClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				c, fail := s.writeFragment(ctx, rg, name, id, p)
				if fail != nil {
					fakearm.Reject(ctx, &errResp, fail)
					return
				}
				resp.AddNonTerminalResponse(http.StatusCreated, nil)
				resp.AddNonTerminalResponse(http.StatusCreated, nil)
				resp.SetTerminalResponse(http.StatusOK, armapimanagement.PolicyFragmentClientCreateOrUpdateResponse{PolicyFragmentContract: c}, nil)
				return
			},
		},
	}
}

// checkService answers ARM's 404s for another resource group or service.
func (s *Service) checkService(rg, name string) *fakearm.Error {
	switch {
	case !strings.EqualFold(rg, s.svc.ResourceGroup):
		return &fakearm.Error{Status: http.StatusNotFound, Code: "ResourceGroupNotFound", Message: fmt.Sprintf("Resource group '%s' could not be found.", rg)}
	case !strings.EqualFold(name, s.svc.Name):
		return notFound(fmt.Sprintf("The Resource 'Microsoft.ApiManagement/service/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg))
	}
	return nil
}

// checkScope answers APIM's 404 for a product, API or operation that does not exist.
func (s *Service) checkScope(sc azureapim.Scope) *fakearm.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case sc.Product != "" && !s.entities[strings.ToLower("products/"+sc.Product)]:
		return notFound("Product not found.")
	case sc.API != "" && !s.entities[strings.ToLower("apis/"+sc.API)]:
		return notFound("API not found.")
	case sc.Operation != "" && !s.entities[strings.ToLower("apis/"+sc.API+"/operations/"+sc.Operation)]:
		return notFound("Operation not found.")
	}
	return nil
}

func (s *Service) checkPolicy(rg, name string, sc azureapim.Scope, pid armapimanagement.PolicyIDName) *fakearm.Error {
	if fail := s.checkService(rg, name); fail != nil {
		return fail
	}
	if pid != armapimanagement.PolicyIDNamePolicy {
		return &fakearm.Error{Status: http.StatusBadRequest, Code: "ValidationError", Message: fmt.Sprintf("Policy identifier '%s' is not valid: the only one is 'policy'.", pid)}
	}
	return s.checkScope(sc)
}

// readPolicy answers a GET of the policy at sc.
func (s *Service) readPolicy(rg, name string, sc azureapim.Scope, pid armapimanagement.PolicyIDName, format *armapimanagement.PolicyExportFormat) (armapimanagement.PolicyContract, string, *fakearm.Error) {
	if fail := s.checkPolicy(rg, name, sc, pid); fail != nil {
		return armapimanagement.PolicyContract{}, "", fail
	}
	doc, etag, ok := s.Policy(sc)
	if !ok {
		return armapimanagement.PolicyContract{}, "", notFound("Policy configuration not found.")
	}
	f := "xml"
	if format != nil && *format != "" {
		f = string(*format)
	}
	return s.policyContract(sc, exported(doc, f), f), etag, nil
}

// writePolicy applies a PUT of the policy at sc under the request's conditions.
func (s *Service) writePolicy(ctx context.Context, rg, name string, sc azureapim.Scope, pid armapimanagement.PolicyIDName, p armapimanagement.PolicyContract) (armapimanagement.PolicyContract, string, int, *fakearm.Error) {
	if fail := s.checkPolicy(rg, name, sc, pid); fail != nil {
		return armapimanagement.PolicyContract{}, "", 0, fail
	}
	var format, value *string
	if p.Properties != nil {
		format, value = (*string)(p.Properties.Format), p.Properties.Value
	}
	doc, fail := validate(format, value, "policies", maxPolicy)
	if fail != nil {
		return armapimanagement.PolicyContract{}, "", 0, fail
	}
	stored, etag, created, fail := s.write(ctx, policyKey(sc), sc.String(), doc, "")
	if fail != nil {
		return armapimanagement.PolicyContract{}, "", 0, fail
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return s.policyContract(sc, stored, "rawxml"), etag, status, nil
}

func (s *Service) policyContract(sc azureapim.Scope, doc []byte, format string) armapimanagement.PolicyContract {
	id, typ := s.svc.String(), "Microsoft.ApiManagement/service"
	if !sc.IsGlobal() {
		id += "/" + sc.String()
		switch {
		case sc.Product != "":
			typ += "/products"
		case sc.Operation != "":
			typ += "/apis/operations"
		default:
			typ += "/apis"
		}
	}
	return armapimanagement.PolicyContract{
		ID: to.Ptr(id + "/policies/policy"), Name: to.Ptr("policy"), Type: to.Ptr(typ + "/policies"),
		Properties: &armapimanagement.PolicyContractProperties{
			Format: to.Ptr(armapimanagement.PolicyContentFormat(format)),
			Value:  to.Ptr(string(doc)),
		},
	}
}

// readFragment answers a GET of the fragment id.
func (s *Service) readFragment(rg, name, id string, format *string) (armapimanagement.PolicyFragmentContract, string, *fakearm.Error) {
	if fail := s.checkService(rg, name); fail != nil {
		return armapimanagement.PolicyFragmentContract{}, "", fail
	}
	s.mu.Lock()
	d := s.docs[fragmentKey(id)]
	var doc []byte
	var etag, desc, stored string
	if d != nil {
		doc, etag, desc, stored = append([]byte(nil), d.value...), d.etag, d.description, d.name
	}
	s.mu.Unlock()
	if d == nil {
		return armapimanagement.PolicyFragmentContract{}, "", notFound("PolicyFragment not found.")
	}
	f := "xml"
	if format != nil && *format != "" {
		f = *format
	}
	return s.fragmentContract(stored, exported(doc, f), f, desc), etag, nil
}

// writeFragment applies a fragment PUT under the request's conditions.
func (s *Service) writeFragment(ctx context.Context, rg, name, id string, p armapimanagement.PolicyFragmentContract) (armapimanagement.PolicyFragmentContract, *fakearm.Error) {
	if fail := s.checkService(rg, name); fail != nil {
		return armapimanagement.PolicyFragmentContract{}, fail
	}
	var format, value *string
	desc := ""
	if p.Properties != nil {
		format, value = (*string)(p.Properties.Format), p.Properties.Value
		if p.Properties.Description != nil {
			desc = *p.Properties.Description
		}
	}
	doc, fail := validate(format, value, "fragment", maxFragment)
	if fail != nil {
		return armapimanagement.PolicyFragmentContract{}, fail
	}
	stored, _, _, fail := s.write(ctx, fragmentKey(id), id, doc, desc)
	if fail != nil {
		return armapimanagement.PolicyFragmentContract{}, fail
	}
	return s.fragmentContract(id, stored, "rawxml", desc), nil
}

func (s *Service) fragmentContract(id string, doc []byte, format, desc string) armapimanagement.PolicyFragmentContract {
	return armapimanagement.PolicyFragmentContract{
		ID: to.Ptr(s.svc.String() + "/policyFragments/" + id), Name: to.Ptr(id), Type: to.Ptr("Microsoft.ApiManagement/service/policyFragments"),
		Properties: &armapimanagement.PolicyFragmentContractProperties{
			Format:            to.Ptr(armapimanagement.PolicyFragmentContentFormat(format)),
			Value:             to.Ptr(string(doc)),
			Description:       to.Ptr(desc),
			ProvisioningState: to.Ptr("Succeeded"),
		},
	}
}

// write stores value under key if the request's conditions hold, as the service does:
// a stale If-Match, or any If-Match on an absent document, and If-None-Match on a
// present one, answer 412. The ETag goes back to the transport, for the answer's
// header (a fragment's LRO responses cannot carry it otherwise).
func (s *Service) write(ctx context.Context, key, name string, value []byte, desc string) (stored []byte, etag string, created bool, fail *fakearm.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[key]
	cur := ""
	if d != nil {
		cur = d.etag
	}
	if !fakearm.ConditionsHold(ctx, cur, d != nil) {
		return nil, "", false, &fakearm.Error{Status: http.StatusPreconditionFailed, Code: "PreconditionFailed",
			Message: "The entity state does not match the If-Match or If-None-Match condition of the request."}
	}
	if s.reserialize {
		value = crlf(value)
	}
	etag = s.nextETagLocked()
	if fakearm.Acknowledge(ctx, etag) {
		s.storeLocked(key, name, value, desc, etag)
	}
	return append([]byte(nil), value...), etag, d == nil, nil
}

// validate checks a PUT's value as the service does and returns what it stores.
func validate(format, value *string, root string, max int) ([]byte, *fakearm.Error) {
	invalid := func(format string, a ...any) ([]byte, *fakearm.Error) {
		return nil, &fakearm.Error{Status: http.StatusBadRequest, Code: "ValidationError", Message: fmt.Sprintf(format, a...)}
	}
	if value == nil {
		return invalid("'value' is required.")
	}
	f := "xml"
	if format != nil && *format != "" {
		f = *format
	}
	switch f {
	case "rawxml":
	case "xml":
		if err := wellFormed(*value); err != nil {
			return invalid("The document is not well-formed XML (send it as rawxml?): %v", err)
		}
	case "xml-link", "rawxml-link":
		return invalid("apimfake: linked policy documents (%s) are not served", f)
	default:
		return invalid("Format '%s' is not valid.", f)
	}
	if len(*value) > max {
		return invalid("The document is %d bytes; at most %d are allowed.", len(*value), max)
	}
	if !rootIs(*value, root) {
		return invalid("The root element must be <%s>.", root)
	}
	return []byte(*value), nil
}

func wellFormed(doc string) error {
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// rootIs reports whether the first element, after space, comments and an XML
// declaration, is <root>. Only that much is checked: the value is raw, not XML.
func rootIs(doc, root string) bool {
	s := strings.TrimSpace(doc)
	for {
		switch {
		case strings.HasPrefix(s, "<!--"):
			end := strings.Index(s, "-->")
			if end < 0 {
				return false
			}
			s = strings.TrimSpace(s[end+3:])
		case strings.HasPrefix(s, "<?"):
			end := strings.Index(s, "?>")
			if end < 0 {
				return false
			}
			s = strings.TrimSpace(s[end+2:])
		default:
			rest, ok := strings.CutPrefix(s, "<"+root)
			return ok && rest != "" && strings.ContainsRune(" \t\r\n/>", rune(rest[0]))
		}
	}
}

// exported is the stored document in the format a GET asked for: as stored for rawxml,
// else with expressions escaped as APIM's xml format does (approximated).
func exported(doc []byte, format string) []byte {
	if format == "rawxml" {
		return doc
	}
	return []byte(strings.NewReplacer("&&", "&amp;&amp;", "=>", "=&gt;").Replace(string(doc)))
}
