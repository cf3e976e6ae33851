package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Allowlist lists the allow-list: APIGUARD_ALLOW_CIDRS (configured, read-only here)
// and the entries operators added that have not expired.
func (a *App) Allowlist(ctx context.Context) ([]AllowEntry, error) {
	out := make([]AllowEntry, 0, len(a.cfg.AllowList))
	for _, p := range a.cfg.AllowList {
		out = append(out, AllowEntry{Prefix: p.String(), Reason: "APIGUARD_ALLOW_CIDRS", Actor: "settings", Configured: true})
	}
	all, err := a.store.ListAllow(ctx)
	if err != nil {
		return nil, fmt.Errorf("allow-list: %w", err)
	}
	now := a.now()
	for _, e := range all {
		if e.Expires.IsZero() || e.Expires.After(now) {
			out = append(out, AllowEntry{Prefix: e.Prefix, Reason: e.Reason, Actor: e.Actor, Created: e.Created, Expires: e.Expires})
		}
	}
	return out, nil
}

// guard is the guard of this moment: the protected ranges, APIGUARD_ALLOW_CIDRS and
// the operators' live allow-list entries.
func (a *App) guard(ctx context.Context) (*decide.Guard, error) {
	extra, err := history{a.store, a.now}.Allowed(ctx)
	if err != nil {
		return nil, err
	}
	return decide.NewGuard(a.cfg.AllowList).With(extra), nil
}

// AddAllow allow-lists an address or CIDR. A current block it covers is reverted:
// taken out of the desired state, its offence no longer counted.
func (a *App) AddAllow(ctx context.Context, log zerolog.Logger, actor string, req AllowRequest) (AllowEntry, error) {
	p, err := cidr.Parse(req.Target)
	if err != nil {
		return AllowEntry{}, fault.Invalid("target", "%v", err)
	}
	reason, err := checkReason(req.Reason)
	if err != nil {
		return AllowEntry{}, err
	}
	now := a.now().UTC().Truncate(time.Second)
	e := record.AllowEntry{Prefix: p.String(), Reason: reason, Actor: actor, Created: now}
	if req.Duration != "" {
		d, err := a.duration("duration", req.Duration)
		if err != nil {
			return AllowEntry{}, err
		}
		e.Expires = now.Add(d)
	}
	if err := a.store.PutAllow(ctx, e); err != nil {
		return AllowEntry{}, err
	}
	detail, _ := json.Marshal(e)
	if err := a.store.AppendAudit(ctx, []record.AuditEvent{{Time: now, ID: "allow-" + e.Prefix + "-" + now.Format(time.RFC3339),
		Kind: "allow.added", Subject: e.Prefix, Actor: operatorSource + actor, Detail: detail}}); err != nil {
		return AllowEntry{}, err
	}
	reverted, err := a.revertCovered(ctx, actor, p)
	if err != nil {
		return AllowEntry{}, err
	}
	log.Info().Str("actor", actor).Str("prefix", e.Prefix).Int("blocks_reverted", reverted).Msg("allow-list entry added")
	return AllowEntry{Prefix: e.Prefix, Reason: e.Reason, Actor: e.Actor, Created: e.Created, Expires: e.Expires}, nil
}

// revertCovered reverts every desired block of an address or CIDR inside p.
func (a *App) revertCovered(ctx context.Context, actor string, p netip.Prefix) (int, error) {
	n := 0
	for _, action := range vocab.EnforcingActions() {
		blocks, err := a.store.ListBlocks(ctx, string(action))
		if err != nil {
			return n, err
		}
		for _, b := range blocks {
			bp, err := cidr.Parse(b.Target)
			if err != nil || !p.Overlaps(bp) {
				continue // an identity, or outside the entry
			}
			if err := a.removeBlock(ctx, actor, b); err != nil {
				return n, err
			}
			if _, err := a.store.RevertOffences(ctx, b.Target, b.SourceIncident); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// RemoveAllow takes an operator's entry off the allow-list.
func (a *App) RemoveAllow(ctx context.Context, log zerolog.Logger, actor, prefix string) error {
	p, err := cidr.Parse(prefix)
	if err != nil {
		return fault.Invalid("prefix", "%v", err)
	}
	found, err := a.store.DeleteAllow(ctx, p.String())
	if err != nil {
		return err
	}
	if !found {
		return fault.NotFound("no allow-list entry %s (entries of APIGUARD_ALLOW_CIDRS are changed in the settings)", p)
	}
	now := a.now().UTC()
	if err := a.store.AppendAudit(ctx, []record.AuditEvent{{Time: now, ID: "allow-removed-" + p.String() + "-" + now.Format(time.RFC3339Nano),
		Kind: "allow.removed", Subject: p.String(), Actor: operatorSource + actor}}); err != nil {
		return err
	}
	log.Info().Str("actor", actor).Str("prefix", p.String()).Msg("allow-list entry removed")
	return nil
}
