package control

import (
	"net/http"
	"time"

	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Common parameters.
var (
	limitParam = param{Name: "limit", In: "query", Type: "integer",
		Description: "Items per page, 1 to 500 (default 100).", Visibility: "advanced"}
	continuationParam = param{Name: "continuation", In: "query", Type: "string",
		Description: "Where the previous page ended: follow nextLink rather than building it.", Visibility: "internal"}
	sinceParam = param{Name: "since", In: "query", Type: "string", Format: "date-time",
		Description: "Start of the time range (RFC 3339)."}
	untilParam = param{Name: "until", In: "query", Type: "string", Format: "date-time",
		Description: "End of the time range (RFC 3339); default now."}
	decisionIDParam = param{Name: "id", In: "path", Type: "string", Required: true,
		Description: "The decision's id, <incident id>.<index>."}
	blockIDParam = param{Name: "id", In: "path", Type: "string", Required: true,
		Description: "The block's id, <action>:<target>, URL-encoded (a CIDR's / as %2F)."}
)

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// table is every route, in the order the OpenAPI document lists them.
func (a *API) table() []route {
	return []route{
		{
			Method: http.MethodGet, Path: "/blocks", ID: "ListBlocks", Tag: "Blocks",
			Summary:     "List blocks",
			Description: "The desired blocks and throttles, with their reason and expiry.",
			Params: []param{
				{Name: "action", In: "query", Type: "string", Enum: strs(vocab.EnforcingActions()), Description: "Only this action."},
				{Name: "target", In: "query", Type: "string", Description: "Only this address, CIDR or identity."},
				{Name: "source", In: "query", Type: "string", Description: "Only blocks of this incident id, or \"operator\" for operators' blocks."},
				{Name: "mode", In: "query", Type: "string", Enum: strs(vocab.Modes()), Description: "Only blocks in this mode."},
				limitParam, continuationParam,
			},
			Answer: flow.Block{}, Page: true,
			Call: func(c *call) (any, error) {
				var f flow.BlockFilter
				var err error
				if f.Action, err = enum(c, "action", vocab.EnforcingActions()); err != nil {
					return nil, err
				}
				if f.Mode, err = enum(c, "mode", vocab.Modes()); err != nil {
					return nil, err
				}
				if f.Target, err = c.text("target"); err != nil {
					return nil, err
				}
				if f.Source, err = c.text("source"); err != nil {
					return nil, err
				}
				blocks, err := c.api.app.Blocks(c.ctx, f)
				if err != nil {
					return nil, err
				}
				return page(c, blocks)
			},
		},
		{
			Method: http.MethodGet, Path: "/blocks/{id}", ID: "GetBlock", Tag: "Blocks",
			Summary: "Get a block", Description: "One desired block or throttle.",
			Params: []param{blockIDParam}, Answer: flow.Block{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				return c.api.app.Block(c.ctx, id)
			},
		},
		{
			Method: http.MethodPost, Path: "/blocks", ID: "CreateBlock", Tag: "Blocks",
			Summary: "Block or throttle",
			Description: "Blocks or throttles an address, CIDR, subscription or user for a duration, through the same guard as " +
				"alerts: protected and allow-listed addresses are refused with the reason.",
			Body: flow.BlockRequest{}, Answer: flow.Block{}, Status: http.StatusCreated,
			Call: func(c *call) (any, error) {
				var req flow.BlockRequest
				if err := c.decode(&req); err != nil {
					return nil, err
				}
				return c.api.app.CreateBlock(c.ctx, c.log, c.actor, req)
			},
		},
		{
			Method: http.MethodDelete, Path: "/blocks/{id}", ID: "RemoveBlock", Tag: "Blocks",
			Summary: "Unblock now", Description: "Takes the block out of the desired state; the WAF and APIM targets follow.",
			Params: []param{blockIDParam}, Answer: flow.Block{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				return c.api.app.RemoveBlock(c.ctx, c.log, c.actor, id)
			},
		},
		{
			Method: http.MethodPost, Path: "/blocks/{id}/extend", ID: "ExtendBlock", Tag: "Blocks",
			Summary: "Extend a block", Description: "Adds a duration to the block's expiry (at most APIGUARD_MAX_DURATION from now).",
			Params: []param{blockIDParam}, Body: flow.ExtendRequest{}, Answer: flow.Block{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				var req flow.ExtendRequest
				if err := c.decode(&req); err != nil {
					return nil, err
				}
				return c.api.app.ExtendBlock(c.ctx, c.log, c.actor, id, req)
			},
		},
		{
			Method: http.MethodGet, Path: "/incidents", ID: "ListIncidents", Tag: "Incidents",
			Summary: "List incidents", Description: "Alerts and findings by event time, newest day first.",
			Params: []param{sinceParam, untilParam,
				{Name: "alert_type", In: "query", Type: "string", Description: "Only this alert type (e.g. API_AccessFromSuspiciousIP, apiguard.probing)."},
				{Name: "source", In: "query", Type: "string", Enum: []string{"alert", "finding"}, Description: "Only Defender alerts, or only apiguard's findings."},
				limitParam, continuationParam},
			Answer: flow.Incident{}, Page: true,
			Call: func(c *call) (any, error) {
				q := flow.IncidentQuery{Token: c.query("continuation")}
				var err error
				if q.Since, q.Until, err = c.timeRange(7*24*time.Hour, 92*24*time.Hour); err != nil {
					return nil, err
				}
				if q.AlertType, err = c.text("alert_type"); err != nil {
					return nil, err
				}
				if q.Source, err = enum(c, "source", []string{"alert", "finding"}); err != nil {
					return nil, err
				}
				if q.Limit, err = c.limit(); err != nil {
					return nil, err
				}
				items, next, err := c.api.app.Incidents(c.ctx, q)
				if err != nil {
					return nil, err
				}
				return storePage(c, items, next), nil
			},
		},
		{
			Method: http.MethodGet, Path: "/incidents/{id}", ID: "GetIncident", Tag: "Incidents",
			Summary: "Get an incident", Description: "The incident with its decisions and its evidence (the finding, or the alert as received).",
			Params: []param{{Name: "id", In: "path", Type: "string", Required: true, Description: "The incident's id."}},
			Answer: flow.Incident{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				return c.api.app.Incident(c.ctx, id)
			},
		},
		{
			Method: http.MethodGet, Path: "/decisions", ID: "ListDecisions", Tag: "Decisions",
			Summary: "List decisions", Description: "Decisions by status, over the event days of their incidents, oldest day first.",
			Params: []param{
				{Name: "status", In: "query", Type: "string", Enum: strs(vocab.Statuses()), Description: "Only decisions in this status (pending: waiting for approval)."},
				sinceParam, untilParam, limitParam, continuationParam},
			Answer: flow.Decision{}, Page: true,
			Call: func(c *call) (any, error) {
				q := flow.DecisionQuery{Token: c.query("continuation")}
				var err error
				if q.Status, err = enum(c, "status", vocab.Statuses()); err != nil {
					return nil, err
				}
				if q.Since, q.Until, err = c.timeRange(7*24*time.Hour, 92*24*time.Hour); err != nil {
					return nil, err
				}
				if q.Limit, err = c.limit(); err != nil {
					return nil, err
				}
				items, next, err := c.api.app.Decisions(c.ctx, q)
				if err != nil {
					return nil, err
				}
				return storePage(c, items, next), nil
			},
		},
		{
			Method: http.MethodGet, Path: "/decisions/{id}", ID: "GetDecision", Tag: "Decisions",
			Summary: "Get a decision", Description: "One decision and where it stands.",
			Params: []param{decisionIDParam}, Answer: flow.Decision{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				return c.api.app.Decision(c.ctx, id)
			},
		},
		{
			Method: http.MethodPost, Path: "/decisions/{id}/approve", ID: "ApproveDecision", Tag: "Decisions",
			Summary: "Approve a pending decision",
			Description: "Enforces a decision taken in approve mode, for its duration from now. A target allow-listed " +
				"meanwhile is refused (422) and the decision rejected.",
			Params: []param{decisionIDParam}, Answer: flow.Decision{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				return c.api.app.Approve(c.ctx, c.log, c.actor, id)
			},
		},
		{
			Method: http.MethodPost, Path: "/decisions/{id}/reject", ID: "RejectDecision", Tag: "Decisions",
			Summary: "Reject a pending decision", Description: "Nothing is enforced, and the offence no longer counts towards escalation.",
			Params: []param{decisionIDParam}, Body: flow.RejectRequest{}, Answer: flow.Decision{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				var req flow.RejectRequest
				if len(c.body) > 0 {
					if err := c.decode(&req); err != nil {
						return nil, err
					}
				}
				return c.api.app.Reject(c.ctx, c.log, c.actor, id, req)
			},
		},
		{
			Method: http.MethodPost, Path: "/decisions/{id}/revert", ID: "RevertDecision", Tag: "Decisions",
			Summary: "Undo a decision",
			Description: "Takes out what the decision put in force and stops counting its offence; with allow, the target " +
				"is also allow-listed for that long, so the same false positive does not come straight back.",
			Params: []param{decisionIDParam}, Body: flow.RevertRequest{}, Answer: flow.Decision{},
			Call: func(c *call) (any, error) {
				id, err := c.pathID("id")
				if err != nil {
					return nil, err
				}
				var req flow.RevertRequest
				if len(c.body) > 0 {
					if err := c.decode(&req); err != nil {
						return nil, err
					}
				}
				return c.api.app.Revert(c.ctx, c.log, c.actor, id, req)
			},
		},
		{
			Method: http.MethodGet, Path: "/allowlist", ID: "ListAllowlist", Tag: "Allow-list",
			Summary: "List the allow-list", Description: "APIGUARD_ALLOW_CIDRS and the entries operators added, unexpired.",
			Params: []param{limitParam, continuationParam}, Answer: flow.AllowEntry{}, Page: true,
			Call: func(c *call) (any, error) {
				entries, err := c.api.app.Allowlist(c.ctx)
				if err != nil {
					return nil, err
				}
				return page(c, entries)
			},
		},
		{
			Method: http.MethodPost, Path: "/allowlist", ID: "AddAllowlistEntry", Tag: "Allow-list",
			Summary:     "Allow-list an address or CIDR",
			Description: "Never blocked while the entry lasts; a current block it covers is reverted.",
			Body:        flow.AllowRequest{}, Answer: flow.AllowEntry{}, Status: http.StatusCreated,
			Call: func(c *call) (any, error) {
				var req flow.AllowRequest
				if err := c.decode(&req); err != nil {
					return nil, err
				}
				return c.api.app.AddAllow(c.ctx, c.log, c.actor, req)
			},
		},
		{
			Method: http.MethodDelete, Path: "/allowlist/{prefix}", ID: "RemoveAllowlistEntry", Tag: "Allow-list",
			Summary: "Remove an allow-list entry", Description: "Entries of APIGUARD_ALLOW_CIDRS are changed in the settings.",
			Params: []param{{Name: "prefix", In: "path", Type: "string", Required: true,
				Description: "The entry's address or CIDR, URL-encoded (/ as %2F)."}},
			Status: http.StatusNoContent,
			Call: func(c *call) (any, error) {
				prefix, err := c.pathID("prefix")
				if err != nil {
					return nil, err
				}
				return nil, c.api.app.RemoveAllow(c.ctx, c.log, c.actor, prefix)
			},
		},
		{
			Method: http.MethodGet, Path: "/health", ID: "GetHealth", Tag: "Health",
			Summary: "Is the automation working",
			Description: "Each function's last success and failure, each target's last reconcile and whether it holds the " +
				"desired state, set-aside records, failed notifications, pending approvals, dead letters; unhealthy, with " +
				"the causes, when apiguard has silently stopped.",
			Answer: flow.Health{},
			Alt:    map[int]string{http.StatusServiceUnavailable: "Unhealthy: the same document, with the causes (so a monitor that reads only the status sees it)."},
			Call:   func(c *call) (any, error) { return c.api.app.Health(c.ctx) },
		},
		{
			Method: http.MethodGet, Path: "/triage/{month}", ID: "GetTriageReport", Tag: "Triage",
			Summary: "Read a triage report",
			Description: "The API inventory ranked by the risk table, with the reason for every rank, the changes since the " +
				"month before, what could not be read, and Defender coverage. {month} is YYYY-MM or latest; the format is " +
				"?format=json|md|html or the Accept header (JSON by default).",
			Params: []param{
				{Name: "month", In: "path", Type: "string", Required: true, Description: "YYYY-MM, or latest."},
				{Name: "format", In: "query", Type: "string", Enum: []string{"json", "md", "html"}, Description: "The report's format (default: by Accept, else json)."},
			},
			Answer: triageDoc{}, Formats: []string{"text/markdown", "text/html"},
			Call: func(c *call) (any, error) {
				month, err := c.pathID("month")
				if err != nil {
					return nil, err
				}
				return c.api.triageReport(c, month)
			},
		},
		{
			Method: http.MethodPost, Path: "/triage/run", ID: "RunTriage", Tag: "Triage",
			Summary: "Run the triage now",
			Description: "Reads the inventory, ranks it, stores the month's report (replacing an earlier run of the month) and " +
				"proposes the enforceable remediations as pending decisions. It can take minutes on a large inventory.",
			Answer: TriageRun{},
			Call: func(c *call) (any, error) {
				summary, err := c.api.app.Triage(c.ctx, c.log)
				if err != nil {
					return nil, err
				}
				months, err := c.api.app.TriageMonths(c.ctx)
				if err != nil || len(months) == 0 {
					return nil, err
				}
				month := months[len(months)-1]
				return TriageRun{Month: month, Summary: summary, Report: Prefix + "/triage/" + month}, nil
			},
		},
		{
			Method: http.MethodGet, Path: "/audit", ID: "ListAudit", Tag: "Audit",
			Summary: "Read the audit trail", Description: "Every change apiguard made, oldest first.",
			Params: []param{sinceParam, untilParam,
				{Name: "target", In: "query", Type: "string", Description: "Only entries about this address, identity, incident or target."},
				limitParam, continuationParam},
			Answer: flow.AuditEntry{}, Page: true,
			Call: func(c *call) (any, error) {
				since, until, err := c.timeRange(24*time.Hour, 31*24*time.Hour)
				if err != nil {
					return nil, err
				}
				target, err := c.text("target")
				if err != nil {
					return nil, err
				}
				entries, err := c.api.app.Audit(c.ctx, since, until, target)
				if err != nil {
					return nil, err
				}
				return page(c, entries)
			},
		},
		{
			Method: http.MethodGet, Path: "/console", ID: "GetConsole", Tag: "Meta",
			Summary: "The operator page", Description: "Blocks, recent incidents, pending decisions and health at a glance, as HTML.",
			Produces: "text/html; charset=utf-8", Header: map[string]string{"Content-Security-Policy": ConsoleCSP()},
			Call: func(c *call) (any, error) { return c.api.console(c) },
		},
		{
			Method: http.MethodGet, Path: "/openapi.json", ID: "GetOpenAPI", Tag: "Meta",
			Summary: "This API's Swagger 2.0 document", Description: "Import it as a Logic Apps custom connector.",
			Answer: map[string]any{},
			Call:   func(c *call) (any, error) { return c.api.OpenAPI(c.req), nil },
		},
	}
}
