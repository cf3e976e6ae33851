package triage

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// signalWord says a signal's value in a word: true, false, or unknown when it was not
// known (whatever value the rank assumed).
func signalWord(s Signal) string {
	switch {
	case !s.Known:
		return "unknown"
	case s.Value:
		return "true"
	}
	return "false"
}

// usable returns Defender's collection when its counts can be read: nil when the API is
// not onboarded or its onboarding has not succeeded (still running, failed or cancelled).
func usable(col *Collection) *Collection {
	if col == nil || col.ProvisioningState != "" && !strings.EqualFold(col.ProvisioningState, "Succeeded") {
		return nil
	}
	return col
}

// onboarded reports whether Defender for APIs covers the API or is onboarding it.
func onboarded(col *Collection) bool {
	return col != nil && !strings.EqualFold(col.ProvisioningState, "Failed") && !strings.EqualFold(col.ProvisioningState, "Canceled")
}

// observed reports whether Defender saw any traffic to the API in 30 days: only then do
// its zero counts (no internet traffic, no sensitive data) say anything.
func observed(col *Collection) bool {
	return col != nil && col.Endpoints > 0 && col.Inactive < col.Endpoints
}

// external decides whether the API is exposed to the internet.
//
// Defender's observation decides when it has one: internet traffic on an endpoint in 30
// days is external; traffic, none of it from the internet, is not. Without it (not
// onboarded, or no traffic to judge by) the service's network mode is the inference:
// None (no VNet) and External (VNet with a public endpoint) are reachable from the
// internet, Internal is not. Neither known: external, the cautious side.
func external(svc *Service, api *API) (Signal, string) {
	s := Signal{Name: SignalExternal}
	col := usable(api.Defender)
	switch {
	case col != nil && col.External > 0:
		s.Value, s.Known = true, true
		s.Source = fmt.Sprintf("Defender: %d of %d endpoints saw internet traffic in 30 days", col.External, col.Endpoints)
		return s, "internet traffic seen by Defender"
	case observed(col):
		s.Value, s.Known = false, true
		s.Source = fmt.Sprintf("Defender: traffic on %d of %d endpoints in 30 days, none of it from the internet", col.Endpoints-col.Inactive, col.Endpoints)
		if reachable(svc.Network) {
			s.Source += fmt.Sprintf(" (the service is reachable from the internet: network %s)", svc.Network)
		}
		return s, "no internet traffic seen by Defender"
	}
	why := "no Defender data for the API"
	if col != nil {
		why = "Defender saw no traffic to the API in 30 days"
	}
	switch {
	case reachable(svc.Network):
		s.Value, s.Known, s.Inferred = true, true, true
		s.Source = fmt.Sprintf("inferred: %s; service %s is reachable from the internet (network %s)", why, svc.Name, svc.Network)
		return s, "reachable from the internet (inferred from network " + svc.Network + ")"
	case strings.EqualFold(svc.Network, "Internal"):
		s.Value, s.Known, s.Inferred = false, true, true
		s.Source = fmt.Sprintf("inferred: %s; service %s is reachable only inside its VNet (network Internal)", why, svc.Name)
		return s, "internal (inferred from network Internal)"
	}
	s.Value, s.Known = true, false
	s.Source = fmt.Sprintf("unknown: %s and the network mode of service %s was not read; taken as external (cautious)", why, svc.Name)
	return s, "exposure unknown (taken as external)"
}

func reachable(network string) bool {
	return strings.EqualFold(network, "None") || strings.EqualFold(network, "External")
}

// sensitive decides whether the API handles sensitive data: Defender found sensitive
// data or a sensitivity label, or a tag of the API is one of the sensitive tags.
// Otherwise it is not sensitive: known when Defender saw traffic and found none,
// inferred from the tags alone when Defender could not tell.
func sensitive(api *API, tags map[string]bool) (Signal, string) {
	s := Signal{Name: SignalSensitive}
	col := usable(api.Defender)
	var why, phrase []string
	if col != nil && col.SensitiveData > 0 {
		why = append(why, fmt.Sprintf("Defender: %d of %d endpoints expose sensitive data", col.SensitiveData, col.Endpoints))
		phrase = append(phrase, "sensitive data seen by Defender")
	}
	if col != nil && col.SensitivityLabel != "" {
		why = append(why, fmt.Sprintf("Defender: sensitivity label %q", col.SensitivityLabel))
		phrase = append(phrase, "labelled "+col.SensitivityLabel)
	}
	var tagged []string
	for _, t := range api.Tags {
		if tags[strings.ToLower(strings.TrimSpace(t))] && !slices.Contains(tagged, t) {
			tagged = append(tagged, t)
		}
	}
	if len(tagged) > 0 {
		why = append(why, fmt.Sprintf("%s %s, listed as sensitive", plural(len(tagged), "tag", "tags"), strings.Join(tagged, ", ")))
		phrase = append(phrase, "tagged "+strings.Join(tagged, ", "))
	}
	if len(why) > 0 {
		s.Value, s.Known = true, true
		s.Source = strings.Join(why, "; ")
		return s, strings.Join(phrase, ", ")
	}
	s.Known = true
	if observed(col) {
		s.Source = "Defender: no sensitive data on any endpoint in 30 days, and no sensitive tag"
		return s, "no sensitive data seen by Defender"
	}
	s.Inferred = true
	s.Source = "inferred: no Defender data on sensitive data, and no tag of the API is listed as sensitive"
	return s, "no sensitive data known"
}

const (
	day        = 24 * time.Hour
	idleShort  = 30 * day // what Defender knows
	idleProven = 90 * day // the table's "inactive for more than 90 days"
)

// idleness is the inactive signal with the candidate mark.
type idleness struct {
	sig          Signal
	phrase       string
	decommission bool
	candidate    bool
}

// inactive decides whether the API has been idle for 90 days, on two kinds of evidence:
//
//   - apiguard's own sightings (API and operation LastSeen) since inv.WatchingSince: they
//     prove "no traffic for N days" for N up to the evidence's span;
//   - Defender's 30 days: every endpoint inactive (collection counts), or the unused
//     assessment Unhealthy for every operation; any active endpoint, or a Healthy unused
//     assessment, is traffic.
//
// Decommission needs apiguard's evidence to span 90 days with no sighting in them, and
// Defender, where it has data, to agree the API is idle. Idle for 30 days by either
// source without that proof (evidence shorter than 90 days, or idle for 30 to 90 days)
// makes a candidate, ranked by the other rules. A sighting, by either, within 30 days
// means the API is in use.
func inactive(api *API, collected, watching time.Time) idleness {
	s := Signal{Name: SignalInactive}
	var parts []string

	var last time.Time
	if !api.LastSeen.IsZero() {
		last = api.LastSeen
	}
	for i := range api.Operations {
		if t := api.Operations[i].LastSeen; t.After(last) {
			last = t
		}
	}
	// proven is how long apiguard knows there was no traffic; recent is a sighting
	// within 30 days.
	var proven time.Duration
	recent, within90 := false, false
	if !last.IsZero() {
		ago := max(collected.Sub(last), 0)
		recent, within90 = ago < idleShort, ago < idleProven
		parts = append(parts, fmt.Sprintf("apiguard last saw traffic on %s (%s ago)", last.UTC().Format(time.DateOnly), days(ago)))
		if !watching.IsZero() && watching.Before(collected) {
			proven = min(ago, collected.Sub(watching))
		}
	}
	switch {
	case watching.IsZero() || !watching.Before(collected):
		parts = append(parts, "apiguard has no traffic evidence of its own")
	case last.IsZero():
		proven = collected.Sub(watching)
		parts = append(parts, fmt.Sprintf("apiguard has seen no traffic since it started watching on %s (%s)", watching.UTC().Format(time.DateOnly), days(proven)))
	default:
		parts = append(parts, "its evidence spans "+days(collected.Sub(watching)))
	}

	defIdle, defActive, def := defenderIdle(api)
	if def != "" {
		parts = append(parts, def)
	} else {
		parts = append(parts, "no Defender data on activity")
	}

	var idle idleness
	switch {
	case proven >= idleProven && !defActive:
		idle.decommission = true
		s.Value, s.Known = true, true
		idle.phrase = "no traffic for " + days(proven)
		if defIdle {
			idle.phrase += ", which Defender confirms for its 30 days"
		}
	case recent || defActive:
		s.Known = true
		idle.phrase = "in use"
		if defActive && proven >= idleShort {
			parts = append(parts, "apiguard saw none for 30 days but Defender did: in use")
		}
	case proven >= idleShort || defIdle:
		// Traffic within 90 days is proof enough that it is not idle for 90.
		s.Known = within90
		idle.candidate = true
		idle.phrase = "idle for 30 days or more, a decommission candidate (90 days not proven)"
		parts = append(parts, "idle for 30 days or more without 90 days of proof: a decommission candidate")
	case within90:
		s.Known = true
		idle.phrase = "traffic within 90 days"
	default:
		idle.phrase = "activity unknown"
		parts = append(parts, "not enough evidence either way: not ranked inactive")
	}
	s.Source = strings.Join(parts, "; ")
	idle.sig = s
	return idle
}

// days says d in whole days.
func days(d time.Duration) string {
	n := int64(d / day)
	return fmt.Sprintf("%d %s", n, plural(int(n), "day", "days"))
}

// defenderIdle reads Defender's 30 days: idle when every endpoint was inactive (or the
// unused assessment is Unhealthy for every operation), active when any endpoint had
// traffic (or one unused assessment is Healthy), neither without data.
func defenderIdle(api *API) (idle, active bool, source string) {
	if col := usable(api.Defender); col != nil && col.Endpoints > 0 {
		if col.Inactive >= col.Endpoints {
			return true, false, fmt.Sprintf("Defender: all %d endpoints inactive for 30 days", col.Endpoints)
		}
		return false, true, fmt.Sprintf("Defender: %d of %d endpoints had traffic in 30 days", col.Endpoints-col.Inactive, col.Endpoints)
	}
	if len(api.Operations) == 0 {
		return false, false, ""
	}
	status := make([]string, len(api.Operations))
	for _, a := range api.Assessments {
		if a.Key != AssessmentUnused {
			continue
		}
		if i := operationIndex(api, a.Operation); i >= 0 {
			status[i] = a.Status
		}
	}
	unhealthy := 0
	for i, st := range status {
		switch {
		case strings.EqualFold(st, "Healthy"):
			return false, true, fmt.Sprintf("Defender: the unused-endpoint assessment is Healthy for operation %s (traffic in 30 days)", api.Operations[i].Name)
		case strings.EqualFold(st, "Unhealthy"):
			unhealthy++
		}
	}
	if unhealthy == len(api.Operations) {
		return true, false, fmt.Sprintf("Defender: the unused-endpoint assessment is Unhealthy for all %d operations (no traffic in 30 days)", unhealthy)
	}
	return false, false, ""
}

// operationIndex finds the operation of api that the resource id names
// ("{api id}/operations/{name}", compared case-insensitively as ARM ids are); -1 if none.
func operationIndex(api *API, id string) int {
	const seg = "/operations/"
	k := len(id) - len(seg)
	for ; k >= 0; k-- {
		if strings.EqualFold(id[k:k+len(seg)], seg) {
			break
		}
	}
	if k < 0 || api.ID != "" && !strings.EqualFold(id[:k], api.ID) {
		return -1
	}
	name := id[k+len(seg):]
	for i := range api.Operations {
		if strings.EqualFold(api.Operations[i].Name, name) {
			return i
		}
	}
	return -1
}
