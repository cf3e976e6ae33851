package respond

import (
	"context"
	"encoding/json"
	"net/netip"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/alert"
	"github.com/apiguard/apiguard/shared/detect"
)

// Finding decides and records one traffic finding like an alert: the same playbook
// (alert type "apiguard.<detector>"), protected ranges, escalation, cap and audit. The
// finding's id is deterministic per detector, key and window, so the same finding
// seen again by a later batch is a duplicate and changes nothing.
func (s *Service) Finding(ctx context.Context, log zerolog.Logger, f detect.Finding) (Outcome, error) {
	return s.Alert(ctx, log, IncidentOf(f))
}

// IncidentOf turns a finding into the incident the decision engine reads.
func IncidentOf(f detect.Finding) alert.Incident {
	raw, _ := json.Marshal(f) // a struct of plain fields: cannot fail
	inc := alert.Incident{
		ID:          "fnd-" + f.ID,
		AlertType:   "apiguard." + f.Detector,
		DisplayName: f.Reason,
		Severity:    alert.Severity(f.Severity),
		ProductName: "apiguard traffic detection",
		StartTime:   f.WindowStart.UTC(),
		EndTime:     f.WindowEnd.UTC(),
		Addresses:   []alert.Address{},
		Confidence:  f.Confidence,
		Shape:       "finding",
		Raw:         raw,
	}
	switch f.KeyType {
	case detect.KeyType("ip"):
		if a, err := netip.ParseAddr(f.Key); err == nil {
			inc.Addresses = append(inc.Addresses, alert.Address{IP: a.Unmap(), Source: "detector"})
		}
	case detect.KeyType("subscription"), detect.KeyType("user"):
		inc.Identities = []alert.Identity{{Kind: string(f.KeyType), Value: f.Key}}
	}
	return inc
}
