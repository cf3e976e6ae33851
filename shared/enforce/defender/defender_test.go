package defender

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity"
	securityfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity/fake"

	"github.com/apiguard/apiguard/shared/fault"
)

const apiID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-shop/providers/Microsoft.ApiManagement/service/apim-shop/apis/orders"

// onboarder answers onboarding from the SDK's fake: a long-running operation that
// polls once in progress, then succeeds, or an ARM error.
func onboarder(t *testing.T, status int, code string, got *[]string) Onboarder {
	t.Helper()
	srv := securityfake.APICollectionsServer{
		BeginOnboardAzureAPIManagementAPI: func(ctx context.Context, rg, svc, api string, _ *armsecurity.APICollectionsClientBeginOnboardAzureAPIManagementAPIOptions) (resp azfake.PollerResponder[armsecurity.APICollectionsClientOnboardAzureAPIManagementAPIResponse], errResp azfake.ErrorResponder) {
			if status != 0 {
				errResp.SetResponseError(status, code)
				return
			}
			*got = append(*got, rg+"/"+svc+"/"+api)
			resp.AddNonTerminalResponse(http.StatusCreated, nil)
			resp.SetTerminalResponse(http.StatusOK, armsecurity.APICollectionsClientOnboardAzureAPIManagementAPIResponse{}, nil)
			return
		},
	}
	return Onboarder{Credential: &azfake.TokenCredential{}, Poll: time.Millisecond,
		ClientOptions: &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: securityfake.NewAPICollectionsServerTransport(&srv)}}}
}

func TestOnboard(t *testing.T) {
	var got []string
	if err := onboarder(t, 0, "", &got).Onboard(t.Context(), apiID); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "rg-shop/apim-shop/orders" {
		t.Errorf("onboarded %v", got)
	}
	for _, c := range []struct {
		status int
		code   string
		want   fault.Disposition
	}{
		{http.StatusConflict, "MissingSubscriptionRegistration", fault.Reject},
		{http.StatusForbidden, "AuthorizationFailed", fault.Reject},
		{http.StatusNotFound, "ResourceNotFound", fault.Reject},
		{http.StatusServiceUnavailable, "ServiceUnavailable", fault.Retry},
	} {
		o := onboarder(t, c.status, c.code, &got)
		o.ClientOptions.Retry.MaxRetries = -1
		if err := o.Onboard(t.Context(), apiID); err == nil || fault.Of(err) != c.want {
			t.Errorf("%d %s: %v (%v)", c.status, c.code, err, fault.Of(err))
		}
	}
	for _, bad := range []string{"", "orders", apiID + "/operations/get", "/subscriptions/x/apis/a"} {
		if err := onboarder(t, 0, "", &got).Onboard(t.Context(), bad); fault.Of(err) != fault.Reject {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
