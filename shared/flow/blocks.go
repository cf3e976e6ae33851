package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Block is a desired block as operators see it.
type Block struct {
	// ID names the block in the control API: "<action>:<target>".
	ID       string         `json:"id"`
	Action   vocab.Action   `json:"action"`
	Kind     vocab.KeyType  `json:"kind"`
	Target   string         `json:"target"`
	Reason   string         `json:"reason"`
	Severity vocab.Severity `json:"severity,omitempty"`
	// Source is the incident that created or last extended it, or "operator:<who>".
	Source    string     `json:"source"`
	Mode      vocab.Mode `json:"mode"`
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
	Expires   time.Time  `json:"expires"`
	Offences  int        `json:"offences"`
	Forwarded bool       `json:"forwarded,omitempty"`
}

// BlockID names the block of action on target.
func BlockID(action vocab.Action, target string) string { return string(action) + ":" + target }

func blockOf(b record.Block) Block {
	return Block{
		ID: BlockID(vocab.Action(b.Action), b.Target), Action: vocab.Action(b.Action), Kind: vocab.KeyType(b.TargetKind),
		Target: b.Target, Reason: b.Reason, Severity: vocab.Severity(b.Severity), Source: b.SourceIncident,
		Mode: vocab.Mode(b.Mode), Created: b.Created, Updated: b.Updated, Expires: b.Expires, Offences: b.Offences,
		Forwarded: b.Forwarded,
	}
}

// parseBlockID reads "<action>:<target>".
func parseBlockID(id string) (vocab.Action, string, error) {
	a, target, ok := strings.Cut(id, ":")
	action, known := vocab.ParseAction(a, vocab.EnforcingActions())
	if !ok || !known || target == "" {
		return "", "", fault.Invalid("id", "%q is not a block id (<action>:<target>, action one of %v)", id, vocab.EnforcingActions())
	}
	return action, target, nil
}

// BlockFilter selects desired blocks; empty fields select all.
type BlockFilter struct {
	Action vocab.Action
	Target string
	Source string // an incident id, or "operator" for every operator's block
	Mode   vocab.Mode
}

// Blocks lists the desired blocks that pass f, by action then target.
func (a *App) Blocks(ctx context.Context, f BlockFilter) ([]Block, error) {
	actions := vocab.EnforcingActions()
	if f.Action != "" {
		actions = []vocab.Action{f.Action}
	}
	var out []Block
	for _, action := range actions {
		bs, err := a.store.ListBlocks(ctx, string(action))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", action, err)
		}
		for _, b := range bs {
			v := blockOf(b)
			if (f.Target == "" || v.Target == f.Target) && (f.Mode == "" || v.Mode == f.Mode) && sourceMatches(v.Source, f.Source) {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func sourceMatches(source, want string) bool {
	if want == "operator" {
		return strings.HasPrefix(source, operatorSource)
	}
	return want == "" || source == want
}

// operatorSource starts the source of a block an operator made or changed.
const operatorSource = "operator:"

// Block returns one desired block by id.
func (a *App) Block(ctx context.Context, id string) (Block, error) {
	b, err := a.blockByID(ctx, id)
	if err != nil {
		return Block{}, err
	}
	return blockOf(b), nil
}

// blockByID reads the desired block an id names, or a not-found rejection.
func (a *App) blockByID(ctx context.Context, id string) (record.Block, error) {
	action, target, err := parseBlockID(id)
	if err != nil {
		return record.Block{}, err
	}
	b, found, err := a.store.GetBlock(ctx, string(action), target)
	if err != nil {
		return record.Block{}, err
	}
	if !found {
		return record.Block{}, fault.NotFound("no desired block %s", id)
	}
	return b, nil
}

// BlockRequest is an operator's block or throttle.
type BlockRequest struct {
	// Target is an address, a CIDR, or an identity (with Kind subscription or user).
	Target string        `json:"target"`
	Kind   vocab.KeyType `json:"kind,omitempty"`
	Action vocab.Action  `json:"action"`
	// Duration is how long, e.g. "4h" or "7d"; at most APIGUARD_MAX_DURATION.
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// maxReason bounds the reasons operators give: they are stored and shown in lists.
const maxReason = 500

// CreateBlock puts an operator's block or throttle in the desired state, through the
// same guard as alerts: protected and allow-listed addresses are refused with the
// reason. It runs in the configured mode of the action, except that approve mode
// enforces at once: the operator asking is the approval.
func (a *App) CreateBlock(ctx context.Context, log zerolog.Logger, actor string, req BlockRequest) (Block, error) {
	target, kind, err := a.checkTarget(ctx, req.Target, req.Kind, req.Action)
	if err != nil {
		return Block{}, err
	}
	dur, err := a.duration("duration", req.Duration)
	if err != nil {
		return Block{}, err
	}
	reason, err := checkReason(req.Reason)
	if err != nil {
		return Block{}, err
	}
	mode := a.cfg.ModeFor(req.Action)
	if mode == vocab.Approve {
		mode = vocab.Enforce
	}
	now := a.now().UTC().Truncate(time.Second)
	expires := now.Add(dur)
	var before *record.Block
	b, wrote, err := a.store.MergeBlock(ctx, string(req.Action), target, func(cur *record.Block) (*record.Block, error) {
		next := record.Block{
			Action: string(req.Action), TargetKind: string(kind), Target: target, Reason: reason,
			Severity: string(vocab.SeverityHigh), SourceIncident: operatorSource + actor, Created: now, Updated: now,
			Expires: expires, Mode: string(mode),
		}
		before = nil
		if cur != nil {
			c := *cur
			before = &c
			next.Created, next.Offences, next.Forwarded = cur.Created, cur.Offences, cur.Forwarded
			if cur.Expires.After(next.Expires) {
				next.Expires = cur.Expires // an operator's block never shortens one in force
			}
		}
		return &next, nil
	})
	if err != nil {
		return Block{}, fmt.Errorf("keep %s of %s: %w", req.Action, target, err)
	}
	if wrote {
		if err := a.auditBlock(ctx, "block.created", actor, before, &b, now); err != nil {
			return Block{}, err
		}
		if err := a.requestReconcile(ctx, []vocab.Action{req.Action}, "operator "+actor); err != nil {
			return Block{}, err
		}
		a.announceChange(notify.TypeBlockCreated, b, "by "+actor+": "+reason)
	}
	log.Info().Str("actor", actor).Str("block", BlockID(req.Action, target)).Time("expires", b.Expires).Msg("operator block")
	return blockOf(b), nil
}

// RemoveBlock takes a desired block out now; the targets that hold it reconcile.
func (a *App) RemoveBlock(ctx context.Context, log zerolog.Logger, actor, id string) (Block, error) {
	b, err := a.blockByID(ctx, id)
	if err != nil {
		return Block{}, err
	}
	if err := a.removeBlock(ctx, actor, b); err != nil {
		return Block{}, err
	}
	log.Info().Str("actor", actor).Str("block", id).Msg("operator removed a block")
	return blockOf(b), nil
}

// removeBlock deletes b (If-Match its ETag: a block changed since it was read is not
// removed blindly), audits it and asks its targets to reconcile.
func (a *App) removeBlock(ctx context.Context, actor string, b record.Block) error {
	now := a.now().UTC()
	if err := a.store.DeleteBlock(ctx, b); err != nil {
		if errors.Is(err, record.ErrConflict) {
			return fault.Conflict("block %s changed while it was being removed: read it again", BlockID(vocab.Action(b.Action), b.Target))
		}
		return fmt.Errorf("remove %s of %s: %w", b.Action, b.Target, err)
	}
	if err := a.auditBlock(ctx, "block.removed", actor, &b, nil, now); err != nil {
		return err
	}
	if err := a.requestReconcile(ctx, []vocab.Action{vocab.Action(b.Action)}, "operator "+actor); err != nil {
		return err
	}
	a.announceChange(notify.TypeBlockRemoved, b, "removed by "+actor)
	return nil
}

// ExtendRequest lengthens a block.
type ExtendRequest struct {
	// Duration is added to the block's expiry, e.g. "4h"; the result is at most
	// APIGUARD_MAX_DURATION from now.
	Duration string `json:"duration"`
}

// ExtendBlock adds a duration to a desired block's expiry.
func (a *App) ExtendBlock(ctx context.Context, log zerolog.Logger, actor, id string, req ExtendRequest) (Block, error) {
	action, target, err := parseBlockID(id)
	if err != nil {
		return Block{}, err
	}
	dur, err := a.duration("duration", req.Duration)
	if err != nil {
		return Block{}, err
	}
	now := a.now().UTC().Truncate(time.Second)
	var before *record.Block
	b, wrote, err := a.store.MergeBlock(ctx, string(action), target, func(cur *record.Block) (*record.Block, error) {
		if cur == nil {
			return nil, fault.NotFound("no desired block %s", id)
		}
		c := *cur
		before = &c
		next := *cur
		base := cur.Expires
		if base.Before(now) {
			base = now
		}
		next.Expires = base.Add(dur)
		if limit := now.Add(a.cfg.MaxDuration); next.Expires.After(limit) {
			next.Expires = limit
		}
		next.Updated, next.SourceIncident = now, operatorSource+actor
		if !next.Expires.After(cur.Expires) {
			return nil, nil // already at the cap
		}
		return &next, nil
	})
	if err != nil {
		return Block{}, err
	}
	if wrote {
		if err := a.auditBlock(ctx, "block.extended", actor, before, &b, now); err != nil {
			return Block{}, err
		}
		if err := a.requestReconcile(ctx, []vocab.Action{action}, "operator "+actor); err != nil {
			return Block{}, err
		}
		a.announceChange(notify.TypeBlockExtended, b, "extended by "+actor)
	}
	log.Info().Str("actor", actor).Str("block", id).Time("expires", b.Expires).Msg("operator extended a block")
	return blockOf(b), nil
}

func (a *App) auditBlock(ctx context.Context, kind, actor string, before, after *record.Block, now time.Time) error {
	subject := before
	if after != nil {
		subject = after
	}
	detail, _ := json.Marshal(map[string]any{"before": viewOrNil(before), "after": viewOrNil(after)})
	ev := record.AuditEvent{
		Time: now, ID: fmt.Sprintf("%s-%s-%s-%d", kind, subject.Action, subject.Target, now.UnixNano()), Kind: kind,
		Subject: subject.Action + ":" + subject.Target, Actor: operatorSource + actor, Detail: detail,
	}
	if err := a.store.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
		return fmt.Errorf("audit %s: %w", kind, err)
	}
	return nil
}

func viewOrNil(b *record.Block) any {
	if b == nil {
		return nil
	}
	return blockView(*b)
}

// checkTarget reads an operator's target: an address or CIDR (kind ip or cidr,
// inferred), or an identity (kind subscription or user, which only a throttle can
// hold). Addresses go through the guard with the allow-list.
func (a *App) checkTarget(ctx context.Context, target string, kind vocab.KeyType, action vocab.Action) (string, vocab.KeyType, error) {
	if !action.Enforcing() {
		return "", "", fault.Invalid("action", "%q is not one of %v", action, vocab.EnforcingActions())
	}
	target = strings.TrimSpace(target)
	if target == "" || len(target) > 256 {
		return "", "", fault.Invalid("target", "give an address, a CIDR or an identity of at most 256 characters")
	}
	switch kind {
	case vocab.KeySubscription, vocab.KeyUser:
		if action != vocab.Throttle {
			return "", "", fault.Invalid("action", "a %s is throttled at the gateway, never blocked: use throttle", kind)
		}
		if strings.ContainsFunc(target, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", "", fault.Invalid("target", "an identity holds no control characters")
		}
		return target, kind, nil
	case "", vocab.KeyIP, "cidr":
	default:
		return "", "", fault.Invalid("kind", "%q is not ip, cidr, subscription or user", kind)
	}
	p, err := cidr.Parse(target)
	if err != nil {
		return "", "", fault.Invalid("target", "%v", err)
	}
	if q, err := netip.ParsePrefix(target); err == nil && q.Addr() != q.Masked().Addr() {
		return "", "", fault.Invalid("target", "%q has host bits set: did you mean %s?", target, p)
	}
	text, k := p.String(), vocab.KeyType("cidr")
	if p.IsSingleIP() {
		text, k = p.Addr().String(), vocab.KeyIP
	}
	guard, err := a.guard(ctx)
	if err != nil {
		return "", "", err
	}
	if why := guard.WhyPrefix(p); why != "" {
		return "", "", &fault.Error{Disposition: fault.Reject, Status: 422, Field: "target",
			Err: fmt.Errorf("%s is never blocked: %s", text, why)}
	}
	if kind != "" && kind != k {
		return "", "", fault.Invalid("kind", "%q is a %s, not a %s", target, k, kind)
	}
	if k == "cidr" && action == vocab.Throttle {
		return "", "", fault.Invalid("target", "a throttle is per client: give one address, not a range")
	}
	return text, k, nil
}

// duration reads an operator's duration: positive, at most APIGUARD_MAX_DURATION.
func (a *App) duration(field, s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, fault.Invalid(field, "%q is not a duration of at least 1m (e.g. 30m, 4h, 7d)", s)
	}
	if d > a.cfg.MaxDuration {
		return 0, fault.Invalid(field, "%s is longer than APIGUARD_MAX_DURATION (%s)", d, a.cfg.MaxDuration)
	}
	return d.Round(time.Second), nil
}

func checkReason(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fault.Invalid("reason", "say why: the reason is kept with the block and in the audit")
	case len(s) > maxReason:
		return "", fault.Invalid("reason", "is %d bytes: at most %d", len(s), maxReason)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
		return "", fault.Invalid("reason", "holds control characters")
	}
	return s, nil
}
