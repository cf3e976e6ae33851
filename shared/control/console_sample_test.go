package control

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/vocab"
)

var updateConsole = flag.Bool("update-console", false, "rewrite docs/console/*.html from the current output")

// consoleNow is the sample pages' clock.
var consoleNow = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// sampleConsole is a busy afternoon: blocks from alerts, findings and an operator
// (one past its expiry, waiting for the timer), a pending approval, and a target that
// has drifted, so every state the page draws appears once.
func sampleConsole() Console {
	now := consoleNow
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	incA := "inc-3f2a9c1e7b0d4e55a1c2b3d4e5f60718"
	incB := "inc-9b8e7d6c5b4a39281706f5e4d3c2b1a0"
	fnd := "fnd-brute_force-subscription-20260314T093000Z-7c1e0f9ad2b4e611"
	fndProbe := "fnd-probing-ip-20260314T091500Z-51aa0c7e3d9f2b84"
	sub := "7d1c0f9e2a3b4c5d"
	rg := "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/rg-edge"
	apim := rg + "/providers/Microsoft.ApiManagement/service/apim-prod"
	dec := func(inc string, i int, status vocab.Status, d decide.Decision) flow.Decision {
		d.Index = i
		return flow.Decision{ID: fmt.Sprintf("%s.%d", inc, i), Incident: inc, Status: status, Updated: ago(12 * time.Minute), Decision: d}
	}
	ip := func(a string) *decide.Target { return &decide.Target{Kind: vocab.KeyIP, Value: a} }
	pendingSub := dec(fnd, 0, vocab.StatusPending, decide.Decision{
		Action: vocab.Throttle, Mode: vocab.Approve, Target: &decide.Target{Kind: vocab.KeySubscription, Value: sub},
		Duration: "6h", Seconds: 6 * 3600, Severity: vocab.SeverityMedium, AlertType: vocab.AlertType(vocab.DetectorBruteForce),
		Reason: "Medium finding brute_force: 412 failed logins in 10m from one subscription",
	})
	pendingIP := dec(incB, 1, vocab.StatusPending, decide.Decision{
		Action: vocab.BlockWAF, Mode: vocab.Approve, Address: "198.51.100.77", Target: ip("198.51.100.77"),
		Duration: "24h", Seconds: 86400, Severity: vocab.SeverityHigh, AlertType: "API_SuspiciousAccessPattern",
		Reason: "High alert suspicious access pattern (first offence)",
	})
	pendingIP.Updated = ago(2*time.Hour + 41*time.Minute)
	return Console{
		Now:  now,
		Base: "/api/v1",
		Blocks: []flow.Block{
			{ID: "block_waf:45.153.160.140", Action: vocab.BlockWAF, Kind: vocab.KeyIP, Target: "45.153.160.140",
				Reason: "High alert API_SuspiciousAccessPattern (2nd offence: 24h)", Severity: vocab.SeverityHigh,
				Source: incA, Mode: vocab.Enforce, Created: ago(20 * time.Hour), Updated: ago(48 * time.Minute),
				Expires: now.Add(3*time.Hour + 12*time.Minute), Offences: 2},
			{ID: "block_waf:198.51.100.23", Action: vocab.BlockWAF, Kind: vocab.KeyIP, Target: "198.51.100.23",
				Reason: "Medium finding probing: 96 distinct 404 paths in 5m", Severity: vocab.SeverityMedium,
				Source: fndProbe, Mode: vocab.Enforce, Created: ago(time.Hour), Updated: ago(time.Hour),
				Expires: ago(4 * time.Minute), Offences: 1},
			{ID: "block_apim:203.0.113.0/24", Action: vocab.BlockAPIM, Kind: vocab.KeyIP, Target: "203.0.113.0/24",
				Reason: "credential stuffing from a hosting range", Severity: vocab.SeverityHigh,
				Source: "operator:alice@contoso.com", Mode: vocab.Enforce, Created: ago(time.Hour), Updated: ago(time.Hour),
				Expires: now.Add(23 * time.Hour), Offences: 1, Forwarded: true},
			{ID: "throttle:" + sub, Action: vocab.Throttle, Kind: vocab.KeySubscription, Target: sub,
				Reason: "Low finding rate_spike: 9.4x the subscription's baseline", Severity: vocab.SeverityLow,
				Source: "fnd-rate_spike-subscription-20260314T094000Z-0be1d2c3f4a5b697", Mode: vocab.DryRun,
				Created: ago(15 * time.Minute), Updated: ago(15 * time.Minute), Expires: now.Add(45 * time.Minute), Offences: 1},
		},
		Incidents: []flow.Incident{
			{ID: fnd, AlertType: vocab.AlertType(vocab.DetectorBruteForce), Severity: vocab.SeverityMedium,
				DisplayName: "412 failed logins in 10m from one subscription", Source: "finding",
				EventTime: ago(30 * time.Minute), Received: ago(12 * time.Minute), Complete: true,
				Identities: []string{"subscription:" + sub}, Decisions: []flow.Decision{pendingSub}},
			{ID: incB, AlertType: "API_SuspiciousAccessPattern", Severity: vocab.SeverityHigh,
				DisplayName: "Suspicious access pattern to a sensitive API operation", Source: "alert",
				EventTime: ago(2*time.Hour + 45*time.Minute), Received: ago(2*time.Hour + 41*time.Minute), Complete: true,
				Addresses: []string{"10.4.0.12", "198.51.100.77"},
				Decisions: []flow.Decision{
					dec(incB, 0, vocab.StatusRecorded, decide.Decision{Action: vocab.Skip, Intended: vocab.BlockWAF, Address: "10.4.0.12"}),
					pendingIP,
				}},
			{ID: incA, AlertType: "API_SuspiciousAccessPattern", Severity: vocab.SeverityHigh,
				DisplayName: "Access from a suspicious IP address", Source: "alert",
				EventTime: ago(48 * time.Minute), Received: ago(47 * time.Minute), Complete: true,
				Addresses: []string{"45.153.160.140"},
				Decisions: []flow.Decision{dec(incA, 0, vocab.StatusEnforced, decide.Decision{
					Action: vocab.BlockWAF, Mode: vocab.Enforce, Target: ip("45.153.160.140")})}},
			{ID: "inc-0c0ffee0c0ffee0c0ffee0c0ffee0c0f", AlertType: "API_DataExfiltration", Severity: vocab.SeverityLow,
				Source: "alert", Received: ago(40 * time.Second), Complete: false, Addresses: []string{"192.0.2.44"}},
		},
		Pending: []flow.Decision{pendingIP, pendingSub},
		Health: flow.Health{
			Status: "unhealthy",
			Causes: []string{
				"target " + apim + " has not held the desired state since 2026-03-14T09:12:00Z (over 30m0s; last failure: 412 Precondition Failed: the policy changed meanwhile)",
				"queue ingest holds 2 dead-lettered messages",
			},
			Checked: ago(20 * time.Second),
			Functions: []flow.FunctionHealth{
				{Name: "alerts", LastSuccess: ago(12 * time.Minute), Invocations: 1287},
				{Name: "ingest", LastSuccess: ago(time.Minute), LastFailure: ago(3 * time.Hour), LastError: "batch 20260314T0655: 3 records set aside", Invocations: 40311},
				{Name: "reconcile", LastSuccess: ago(48 * time.Minute), LastFailure: ago(2 * time.Minute), LastError: "apim-prod: 412 Precondition Failed", Invocations: 2210},
				{Name: "expire", LastSuccess: ago(4*time.Minute + 30*time.Second), Invocations: 8650},
				{Name: "api"},
			},
			Targets: []flow.TargetHealth{
				{Target: rg + "/providers/Microsoft.Network/frontdoorWebApplicationFirewallPolicies/fdwafprod", LastReconcile: ago(2 * time.Minute), InSync: true},
				{Target: rg + "/providers/Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies/agw-waf-eu", LastReconcile: ago(2 * time.Minute),
					LastFailure: ago(26 * time.Hour), LastError: "429 Too Many Requests", InSync: true},
				{Target: apim, LastReconcile: ago(48 * time.Minute), LastFailure: ago(2 * time.Minute),
					LastError: "412 Precondition Failed: the policy changed meanwhile", DiffersSince: ago(48 * time.Minute)},
			},
			SetAside24h: 3, PendingApprovals: 2,
			DeadLetters: map[string]int64{"alerts": 0, "ingest": 2},
		},
	}
}

// quietConsole is a healthy day with nothing to show: every empty state.
func quietConsole() Console {
	return Console{Now: consoleNow, Base: "/api/v1", Health: flow.Health{
		Status: "healthy", Checked: consoleNow.Add(-20 * time.Second),
		Functions: []flow.FunctionHealth{{Name: "alerts", LastSuccess: consoleNow.Add(-3 * time.Hour), Invocations: 12}},
		Targets:   []flow.TargetHealth{{Target: "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/rg-edge/providers/Microsoft.Network/frontdoorWebApplicationFirewallPolicies/fdwafprod", LastReconcile: consoleNow.Add(-time.Minute), InSync: true}},
	}}
}

// consoleSamples are the pages under docs/console: the screenshots' input, kept equal
// to what the template draws (go test -run TestConsoleSamples -update-console rewrites
// them; make console-shots does that and shoots them).
var consoleSamples = map[string]func() Console{
	"sample.html": sampleConsole,
	"quiet.html":  quietConsole,
}

func TestConsoleSamples(t *testing.T) {
	for name, c := range consoleSamples {
		var buf bytes.Buffer
		if err := RenderConsole(&buf, c()); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "..", "docs", "console", name)
		if *updateConsole {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (make console-shots writes it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s is not what the template draws now: run make console-shots", path)
		}
	}
}
