package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/triage"
)

// sample is the realistic month the docs' samples are drawn from: 30 APIs on two
// services, every priority, a candidate, changes of every kind, three gaps, and the
// onboarding plan waiting on capacity.
func sample(t testing.TB) triage.Classification {
	t.Helper()
	b, err := os.ReadFile("testdata/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var c triage.Classification
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("testdata/sample.json: %v", err)
	}
	return c
}

// hostile are the texts a customer could put in an API's name, and a collector could
// carry into a reason, a source or an error.
var hostile = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}

// synthetic is a month of n APIs, most urgent first: 4 signals and 1 or 2
// recommendations each, every fifth API changed, a tenth not onboarded (planned in
// batches of 5), and ten gaps.
func synthetic(n int) triage.Classification {
	const svcID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/"
	c := triage.Classification{
		Month: "2026-12", Previous: "2026-11", Collected: time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC),
		Counts: map[triage.Priority]int{},
	}
	prios := triage.Priorities()
	kinds := []string{triage.ChangeNew, triage.ChangeRemoved, triage.ChangeRose, triage.ChangeFell, triage.ChangeNewlyInactive, triage.ChangeResolved}
	for i := range n {
		// A spread like a real tenant's: few P0, many P3.
		var p triage.Priority
		switch f := i * 100 / n; {
		case f < 4:
			p = prios[0]
		case f < 20:
			p = prios[1]
		case f < 35:
			p = prios[2]
		case f < 90:
			p = prios[3]
		default:
			p = prios[4]
		}
		service := fmt.Sprintf("apim-%02d", i%7)
		name := fmt.Sprintf("api-%05d", i)
		a := triage.Ranked{
			API: svcID + service + "/apis/" + name, Name: name, DisplayName: fmt.Sprintf("Service API %d", i), Service: service,
			Priority: p, Rules: []string{"external+unauthenticated"}, Onboarded: i%10 != 0, Candidate: i%97 == 0,
			Reason: "Internet traffic reaches 12 endpoints without authentication, and 3 of them return personal data.",
			Signals: []triage.Signal{
				{Name: "external", Value: true, Known: true, Source: "Defender: 12 of 12 endpoints saw internet traffic in 30 days"},
				{Name: "authenticated", Value: false, Known: true, Source: "subscriptionRequired is false on the API, and no validate-jwt applies"},
				{Name: "sensitive", Value: i%3 == 0, Known: i%5 != 0, Inferred: i%5 == 0, Source: "Defender: 3 of 12 endpoints expose sensitive data (label: Confidential)"},
				{Name: "inactive", Value: false, Known: true, Source: "apiguard saw traffic on 2026-11-30"},
			},
			Recommendations: []triage.Recommendation{{Kind: "rate-limit", Text: "Limit each caller to 60 calls a minute.", Enforceable: true,
				Operations: []string{"get-item", "list-items"},
				Snippet:    `<rate-limit-by-key calls="60" renewal-period="60" counter-key="@(context.Subscription?.Id ?? context.Request.IpAddress)" />`}},
		}
		if i%2 == 0 {
			a.Recommendations = append(a.Recommendations, triage.Recommendation{Kind: "validate-jwt", Text: "Require an Entra ID token.",
				Snippet: "<validate-jwt header-name=\"Authorization\">\n  <audiences><audience>api://" + name + "</audience></audiences>\n</validate-jwt>"})
		}
		c.APIs = append(c.APIs, a)
		c.Counts[p]++
		if i%5 == 0 {
			c.Changes = append(c.Changes, triage.Change{API: a.API, Name: name, Kind: kinds[(i/5)%len(kinds)], From: triage.P1, To: p, Signal: "authenticated: true -> false"})
		}
		if !a.Onboarded {
			c.Coverage.NotOnboarded = append(c.Coverage.NotOnboarded, a.API)
			if len(c.Coverage.Batches) == 0 || len(c.Coverage.Batches[len(c.Coverage.Batches)-1]) == 5 {
				c.Coverage.Batches = append(c.Coverage.Batches, nil)
			}
			c.Coverage.Batches[len(c.Coverage.Batches)-1] = append(c.Coverage.Batches[len(c.Coverage.Batches)-1], a.API)
		}
	}
	if len(c.Coverage.Batches) > 0 {
		c.Coverage.Next = c.Coverage.Batches[0]
	}
	for i := range 10 {
		c.Gaps = append(c.Gaps, triage.Gap{Scope: fmt.Sprintf("%sapim-%02d", svcID, i%7), What: "policy of apis/api-" + fmt.Sprint(i),
			Error: "429 TooManyRequests", Effect: "authentication judged without that policy"})
	}
	return c
}

func TestSyntheticIsConsistent(t *testing.T) {
	for _, n := range []int{1, 30, 5000} {
		if _, err := digestOf(synthetic(n)); err != nil {
			t.Errorf("synthetic(%d): %v", n, err)
		}
	}
}

// A Classification the report cannot show faithfully is refused by every format,
// with a message that names what is wrong, and nothing is written.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*triage.Classification)
		want   string
	}{
		{"unknown priority", func(c *triage.Classification) { c.APIs[3].Priority = "P4" }, `priority "P4"`},
		{"counts disagree", func(c *triage.Classification) { c.Counts[triage.P1]++ }, "counts say 8 APIs are P1, the list holds 7"},
		{"counts leave one out", func(c *triage.Classification) { delete(c.Counts, triage.P3) }, "counts leave out P3"},
		{"counts hold an unknown priority", func(c *triage.Classification) { c.Counts["urgent"] = 0 }, `counts hold priority "urgent"`},
		{"unknown change kind", func(c *triage.Classification) { c.Changes[0].Kind = "renamed" }, `kind "renamed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample(t)
			tc.change(&c)
			for format, render := range formats {
				var buf bytes.Buffer
				err := render(&buf, c)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %v, want one saying %q", format, err, tc.want)
				}
				if buf.Len() > 0 {
					t.Errorf("%s: wrote %d bytes of a refused report", format, buf.Len())
				}
			}
		})
	}
	// Counts may leave out a priority no API holds.
	c := sample(t)
	c.APIs = c.APIs[:5]
	c.Counts = map[triage.Priority]int{triage.P0: 5}
	if _, err := digestOf(c); err != nil {
		t.Errorf("counts without zeros: %v", err)
	}
}

// formats are the three renderings, for tests that hold for each.
var formats = map[string]func(*bytes.Buffer, triage.Classification) error{
	"json":     func(b *bytes.Buffer, c triage.Classification) error { return JSON(b, c) },
	"markdown": func(b *bytes.Buffer, c triage.Classification) error { return Markdown(b, c) },
	"html":     func(b *bytes.Buffer, c triage.Classification) error { return HTML(b, c, HTMLOptions{}) },
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/subscriptions/5f3c/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-prod", "apim-prod"},
		{"/subscriptions/5f3c/resourceGroups/rg/providers/microsoft.apimanagement/service/apim-prod/apis/orders", "apim-prod/apis/orders"},
		{"/subscriptions/5f3c", "subscription 5f3c"},
		{"/subscriptions/5f3c/resourceGroups/rg-api", "resource group rg-api"},
		{"tenant", "tenant"},
	} {
		if got := scopeName(tc.in); got != tc.want {
			t.Errorf("scopeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	d, err := digestOf(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, fallback, name, service string }{
		{d.c.APIs[0].API, "", "Payments", "apim-contoso-prod"},
		{d.c.APIs[22].API, "", "build-info", "apim-contoso-int"}, // no display name
		{"/subscriptions/5f3c/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-x/apis/gone", "gone-api", "gone-api", "apim-x"},
		{"/subscriptions/5f3c/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-x/apis/gone", "", "gone", "apim-x"},
		{"orders", "", "orders", ""},
	} {
		if name, service := d.apiName(tc.id, tc.fallback); name != tc.name || service != tc.service {
			t.Errorf("apiName(%q, %q) = %q, %q; want %q, %q", tc.id, tc.fallback, name, service, tc.name, tc.service)
		}
	}
	if got := monthName("2026-12"); got != "December 2026" {
		t.Errorf("monthName = %q", got)
	}
	if got := monthName("Q4"); got != "Q4" {
		t.Errorf("monthName(Q4) = %q", got)
	}
	if got := HTMLName("2026-12"); got != "apiguard-triage-2026-12.html" {
		t.Errorf("HTMLName = %q", got)
	}
}
