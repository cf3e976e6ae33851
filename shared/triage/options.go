package triage

import (
	"strings"
	"time"
)

// Options tune the classification; the zero value takes every default.
type Options struct {
	// SensitiveTags are the API tags that mark an API as handling sensitive data
	// (APIGUARD_TRIAGE_SENSITIVE_TAGS), compared case-insensitively.
	SensitiveTags []string
	// Month names the run, "2026-12"; default: the month of Inventory.Collected (UTC).
	Month string
	// ThrottleCalls per ThrottlePeriod seconds is the rate-limit-by-key baseline the
	// rate-limit recommendation proposes (APIGUARD_THROTTLE_CALLS and _PERIOD); defaults
	// 60 and 60, the period at most 300 (APIM's limit).
	ThrottleCalls  int
	ThrottlePeriod int
	// BatchSize is how many APIs one onboarding batch holds; default 5.
	BatchSize int
	// MaxCapacity is the gateway load (percent) at or above which onboarding waits
	// (APIGUARD_TRIAGE_MAX_CAPACITY); default 60.
	MaxCapacity float64
	// OwnFragments are the policy fragments apiguard owns: an include of one of them is
	// known to hold no validation. An include of any other fragment may (the inventory
	// does not hold fragments), so where one could decide authentication, it is unknown.
	OwnFragments []string
}

// Defaults.
const (
	DefaultThrottleCalls  = 60
	DefaultThrottlePeriod = 60
	DefaultBatchSize      = 5
	DefaultMaxCapacity    = 60
	maxThrottlePeriod     = 300
)

// withDefaults returns o with every unset or out-of-range field at its default.
// Classify never fails: configuration is validated where it is read (shared/config).
func (o Options) withDefaults(collected time.Time) Options {
	if o.Month == "" {
		o.Month = collected.UTC().Format("2006-01")
	}
	if o.ThrottleCalls < 1 {
		o.ThrottleCalls = DefaultThrottleCalls
	}
	if o.ThrottlePeriod < 1 {
		o.ThrottlePeriod = DefaultThrottlePeriod
	}
	o.ThrottlePeriod = min(o.ThrottlePeriod, maxThrottlePeriod)
	if o.BatchSize < 1 {
		o.BatchSize = DefaultBatchSize
	}
	if !(o.MaxCapacity > 0) {
		o.MaxCapacity = DefaultMaxCapacity
	}
	return o
}

// lowerSet returns the non-empty words of list, trimmed and lower-cased, as a set.
func lowerSet(list []string) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, w := range list {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			set[w] = true
		}
	}
	return set
}
