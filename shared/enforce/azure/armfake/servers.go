package armfake

import (
	"context"
	"encoding/json"
	"net/http"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor"
	fdfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/frontdoor/armfrontdoor/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	netfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7/fake"

	"github.com/apiguard/apiguard/shared/enforce/fakearm"
)

// The handlers below implement the service's semantics on the official fake servers.
// Methods left nil (delete, list) answer "not implemented" loudly: apiguard never
// calls them.

func (s *Service) appGWServer() *netfake.WebApplicationFirewallPoliciesServer {
	return &netfake.WebApplicationFirewallPoliciesServer{
		Get: func(ctx context.Context, rg, name string, _ *armnetwork.WebApplicationFirewallPoliciesClientGetOptions) (
			resp azfake.Responder[armnetwork.WebApplicationFirewallPoliciesClientGetResponse], errResp azfake.ErrorResponder) {
			doc, etag, fail := s.read(rg, name)
			var m armnetwork.WebApplicationFirewallPolicy
			if fail == nil {
				fail = decodeStored(doc, &m)
			}
			if fail != nil {
				fakearm.Reject(ctx, &errResp, fail)
				return
			}
			resp.SetResponse(http.StatusOK, armnetwork.WebApplicationFirewallPoliciesClientGetResponse{WebApplicationFirewallPolicy: m}, withETag(etag))
			return
		},
		CreateOrUpdate: func(ctx context.Context, rg, name string, params armnetwork.WebApplicationFirewallPolicy, _ *armnetwork.WebApplicationFirewallPoliciesClientCreateOrUpdateOptions) (
			resp azfake.Responder[armnetwork.WebApplicationFirewallPoliciesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
			var m armnetwork.WebApplicationFirewallPolicy
			etag, fail := s.put(ctx, rg, name, params, &m)
			if fail != nil {
				fakearm.Reject(ctx, &errResp, fail)
				return
			}
			resp.SetResponse(http.StatusOK, armnetwork.WebApplicationFirewallPoliciesClientCreateOrUpdateResponse{WebApplicationFirewallPolicy: m}, withETag(etag))
			return
		},
	}
}

func (s *Service) frontDoorServer() *fdfake.PoliciesServer {
	return &fdfake.PoliciesServer{
		Get: func(ctx context.Context, rg, name string, _ *armfrontdoor.PoliciesClientGetOptions) (
			resp azfake.Responder[armfrontdoor.PoliciesClientGetResponse], errResp azfake.ErrorResponder) {
			doc, etag, fail := s.read(rg, name)
			var m armfrontdoor.WebApplicationFirewallPolicy
			if fail == nil {
				fail = decodeStored(doc, &m)
			}
			if fail != nil {
				fakearm.Reject(ctx, &errResp, fail)
				return
			}
			resp.SetResponse(http.StatusOK, armfrontdoor.PoliciesClientGetResponse{WebApplicationFirewallPolicy: m}, withETag(etag))
			return
		},
		// The write is checked and applied when the PUT is accepted; the operation
		// then reports in progress twice (the 202 and one poll) before it succeeds.
		BeginCreateOrUpdate: func(ctx context.Context, rg, name string, params armfrontdoor.WebApplicationFirewallPolicy, _ *armfrontdoor.PoliciesClientBeginCreateOrUpdateOptions) (
			resp azfake.PollerResponder[armfrontdoor.PoliciesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
			var m armfrontdoor.WebApplicationFirewallPolicy
			if _, fail := s.put(ctx, rg, name, params, &m); fail != nil {
				fakearm.Reject(ctx, &errResp, fail)
				return
			}
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.SetTerminalResponse(http.StatusOK, armfrontdoor.PoliciesClientCreateOrUpdateResponse{WebApplicationFirewallPolicy: m}, nil)
			return
		},
	}
}

// put applies a PUT body under the request's conditions and decodes the stored
// policy into out.
func (s *Service) put(ctx context.Context, rg, name string, params any, out any) (string, *fakearm.Error) {
	body, err := json.Marshal(params)
	if err != nil {
		return "", &fakearm.Error{Status: http.StatusBadRequest, Code: "InvalidRequestContent", Message: err.Error()}
	}
	stored, etag, fail := s.write(ctx, rg, name, body)
	if fail != nil {
		return "", fail
	}
	return etag, decodeStored(stored, out)
}

func decodeStored(doc []byte, out any) *fakearm.Error {
	if err := json.Unmarshal(doc, out); err != nil {
		return &fakearm.Error{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "armfake: stored policy: " + err.Error()}
	}
	return nil
}

func withETag(etag string) *azfake.SetResponseOptions {
	return &azfake.SetResponseOptions{Header: http.Header{"ETag": {etag}}}
}
