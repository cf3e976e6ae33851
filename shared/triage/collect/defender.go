package collect

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/security/armsecurity"

	"github.com/apiguard/apiguard/shared/triage"
)

// Effects of Defender and metric gaps.
const (
	effectPlanOff     = "Defender for APIs is off on this subscription: external is inferred from the network mode, sensitive data from tags only, and no API counts as onboarded"
	effectCollections = "Defender for APIs' view is unread: external is inferred from the network mode, sensitive data from tags only, onboarding unknown"
	effectAssessments = "Defender's per-operation assessments are unread: authentication is judged from API Management alone, idleness from the collections' counts and apiguard"
	effectCapacity    = "the gateway's load is unknown: no onboarding batch is proposed for this service"
)

// planOffCodes are ARM error codes of an API collections list on a subscription where
// Defender for APIs cannot answer: the resource provider is not registered. The code for
// a registered provider with the plan off is not documented; codes naming a plan or a
// pricing tier are read as "plan off" too (planOff).
var planOffCodes = []string{"MissingSubscriptionRegistration", "SubscriptionNotRegistered", "MissingRegistrationForType"}

func planOff(f failure) bool {
	if slices.Contains(planOffCodes, f.code) {
		return true
	}
	c := strings.ToLower(f.code)
	return f.status >= 400 && f.status < 500 && (strings.Contains(c, "plan") || strings.Contains(c, "pricing") || strings.Contains(c, "notenabled"))
}

// collections reads Defender for APIs' collections of one service: one list.
func (c *collector) collections(ctx context.Context, s *serviceRead) error {
	cl, err := armsecurity.NewAPICollectionsClient(s.svc.Subscription, c.o.Credential, c.opts)
	if err != nil {
		return err
	}
	found := map[string]*triage.Collection{}
	err = pages(ctx, c, cl.NewListByAzureAPIManagementServicePager(s.svc.ResourceGroup, s.svc.Name, nil),
		func(p armsecurity.APICollectionsClientListByAzureAPIManagementServiceResponse) {
			for _, col := range p.Value {
				if col == nil || col.Name == nil {
					continue
				}
				found[strings.ToLower(*col.Name)] = collectionOf(col.Properties)
			}
		})
	if err == nil {
		s.mu.Lock()
		s.collections = found
		s.out.Defender.Collections = true
		s.mu.Unlock()
		return nil
	}
	f := classify(ctx, err)
	if f.transient || f.fatal {
		return f.fail("Defender for APIs collections", s.out.ID)
	}
	effect := effectCollections
	if planOff(f) {
		effect = effectPlanOff
		s.mu.Lock()
		s.out.Defender.PlanOff = true
		s.mu.Unlock()
	}
	c.gaps.add(s.out.ID, "Defender for APIs collections", f.short, effect)
	return nil
}

func collectionOf(p *armsecurity.APICollectionProperties) *triage.Collection {
	out := &triage.Collection{}
	if p == nil {
		return out
	}
	n := func(v *int64) int {
		if v == nil {
			return 0
		}
		return int(*v)
	}
	if p.ProvisioningState != nil {
		out.ProvisioningState = string(*p.ProvisioningState)
	}
	out.Endpoints = n(p.NumberOfAPIEndpoints)
	out.Inactive = n(p.NumberOfInactiveAPIEndpoints)
	out.Unauthenticated = n(p.NumberOfUnauthenticatedAPIEndpoints)
	out.External = n(p.NumberOfExternalAPIEndpoints)
	out.SensitiveData = n(p.NumberOfAPIEndpointsWithSensitiveDataExposed)
	out.SensitivityLabel = deref(p.SensitivityLabel)
	return out
}

// assessment is one API assessment of an APIM operation, before it is attached.
type assessment struct {
	service, api string // lower-case service id and API name
	out          triage.Assessment
}

// assessments lists the subscription's assessments (one paged list: ARM has no filter
// for it) and keeps the two documented API assessment keys on APIM operations. ok false
// means they were not read (a gap says why).
func (c *collector) assessments(ctx context.Context, sub string) (out []assessment, ok bool, _ error) {
	cl, err := armsecurity.NewAssessmentsClient(c.o.Credential, c.opts)
	if err != nil {
		return nil, false, err
	}
	err = pages(ctx, c, cl.NewListPager("subscriptions/"+sub, nil), func(p armsecurity.AssessmentsClientListResponse) {
		for _, a := range p.Value {
			if x, keep := assessmentOf(a); keep {
				out = append(out, x)
			}
		}
	})
	ok, err = c.soft(ctx, err, "/subscriptions/"+sub, "assessments", effectAssessments)
	if !ok {
		return nil, false, err
	}
	return out, true, nil
}

// assessmentOf keeps an assessment with a documented key on an APIM operation. The
// operation is resourceDetails.id; when the SDK could not read it (the service sometimes
// spells its keys Source and Id) it is the assessment's own id up to
// /providers/Microsoft.Security/assessments/.
func assessmentOf(a *armsecurity.AssessmentResponse) (assessment, bool) {
	if a == nil || a.Name == nil || (*a.Name != triage.AssessmentAuthenticated && *a.Name != triage.AssessmentUnused) {
		return assessment{}, false
	}
	var resource string
	if a.Properties != nil {
		if d, ok := a.Properties.ResourceDetails.(*armsecurity.AzureResourceDetails); ok && d.ID != nil {
			resource = *d.ID
		}
	}
	if resource == "" && a.ID != nil {
		const marker = "/providers/microsoft.security/assessments/"
		if i := strings.LastIndex(strings.ToLower(*a.ID), marker); i > 0 {
			resource = (*a.ID)[:i]
		}
	}
	svc, api, _, ok := splitOperationID(resource)
	if !ok {
		return assessment{}, false
	}
	var status string
	if a.Properties != nil && a.Properties.Status != nil && a.Properties.Status.Code != nil {
		status = string(*a.Properties.Status.Code)
	}
	return assessment{service: strings.ToLower(svc), api: strings.ToLower(api),
		out: triage.Assessment{Key: *a.Name, Operation: resource, Status: status}}, true
}

// splitOperationID reads {service id}/apis/{api}/operations/{op}.
func splitOperationID(id string) (service, api, op string, ok bool) {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	if len(segs) != 12 || !strings.EqualFold(segs[8], "apis") || !strings.EqualFold(segs[10], "operations") {
		return "", "", "", false
	}
	svc := "/" + strings.Join(segs[:8], "/")
	if !strings.EqualFold(segs[4], "providers") || !strings.EqualFold(segs[5], "Microsoft.ApiManagement") || !strings.EqualFold(segs[6], "service") {
		return "", "", "", false
	}
	return svc, segs[9], segs[11], true
}

// attachAssessments gives each current API of the service its assessments.
func (s *serviceRead) attachAssessments(all []assessment) {
	id := strings.ToLower(s.out.ID)
	for _, a := range all {
		if a.service != id {
			continue
		}
		if api := s.apis[a.api]; api != nil {
			api.out.Assessments = append(api.out.Assessments, a.out)
		}
	}
}

// capacity reads the gateway's load over the hour before the run: the Capacity metric's
// maximum, or CpuPercent_Gateway on v2 tiers. Consumption has neither (and Defender for
// APIs does not cover it): nothing is read.
func (c *collector) capacity(ctx context.Context, s *serviceRead) error {
	metric := "Capacity"
	switch {
	case strings.EqualFold(s.out.SKU, "Consumption"):
		return nil
	case strings.HasSuffix(strings.ToLower(s.out.SKU), "v2"):
		metric = "CpuPercent_Gateway"
	}
	cl, err := armmonitor.NewMetricsClient(s.svc.Subscription, c.o.Credential, c.opts)
	if err != nil {
		return err
	}
	end := c.o.Now().UTC().Truncate(time.Minute)
	var resp armmonitor.MetricsClientListResponse
	err = c.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = cl.List(ctx, strings.TrimPrefix(s.out.ID, "/"), &armmonitor.MetricsClientListOptions{
			Metricnames: to.Ptr(metric),
			Aggregation: to.Ptr("Maximum"),
			Interval:    to.Ptr("PT15M"),
			Timespan:    to.Ptr(end.Add(-time.Hour).Format(time.RFC3339) + "/" + end.Format(time.RFC3339)),
		})
		return err
	})
	what := metric + " metric"
	if ok, err := c.soft(ctx, err, s.out.ID, what, effectCapacity); !ok {
		return err
	}
	var top *float64
	for _, m := range resp.Value {
		if m == nil || m.Name == nil || !strings.EqualFold(deref(m.Name.Value), metric) {
			continue
		}
		for _, ts := range m.Timeseries {
			if ts == nil {
				continue
			}
			for _, d := range ts.Data {
				if d != nil && d.Maximum != nil && (top == nil || *d.Maximum > *top) {
					top = to.Ptr(*d.Maximum)
				}
			}
		}
	}
	if top == nil {
		c.gaps.add(s.out.ID, what, fmt.Sprintf("HTTP %d with no data point in the hour", http.StatusOK), effectCapacity)
		return nil
	}
	s.mu.Lock()
	s.out.Capacity = top
	s.mu.Unlock()
	return nil
}
