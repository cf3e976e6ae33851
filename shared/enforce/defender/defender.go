// Package defender puts API Management APIs under Microsoft Defender for APIs: the
// onboarding the monthly triage proposes a few APIs at a time and an operator
// approves. Onboarding loads the gateway, so apiguard never does it on its own.
package defender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity"

	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/fault"
)

// Onboarder onboards APIs with the APICollections client.
type Onboarder struct {
	Credential    azcore.TokenCredential
	ClientOptions *arm.ClientOptions
	// Timeout bounds one onboarding, its long-running operation included (default
	// 10 minutes); Poll is how often it is polled (default 5 s).
	Timeout, Poll time.Duration
}

// Onboard puts one API (its resource id, .../service/S/apis/A) under Defender for
// APIs and waits for the operation to finish. A refusal (the API or service is gone,
// the plan is off, no permission) is a rejection; anything else is transient.
func (o Onboarder) Onboard(ctx context.Context, apiID string) error {
	svc, api, err := parseAPI(apiID)
	if err != nil {
		return err
	}
	timeout, poll := o.Timeout, o.Poll
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	if poll <= 0 {
		poll = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := armsecurity.NewAPICollectionsClient(svc.Subscription, o.Credential, o.ClientOptions)
	if err != nil {
		return fault.Rejected(0, fmt.Errorf("Defender for APIs client: %w", err))
	}
	poller, err := client.BeginOnboardAzureAPIManagementAPI(ctx, svc.ResourceGroup, svc.Name, api, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: poll})
	}
	if err != nil {
		return disposition(fmt.Errorf("onboard %s to Defender for APIs: %w", apiID, err))
	}
	return nil
}

// parseAPI reads .../providers/Microsoft.ApiManagement/service/S/apis/A.
func parseAPI(id string) (azureapim.Service, string, error) {
	i := strings.LastIndex(strings.ToLower(id), "/apis/")
	if i < 0 || strings.Contains(id[i+len("/apis/"):], "/") || id[i+len("/apis/"):] == "" {
		return azureapim.Service{}, "", fault.Rejected(http.StatusBadRequest, fmt.Errorf("%q is not an API Management API resource id (.../service/S/apis/A)", id))
	}
	svc, err := azureapim.ParseServiceID(id[:i])
	if err != nil {
		return azureapim.Service{}, "", err
	}
	return svc, id[i+len("/apis/"):], nil
}

// disposition marks ARM's refusals (4xx but 408 and 429) as rejections: retrying
// cannot help; the rest is transient.
func disposition(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 &&
		re.StatusCode != http.StatusRequestTimeout && re.StatusCode != http.StatusTooManyRequests {
		return fault.Rejected(http.StatusConflict, err)
	}
	return fault.Transient(err)
}
