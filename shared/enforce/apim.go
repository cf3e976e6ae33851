package enforce

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/apim/fragment"
	"github.com/apiguard/apiguard/shared/apim/include"
	"github.com/apiguard/apiguard/shared/cidr"
	"github.com/apiguard/apiguard/shared/decide"
	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
	"github.com/apiguard/apiguard/shared/vocab"
)

// APIMScope is one policy document that includes the owned fragment.
type APIMScope struct {
	Name    string // "global", "products/P", "apis/A", "apis/A/operations/O"
	Backend Backend
}

// APIMReconciler brings one API Management service to the desired state: the owned
// fragment holds the desired blocks and throttles, and each configured scope's policy
// includes it exactly once. The fragment is written first, because APIM refuses a
// policy that includes a fragment that does not exist.
type APIMReconciler struct {
	Key        string // the target's name in audit and logs
	FragmentID string
	// Actions lists the decision actions enforced here (block_apim, throttle, block_waf).
	Actions []vocab.Action
	Options fragment.Options
	// Calls and Period are every throttle's limit (APIGUARD_THROTTLE_CALLS / _PERIOD).
	Calls, Period int
	// Service is the APIM service's name: an endpoint throttle names its API by resource
	// id, and only the APIs of this service are throttled here. "" (a local directory)
	// takes every API.
	Service  string
	Fragment Backend
	Scopes   []APIMScope
	Desired  Desired
	Audit    Auditor
	Now      func() time.Time
	// Guard refuses protected addresses again at this enforcement point.
	Guard *decide.Guard
	// Sleep, MaxAttempts and MaxWait tune retries (see retrier).
	Sleep       func(ctx context.Context, d time.Duration) error
	MaxAttempts int
	MaxWait     time.Duration
}

// APIMResult is what one reconcile of an APIM target did.
type APIMResult struct {
	Target    string               `json:"target"`
	Wrote     bool                 `json:"wrote"` // the fragment or any scope's policy
	Fragment  bool                 `json:"fragment_written"`
	Attempts  int                  `json:"attempts"`
	Size      int                  `json:"fragment_bytes"`
	Blocks    int                  `json:"blocks"`
	Forwarded int                  `json:"forwarded_blocks"`
	Throttles int                  `json:"throttles"`
	Evicted   []fragment.Eviction  `json:"evicted,omitempty"`
	Skipped   []fragment.Skip      `json:"skipped,omitempty"`
	Included  []string             `json:"include_added,omitempty"` // scopes whose policy got the include now
	Refused   map[string]string    `json:"include_refused,omitempty"`
	ETag      string               `json:"etag,omitempty"`
	Scopes    map[string]ScopeNote `json:"scopes,omitempty"`
}

// ScopeNote is the state of one scope after the reconcile.
type ScopeNote struct {
	Created bool   `json:"created,omitempty"` // the scope had no policy: a minimal one was written
	ETag    string `json:"etag,omitempty"`
}

// Reconcile converges the fragment, then each scope's include. A scope whose policy
// cannot take the include (no <inbound>, unreadable) is refused with its reason and
// does not stop the others; the error returned then is a rejection, so the request is
// not retried forever. Transient faults are returned as such and win over rejections.
func (r *APIMReconciler) Reconcile(ctx context.Context, log zerolog.Logger) (APIMResult, error) {
	res := APIMResult{Target: r.Key}
	var (
		rendered fragment.Result
		inputs   []string
	)
	name := r.Key + " fragment " + r.FragmentID
	w, err := retrier{r.Sleep, r.MaxAttempts, r.MaxWait}.converge(ctx, log, name, r.Fragment, func(ctx context.Context, cur Policy) ([]byte, bool, error) {
		blocks, throttles, skipped, err := r.desired(ctx, log)
		if err != nil {
			return nil, false, err
		}
		opts := r.Options
		opts.Now = r.Now()
		if r.Guard != nil { // the renderer checks again, last, before bytes are written
			opts.Guard = r.Guard
		}
		rendered, err = fragment.Render(blocks, throttles, opts)
		if err != nil {
			return nil, false, err
		}
		rendered.Skipped = append(skipped, rendered.Skipped...)
		inputs = describeInputs(blocks, throttles)
		return rendered.XML, !SameXML(cur.Doc, rendered.XML), nil
	}, func(live Policy) (bool, error) {
		return SameXML(live.Doc, rendered.XML), nil
	})
	res.Attempts, res.ETag = w.Attempts, w.After
	res.Size, res.Blocks, res.Forwarded, res.Throttles = rendered.Size, rendered.Blocks, rendered.Forwarded, rendered.Throttles
	res.Evicted, res.Skipped = rendered.Evicted, rendered.Skipped
	if err != nil {
		return res, err
	}
	if w.Wrote {
		res.Wrote, res.Fragment = true, true
		if err := r.auditFragment(ctx, w, rendered, inputs); err != nil {
			return res, err
		}
		log.Info().Str("target", r.Key).Int("bytes", rendered.Size).Int("blocks", rendered.Blocks).
			Int("throttles", rendered.Throttles).Int("evicted", len(rendered.Evicted)).Int("skipped", len(rendered.Skipped)).
			Int("attempt", w.Attempts).Msg("APIM fragment reconciled")
	}

	var transient, refused []error
	for _, sc := range r.Scopes {
		note, wrote, err := r.includeIn(ctx, log, sc)
		if res.Scopes == nil {
			res.Scopes = map[string]ScopeNote{}
		}
		res.Scopes[sc.Name] = note
		switch {
		case err == nil:
			if wrote {
				res.Wrote = true
				res.Included = append(res.Included, sc.Name)
			}
		case fault.Of(err) == fault.Retry:
			transient = append(transient, err)
		default:
			if res.Refused == nil {
				res.Refused = map[string]string{}
			}
			res.Refused[sc.Name] = err.Error()
			refused = append(refused, err)
			log.Error().Err(err).Str("target", r.Key).Str("scope", sc.Name).Msg("APIM policy cannot include the fragment: nothing written there")
		}
	}
	if len(transient) > 0 {
		return res, errors.Join(transient...)
	}
	return res, errors.Join(refused...)
}

// includeIn converges one scope's policy to include the fragment once. A scope with no
// policy gets a minimal one that inherits (<base />) and includes the fragment.
func (r *APIMReconciler) includeIn(ctx context.Context, log zerolog.Logger, sc APIMScope) (ScopeNote, bool, error) {
	var note ScopeNote
	name := r.Key + " policy " + sc.Name
	w, err := retrier{r.Sleep, r.MaxAttempts, r.MaxWait}.converge(ctx, log, name, sc.Backend, func(ctx context.Context, cur Policy) ([]byte, bool, error) {
		note.Created = len(bytes.TrimSpace(cur.Doc)) == 0 && cur.ETag == ""
		if note.Created {
			return DefaultScopePolicy(sc.Name, r.FragmentID), true, nil
		}
		out, changed, err := include.Insert(cur.Doc, r.FragmentID)
		if err != nil {
			return nil, false, fmt.Errorf("scope %s: %w", sc.Name, err)
		}
		return out, changed, nil
	}, func(live Policy) (bool, error) {
		n, err := include.Count(live.Doc, r.FragmentID)
		return n == 1, err
	})
	note.ETag = w.After
	if err != nil || !w.Wrote {
		note.Created = note.Created && w.Wrote
		return note, false, err
	}
	if r.Audit != nil {
		detail, err := json.Marshal(map[string]any{
			"scope": sc.Name, "fragment_id": r.FragmentID, "created": note.Created,
			"etag_before": w.Before, "etag_written": w.Written, "etag_after": w.After,
			"undo": "apiguard apim include --remove removes exactly the inserted element",
		})
		if err != nil {
			return note, true, err
		}
		ev := record.AuditEvent{
			Time: r.Now().UTC(), ID: "apim-include-" + strings.Trim(w.Written, `"`) + "-" + shortKey(r.Key) + "-" + strings.ReplaceAll(sc.Name, "/", "."),
			Kind: "apim.include_added", Subject: r.Key + " " + sc.Name, Actor: "remediate", Detail: detail,
		}
		if err := r.Audit.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
			return note, true, fmt.Errorf("audit include in %s: %w", sc.Name, err)
		}
	}
	log.Info().Str("target", r.Key).Str("scope", sc.Name).Bool("created", note.Created).Msg("APIM policy now includes the fragment")
	return note, true, nil
}

// auditFragment records a fragment write with the documents before and after (at most
// 32 KiB each), so an operator can see, and undo, exactly what changed.
func (r *APIMReconciler) auditFragment(ctx context.Context, w written, res fragment.Result, inputs []string) error {
	if r.Audit == nil {
		return nil
	}
	detail, err := json.Marshal(map[string]any{
		"fragment_id": r.FragmentID, "etag_before": w.Before, "etag_written": w.Written, "etag_after": w.After,
		"bytes": res.Size, "blocks": res.Blocks, "forwarded_blocks": res.Forwarded, "throttles": res.Throttles,
		"expired": res.Expired, "sha256": hashHex(res.XML), "fragment_after": string(res.XML),
		"inputs": inputs[:min(len(inputs), auditCap)], "input_count": len(inputs),
		"evicted": res.Evicted[:min(len(res.Evicted), auditCap)], "evicted_count": len(res.Evicted),
		"skipped": res.Skipped[:min(len(res.Skipped), auditCap)], "skipped_count": len(res.Skipped),
	})
	if err != nil {
		return err
	}
	ev := record.AuditEvent{
		Time: r.Now().UTC(), ID: "apim-fragment-" + strings.Trim(w.Written, `"`) + "-" + shortKey(r.Key),
		Kind: "apim.fragment_written", Subject: r.Key + " " + r.FragmentID, Actor: "remediate", Detail: detail,
	}
	if err := r.Audit.AppendAudit(ctx, []record.AuditEvent{ev}); err != nil {
		return fmt.Errorf("audit fragment of %s: %w", r.Key, err)
	}
	return nil
}

// desired reads the desired state of every enforced action and turns it into fragment
// inputs. What cannot be enforced in a fragment is returned as a skip with its reason.
func (r *APIMReconciler) desired(ctx context.Context, log zerolog.Logger) ([]fragment.Block, []fragment.Throttle, []fragment.Skip, error) {
	now := r.Now()
	var (
		blocks    []fragment.Block
		throttles []fragment.Throttle
		skipped   []fragment.Skip
	)
	for _, action := range r.Actions {
		list, err := r.Desired.ListBlocks(ctx, string(action))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("desired %s: %w", action, err)
		}
		for _, b := range list {
			if vocab.Mode(b.Mode) != vocab.Enforce || !b.Expires.After(now) {
				continue
			}
			what := string(action) + " " + b.Target
			skip := func(reason string) { skipped = append(skipped, fragment.Skip{What: what, Reason: reason}) }
			if action == vocab.Throttle {
				t, reason, mine := r.throttleFor(b)
				switch {
				case !mine:
				case reason != "":
					skip(reason)
				default:
					throttles = append(throttles, t)
				}
				continue
			}
			p, err := cidr.Parse(b.Target)
			if err != nil {
				skip("a block in the fragment needs an address or CIDR, not " + b.TargetKind)
				continue
			}
			if why := r.guardWhy(p); why != "" {
				log.Warn().Str("target", b.Target).Str("reason", why).Msg("desired block of a protected address: never enforced")
				skip("never blocked: " + why)
				continue
			}
			blocks = append(blocks, fragment.Block{Prefix: p, Severity: vocab.Severity(b.Severity).Rank(), Expires: b.Expires, Forwarded: b.Forwarded})
		}
	}
	return blocks, throttles, skipped, nil
}

func (r *APIMReconciler) guardWhy(p netip.Prefix) string {
	if r.Guard == nil {
		return ""
	}
	return r.Guard.WhyPrefix(p)
}

// throttleFor maps a desired throttle to the fragment's: an address is throttled on
// its own, a subscription by its id, a user by its APIM user id, and an API (an
// alert that names no single client) per client, each caller of the API separately.
// mine is false for an API of another service.
func (r *APIMReconciler) throttleFor(b record.Block) (t fragment.Throttle, reason string, mine bool) {
	t = fragment.Throttle{Calls: r.Calls, Period: r.Period, Severity: vocab.Severity(b.Severity).Rank(), Expires: b.Expires}
	switch vocab.KeyType(b.TargetKind) {
	case vocab.KeyIP:
		a, err := netip.ParseAddr(b.Target)
		if err != nil {
			return t, "throttle target is not an IP address", true
		}
		if why := r.guardWhy(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())); why != "" {
			return t, "never throttled: " + why, true
		}
		t.Key, t.Value = fragment.KeyIP, a.Unmap().String()
	case vocab.KeySubscription:
		t.Key, t.Value = fragment.KeySubscription, b.Target
	case vocab.KeyUser:
		t.Key, t.Value = fragment.KeyUser, b.Target
	case vocab.KeyAPI:
		svc, api, ok := apiOf(b.Target)
		if !ok {
			return t, "throttle of an API needs its resource id (.../service/S/apis/A)", true
		}
		if r.Service != "" && svc != "" && !strings.EqualFold(svc, r.Service) {
			return t, "", false
		}
		t.Key, t.API = fragment.KeyIP, api
	default:
		return t, "throttles are per client: a " + b.TargetKind + " target cannot be throttled", true
	}
	return t, "", true
}

// apiOf reads the service and API names from an API's resource id
// (/subscriptions/.../providers/Microsoft.ApiManagement/service/S/apis/A[/operations/O]),
// or takes a bare API name as is.
func apiOf(id string) (service, api string, ok bool) {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	if len(segs) == 1 && segs[0] != "" {
		return "", segs[0], true
	}
	for i := 0; i+1 < len(segs); i++ {
		switch strings.ToLower(segs[i]) {
		case "service":
			service = segs[i+1]
		case "apis":
			if segs[i+1] == "" {
				return "", "", false
			}
			return service, segs[i+1], true
		}
	}
	return "", "", false
}

// describeInputs lists what the fragment was asked to hold, for the audit trail.
func describeInputs(blocks []fragment.Block, throttles []fragment.Throttle) []string {
	out := make([]string, 0, len(blocks)+len(throttles))
	for _, b := range blocks {
		s := "block " + b.Prefix.String()
		if b.Forwarded {
			s += " (forwarded)"
		}
		out = append(out, s)
	}
	for _, t := range throttles {
		s := "throttle " + string(t.Key)
		if t.Claim != "" {
			s += ":" + t.Claim
		}
		if t.Value == "" {
			s += " each client"
		} else {
			s += " " + t.Value
		}
		if t.API != "" {
			s += " api " + t.API
		}
		out = append(out, s+fmt.Sprintf(" %d/%ds", t.Calls, t.Period))
	}
	slices.Sort(out)
	return out
}

// DefaultScopePolicy is the policy written at a scope that has none, with the include
// of fragmentID in place: it inherits the broader scopes (<base />) in every section, so
// nothing else changes. The global scope has no broader scope, so it forwards the
// request instead.
func DefaultScopePolicy(scope, fragmentID string) []byte {
	inc := "\t\t<include-fragment fragment-id=\"" + fragmentID + "\" />\n"
	if scope == "global" {
		return []byte("<policies>\n\t<inbound>\n" + inc + "\t</inbound>\n\t<backend>\n\t\t<forward-request />\n\t</backend>\n\t<outbound />\n\t<on-error />\n</policies>\n")
	}
	return []byte("<policies>\n\t<inbound>\n\t\t<base />\n" + inc + "\t</inbound>\n\t<backend>\n\t\t<base />\n\t</backend>\n\t<outbound>\n\t\t<base />\n\t</outbound>\n\t<on-error>\n\t\t<base />\n\t</on-error>\n</policies>\n")
}

// SameXML reports whether two documents mean the same XML: the same elements,
// attributes (in any order) and non-blank text, comments aside. The service stores a
// fragment in its own formatting (line endings, quoting, entities), so the fragment
// apiguard wrote is compared by meaning, never by bytes. A document that does not
// parse equals nothing.
func SameXML(a, b []byte) bool {
	ta, errA := xmlTokens(a)
	tb, errB := xmlTokens(b)
	return errA == nil && errB == nil && slices.Equal(ta, tb)
}

func xmlTokens(doc []byte) ([]string, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, errors.New("empty document")
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var out []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			attrs := make([]string, 0, len(t.Attr))
			for _, at := range t.Attr {
				attrs = append(attrs, at.Name.Space+":"+at.Name.Local+"="+at.Value)
			}
			slices.Sort(attrs)
			out = append(out, "<"+t.Name.Space+":"+t.Name.Local+" "+strings.Join(attrs, "\x00"))
		case xml.EndElement:
			out = append(out, "</"+t.Name.Local)
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				out = append(out, "#"+s)
			}
		}
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
