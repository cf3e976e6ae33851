package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/flow"
	"github.com/apiguard/apiguard/shared/notify"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

// Logic Apps cannot run here, so the two workflow definitions are run by a small
// interpreter of the parts of the workflow definition language they use (Http, If and
// ApiConnectionWebhook actions, runAfter, and the expression functions below), fed what
// their triggers receive (apiguard's own CloudEvents, a workflow-automation alert) and
// calling the apiguard that really serves them. The Office 365 approval email is
// simulated: it answers what the test says the approver chose. An unknown action type or function fails the test, so the
// interpreter cannot silently skip what it does not understand.

const approvalWorkflowPath = "infra/modules/approval-workflow.json"

func loadWorkflow(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return def
}

// wfRun is one run of the workflow: its trigger body, parameters, the bodies of the
// actions run so far, and what it did.
type wfRun struct {
	t       *testing.T
	params  map[string]any
	trigger any
	bodies  map[string]any
	status  map[string]string
	// answer is what the approver chooses; asked are the approval mails sent.
	answer map[string]any
	asked  []map[string]any
	calls  []wfCall
}

type wfCall struct {
	method, uri string
	headers     map[string]string
	body        string
	status      int
}

func newRun(t *testing.T, def map[string]any, params map[string]any, event []byte, answer map[string]any) *wfRun {
	t.Helper()
	r := &wfRun{t: t, params: map[string]any{}, bodies: map[string]any{}, status: map[string]string{}, answer: answer}
	for name, p := range def["parameters"].(map[string]any) {
		r.params[name] = p.(map[string]any)["defaultValue"]
	}
	for k, v := range params {
		r.params[k] = v
	}
	if err := json.Unmarshal(event, &r.trigger); err != nil {
		t.Fatalf("trigger body: %v", err)
	}
	return r
}

// scope runs a set of actions in runAfter order; an action whose predecessor ended
// in a status it does not accept is skipped, as the service does.
func (r *wfRun) scope(actions map[string]any) {
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	for done := 0; done < len(names); {
		progressed := false
		for _, name := range names {
			if r.status[name] != "" {
				continue
			}
			a := actions[name].(map[string]any)
			ready, run := true, true
			for dep, want := range mapOf(a["runAfter"]) {
				st := r.status[dep]
				if st == "" {
					if _, ok := actions[dep]; !ok {
						r.t.Fatalf("%s runs after %s, which is not in its scope", name, dep)
					}
					ready = false
					break
				}
				ok := false
				for _, w := range want.([]any) {
					ok = ok || w == st
				}
				run = run && ok
			}
			if !ready {
				continue
			}
			progressed, done = true, done+1
			if !run {
				r.status[name] = "Skipped"
				continue
			}
			r.status[name] = r.action(name, a)
		}
		if !progressed {
			r.t.Fatalf("actions %v wait for each other", names)
		}
	}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func (r *wfRun) action(name string, a map[string]any) string {
	switch a["type"] {
	case "Http":
		in := r.value(a["inputs"]).(map[string]any)
		c := wfCall{method: in["method"].(string), uri: in["uri"].(string), headers: map[string]string{}}
		var body io.Reader
		if b, ok := in["body"]; ok {
			raw, err := json.Marshal(b)
			if err != nil {
				r.t.Fatal(err)
			}
			c.body, body = string(raw), bytes.NewReader(raw)
		}
		req, err := http.NewRequest(c.method, c.uri, body)
		if err != nil {
			r.t.Fatalf("%s: %v", name, err)
		}
		for k, v := range mapOf(in["headers"]) {
			c.headers[k] = v.(string)
			req.Header.Set(k, v.(string))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			r.t.Fatalf("%s: %v", name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.status = resp.StatusCode
		r.calls = append(r.calls, c)
		var parsed any
		if json.Unmarshal(raw, &parsed) == nil {
			r.bodies[name] = parsed
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return "Failed"
		}
		return "Succeeded"
	case "If":
		if r.condition(a["expression"]) {
			r.scope(mapOf(a["actions"]))
		} else {
			r.scope(mapOf(mapOf(a["else"])["actions"]))
		}
		return "Succeeded"
	case "ApiConnectionWebhook":
		in := r.value(a["inputs"]).(map[string]any)
		if in["path"] != "/approvalmail/$subscriptions" {
			r.t.Fatalf("%s: webhook %v is not the approval email", name, in["path"])
		}
		if c := mapOf(mapOf(in["host"])["connection"])["name"]; !strings.HasSuffix(fmt.Sprint(c), "/connections/o365") {
			r.t.Fatalf("%s: connection %v is not the office365 one", name, c)
		}
		r.asked = append(r.asked, mapOf(mapOf(in["body"])["Message"]))
		r.bodies[name] = r.answer
		return "Succeeded"
	}
	r.t.Fatalf("%s: action type %v is not interpreted here", name, a["type"])
	return ""
}

func (r *wfRun) condition(c any) bool {
	m := mapOf(c)
	if len(m) != 1 {
		r.t.Fatalf("condition %v", c)
	}
	for op, arg := range m {
		args, _ := arg.([]any)
		switch op {
		case "and", "or":
			all, some := true, false
			for _, a := range args {
				v := r.condition(a)
				all, some = all && v, some || v
			}
			if op == "and" {
				return all
			}
			return some
		case "equals":
			return fmt.Sprint(r.value(args[0])) == fmt.Sprint(r.value(args[1]))
		case "not":
			return !r.condition(arg)
		}
		r.t.Fatalf("condition operator %q is not interpreted here", op)
	}
	return false
}

// value evaluates a definition value: strings that are expressions ("@..." or
// holding "@{...}"), recursively in objects and arrays.
func (r *wfRun) value(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = r.value(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = r.value(x)
		}
		return out
	case string:
		switch {
		case strings.HasPrefix(v, "@@"):
			return v[1:]
		case strings.HasPrefix(v, "@") && !strings.HasPrefix(v, "@{"):
			p := &exprParser{run: r, s: v, i: 1}
			x := p.expr()
			if p.ws(); p.i != len(v) {
				r.t.Fatalf("expression %q: trailing %q", v, v[p.i:])
			}
			return x
		}
		var b strings.Builder
		for rest := v; ; {
			i := strings.Index(rest, "@{")
			if i < 0 {
				b.WriteString(rest)
				return b.String()
			}
			b.WriteString(rest[:i])
			p := &exprParser{run: r, s: rest, i: i + 2}
			x := p.expr()
			if p.ws(); p.i >= len(rest) || rest[p.i] != '}' {
				r.t.Fatalf("interpolation in %q is not closed", v)
			}
			b.WriteString(stringOf(x))
			rest = rest[p.i+1:]
		}
	}
	return v
}

func stringOf(x any) string {
	switch x := x.(type) {
	case string:
		return x
	case nil:
		return ""
	case map[string]any, []any:
		raw, _ := json.Marshal(x)
		return string(raw)
	}
	return fmt.Sprint(x)
}

// exprParser reads one expression of the workflow definition language.
type exprParser struct {
	run *wfRun
	s   string
	i   int
}

func (p *exprParser) ws() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *exprParser) fail(what string) {
	p.run.t.Fatalf("expression %q at %d: %s", p.s, p.i, what)
}

func (p *exprParser) expr() any {
	p.ws()
	var x any
	switch {
	case p.i >= len(p.s):
		p.fail("ends early")
	case p.s[p.i] == '\'':
		var b strings.Builder
		for p.i++; ; p.i++ {
			if p.i >= len(p.s) {
				p.fail("unterminated string")
			}
			if p.s[p.i] == '\'' {
				if p.i+1 < len(p.s) && p.s[p.i+1] == '\'' {
					b.WriteByte('\'')
					p.i++
					continue
				}
				p.i++
				break
			}
			b.WriteByte(p.s[p.i])
		}
		x = b.String()
	case p.s[p.i] >= '0' && p.s[p.i] <= '9':
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, _ := strconv.Atoi(p.s[j:p.i])
		x = float64(n)
	default:
		j := p.i
		for p.i < len(p.s) && (p.s[p.i] == '_' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= 'A' && p.s[p.i] <= 'Z') {
			p.i++
		}
		name := p.s[j:p.i]
		if p.ws(); name == "" || p.i >= len(p.s) || p.s[p.i] != '(' {
			p.fail("a function call expected")
		}
		p.i++
		var args []any
		for p.ws(); p.i < len(p.s) && p.s[p.i] != ')'; p.ws() {
			args = append(args, p.expr())
			if p.ws(); p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			}
		}
		if p.i >= len(p.s) {
			p.fail("unclosed call")
		}
		p.i++
		x = p.call(name, args)
	}
	for {
		p.ws()
		optional := false
		if p.i < len(p.s) && p.s[p.i] == '?' {
			optional = true
			p.i++
		}
		if p.i >= len(p.s) || p.s[p.i] != '[' {
			if optional {
				p.fail("? without [")
			}
			return x
		}
		p.i++
		key := p.expr()
		if p.ws(); p.i >= len(p.s) || p.s[p.i] != ']' {
			p.fail("unclosed [")
		}
		p.i++
		m, ok := x.(map[string]any)
		switch {
		case x == nil && optional:
			x = nil
		case !ok:
			p.fail(fmt.Sprintf("[%v] of %T", key, x))
		default:
			v, found := m[key.(string)]
			if !found && !optional {
				p.fail(fmt.Sprintf("no property %v", key))
			}
			x = v
		}
	}
}

func (p *exprParser) call(name string, args []any) any {
	str := func(i int) string {
		s, ok := args[i].(string)
		if !ok {
			p.fail(fmt.Sprintf("%s: argument %d is %T", name, i, args[i]))
		}
		return s
	}
	switch name {
	case "parameters":
		v, ok := p.run.params[str(0)]
		if !ok {
			p.fail("no parameter " + str(0))
		}
		return v
	case "triggerBody":
		return p.run.trigger
	case "body":
		if p.run.status[str(0)] == "" {
			p.fail("body of " + str(0) + ", which has not run")
		}
		return p.run.bodies[str(0)]
	case "listCallbackUrl":
		return "https://logic.example/callback"
	case "encodeUriComponent":
		return strings.ReplaceAll(url.QueryEscape(str(0)), "+", "%20")
	case "string":
		return stringOf(args[0])
	case "replace":
		return strings.ReplaceAll(str(0), str(1), str(2))
	case "take":
		s, n := str(0), int(args[1].(float64))
		return s[:min(n, len(s))]
	case "coalesce":
		for _, a := range args {
			if a != nil {
				return a
			}
		}
		return nil
	}
	p.fail("function " + name + " is not interpreted here")
	return nil
}

// The approval workflow, fed apiguard's own pending-decision events: an approved
// decision is enforced with the approver as the actor, a rejected one is not, a
// decision answered meanwhile or announced twice is not asked about again, and an
// event naming no real decision sends no mail. Every call goes to the configured API
// with the key, never to a link from the event.
func TestInfraApprovalWorkflow(t *testing.T) {
	def := loadWorkflow(t, approvalWorkflowPath)

	events := make(chan []byte, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		events <- raw
		w.WriteHeader(http.StatusAccepted) // a Request trigger without a Response action
	}))
	t.Cleanup(hook.Close)
	// The target as main.bicep writes it, with a Logic App callback URL's query.
	targets, err := notify.ParseTargets(`[{"name": "approval-email", "kind": "cloudevents", "types": ["apiguard.decision.pending"],
		"url": "`+hook.URL+`/workflows/w/triggers/decision_pending/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2Fdecision_pending%2Frun&sv=1.0&sig=c2lnbmF0dXJl"}]`,
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	d := notify.New(targets, notify.Options{Source: "/apiguard", Log: zerolog.Nop()})
	t.Cleanup(func() { _ = d.Close(t.Context()) })
	s := newCLIServerWith(t, map[string]string{"APIGUARD_MODE": "approve"}, func(deps *flow.Deps) { deps.Notify = d })

	ips := []string{"45.153.163.1", "45.153.163.2", "45.153.163.3"}
	byIP := map[string][]byte{}
	for i, ip := range ips {
		if _, err := s.app.Alerts(t.Context(), zerolog.Nop(), alertAt(100+i, ip), http.Header{}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			var ce struct{ Subject string }
			if err := json.Unmarshal(ev, &ce); err != nil {
				t.Fatalf("event: %v", err)
			}
			byIP[ce.Subject] = ev
		case <-time.After(10 * time.Second):
			t.Fatalf("no pending-decision event for %s", ip)
		}
	}
	params := map[string]any{"apiUrl": s.url, "apiKey": "function-key", "approvers": "soc@contoso.example",
		"$connections": map[string]any{"office365": map[string]any{"connectionId": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/connections/o365"}}}
	run := func(ip string, answer map[string]any) *wfRun {
		r := newRun(t, def, params, byIP[ip], answer)
		r.scope(def["actions"].(map[string]any))
		for _, c := range r.calls {
			if !strings.HasPrefix(c.uri, s.url+"/v1/decisions/") || c.headers["x-functions-key"] != "function-key" {
				t.Errorf("call %s %s with key %q: not the configured API with its key", c.method, c.uri, c.headers["x-functions-key"])
			}
		}
		return r
	}
	decision := func(ip string) flow.Decision {
		var ev struct {
			Data struct{ Detail flow.Decision }
		}
		if err := json.Unmarshal(byIP[ip], &ev); err != nil {
			t.Fatal(err)
		}
		got, err := s.app.Decision(t.Context(), ev.Data.Detail.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Approved by mail: enforced, in the policy, with the approver recorded.
	r := run(ips[0], map[string]any{"SelectedOption": "Approve", "UserEmailAddress": "alice@contoso.example"})
	if len(r.asked) != 1 {
		t.Fatalf("approval mails: %d", len(r.asked))
	}
	m := r.asked[0]
	if m["To"] != "soc@contoso.example" || m["Options"] != "Approve, Reject" ||
		!strings.Contains(m["Subject"].(string), "block_waf of "+ips[0]+" for "+decision(ips[0]).Duration+"?") ||
		!strings.Contains(m["Body"].(string), decision(ips[0]).ID) || !strings.Contains(m["Body"].(string), "API_AccessFromSuspiciousIP") {
		t.Errorf("approval mail: %+v", m)
	}
	if len(r.calls) != 2 || r.calls[1].method != http.MethodPost || !strings.HasSuffix(r.calls[1].uri, "/approve") || r.calls[1].status != http.StatusOK {
		t.Fatalf("calls: %+v", r.calls)
	}
	if got := decision(ips[0]); got.Status != "enforced" {
		t.Errorf("approved decision is %s", got.Status)
	}
	if !strings.Contains(s.policyFile(t), ips[0]) {
		t.Error("approved block not in the policy file")
	}
	entries, err := s.app.Audit(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), ips[0])
	if err != nil {
		t.Fatal(err)
	}
	approver := false
	for _, e := range entries {
		approver = approver || e.Actor == "operator:alice@contoso.example"
	}
	if !approver {
		t.Errorf("the approver is not in the audit trail: %+v", entries)
	}

	// The same event again (a redelivery): the decision is no longer pending, no mail.
	if r := run(ips[0], map[string]any{"SelectedOption": "Reject"}); len(r.asked) != 0 || len(r.calls) != 1 {
		t.Errorf("redelivered event: %d mails, calls %+v", len(r.asked), r.calls)
	}

	// Rejected by mail; the connector gave no address (answered in the HTML mail).
	r = run(ips[1], map[string]any{"SelectedOption": "Reject"})
	if len(r.calls) != 2 || !strings.HasSuffix(r.calls[1].uri, "/reject") || r.calls[1].status != http.StatusOK ||
		r.calls[1].headers["X-Apiguard-Actor"] != "approval-email" {
		t.Fatalf("calls: %+v", r.calls)
	}
	if got := decision(ips[1]); got.Status != "rejected" {
		t.Errorf("rejected decision is %s", got.Status)
	}
	if strings.Contains(s.policyFile(t), ips[1]) {
		t.Error("rejected block in the policy file")
	}

	// Answered by an operator before the mail went out: not asked.
	s.must(t, "decisions", "approve", decision(ips[2]).ID)
	if r := run(ips[2], map[string]any{"SelectedOption": "Reject"}); len(r.asked) != 0 || len(r.calls) != 1 {
		t.Errorf("decision answered meanwhile: %d mails, calls %+v", len(r.asked), r.calls)
	}

	// A forged event (someone holding the trigger URL) naming no decision, with links
	// elsewhere: the read fails, no mail, nothing else called.
	forged := []byte(`{"specversion": "1.0", "id": "x", "type": "apiguard.decision.pending", "subject": "10.0.0.1",
		"data": {"links": {"approve": "https://attacker.example/steal"}, "detail": {"id": "../../blocks"}}}`)
	fr := newRun(t, def, params, forged, map[string]any{"SelectedOption": "Approve"})
	fr.scope(def["actions"].(map[string]any))
	if len(fr.asked) != 0 || len(fr.calls) != 1 || fr.calls[0].status/100 != 4 ||
		fr.calls[0].uri != s.url+"/v1/decisions/..%2F..%2Fblocks" {
		t.Errorf("forged event: %d mails, calls %+v", len(fr.asked), fr.calls)
	}
}

// The definition's static promises: every HTTP action calls the configured API with
// the key and hides its inputs from the run history, the mail waits as long as
// apiguard keeps a decision pending by default, and main.bicep names the trigger the
// definition has.
func TestInfraApprovalWorkflowShape(t *testing.T) {
	def := loadWorkflow(t, approvalWorkflowPath)
	var walk func(name string, a map[string]any)
	https, webhooks := 0, 0
	walk = func(name string, a map[string]any) {
		switch a["type"] {
		case "Http":
			https++
			in := mapOf(a["inputs"])
			if uri, _ := in["uri"].(string); !strings.HasPrefix(uri, "@{parameters('apiUrl')}/v1/") {
				t.Errorf("%s calls %q: not under parameters('apiUrl')", name, uri)
			}
			if mapOf(in["headers"])["x-functions-key"] != "@parameters('apiKey')" {
				t.Errorf("%s: no function key header", name)
			}
			if fmt.Sprint(mapOf(mapOf(a["runtimeConfiguration"])["secureData"])["properties"]) != "[inputs]" {
				t.Errorf("%s: inputs (the key) not secured", name)
			}
		case "ApiConnectionWebhook":
			webhooks++
			ttl, err := time.ParseDuration(settingDefault(t, "APIGUARD_APPROVAL_TTL"))
			if err != nil {
				t.Fatal(err)
			}
			if got := mapOf(a["limit"])["timeout"]; got != fmt.Sprintf("PT%dH", int(ttl.Hours())) {
				t.Errorf("%s waits %v; apiguard keeps a decision pending %s", name, got, ttl)
			}
		}
		for _, scope := range []map[string]any{mapOf(a["actions"]), mapOf(mapOf(a["else"])["actions"])} {
			for n, x := range scope {
				walk(n, x.(map[string]any))
			}
		}
	}
	walk("", map[string]any{"actions": def["actions"]})
	if https != 3 || webhooks != 1 {
		t.Errorf("%d HTTP actions and %d approval mails; expected 3 and 1", https, webhooks)
	}
	if p := mapOf(mapOf(def["parameters"])["apiKey"]); p["type"] != "SecureString" {
		t.Errorf("apiKey parameter is %v, not SecureString", p["type"])
	}

	triggers := mapOf(def["triggers"])
	files := bicepFiles(t)
	m := regexp.MustCompile(`(?m)^var approvalTriggerName = '([^']+)'`).FindStringSubmatch(files["infra/main.bicep"])
	if m == nil || len(triggers) != 1 || triggers[m[1]] == nil {
		t.Errorf("main.bicep's approvalTriggerName %v is not the definition's one trigger %v", m, triggers)
	}
	// The target main.bicep adds must be one apiguard accepts at start, for the event the
	// workflow reads.
	i := strings.Index(files["infra/main.bicep"], "var notifySetting = ")
	if i < 0 {
		t.Fatal("main.bicep has no notifySetting")
	}
	literal := block(t, files["infra/main.bicep"], i)
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^\s*` + name + `: (.+)$`).FindStringSubmatch(literal)
		if m == nil {
			t.Fatalf("approval target has no %s", name)
		}
		return strings.ReplaceAll(m[1], "'", `"`)
	}
	target := fmt.Sprintf(`[{"name": %s, "kind": %s, "types": %s, "url": "https://prod-00.westeurope.logic.azure.com/workflows/w/triggers/%s/paths/invoke?sig=s"}]`,
		field("name"), field("kind"), field("types"), m[1])
	parsed, err := notify.ParseTargets(target, func(string) (string, bool) { return "", false })
	if err != nil || len(parsed) != 1 || !slices.Equal(parsed[0].Types, []string{notify.TypeDecisionPending}) {
		t.Errorf("the approval target %s: %+v, %v", target, parsed, err)
	}
	if !strings.Contains(files["infra/modules/approval.bicep"], "loadJsonContent('approval-workflow.json')") {
		t.Error("approval.bicep does not load approval-workflow.json")
	}
}

func settingDefault(t *testing.T, name string) string {
	t.Helper()
	for _, s := range config.Settings {
		if s.Name == name {
			return s.Default
		}
	}
	t.Fatalf("no setting %s", name)
	return ""
}

const defenderWorkflowPath = "infra/modules/defender-workflow.json"

// The Defender forwarder, fed a workflow-automation alert as the Defender connector's
// trigger delivers it, posts it to a running apiguard (serve over Azurite, dry-run),
// which records the incident and its decision. Its trigger is the connector's, as
// Microsoft's published workflow-automation template declares it.
func TestInfraDefenderWorkflow(t *testing.T) {
	def := loadWorkflow(t, defenderWorkflowPath)
	triggers := mapOf(def["triggers"])
	m := regexp.MustCompile(`(?m)^var triggerName = '([^']+)'`).FindStringSubmatch(bicepFiles(t)["infra/modules/defender.bicep"])
	if m == nil || len(triggers) != 1 || triggers[m[1]] == nil {
		t.Fatalf("defender.bicep's triggerName %v is not the definition's one trigger", m)
	}
	ours := mapOf(triggers[m[1]])
	t.Run("trigger as published", func(t *testing.T) {
		const sample = "../shared/fixtures/defender-alerts/workflow-automation_BlockBruteforceAttack.azuredeploy.json"
		raw, err := os.ReadFile(sample)
		if err != nil {
			t.Skip("../shared/fixtures/defender-alerts is absent: the trigger is not compared with the published template")
		}
		var tmpl struct {
			Resources []struct {
				Type       string
				Properties struct {
					Definition struct{ Triggers map[string]any }
				}
			}
		}
		if err := json.Unmarshal(raw, &tmpl); err != nil {
			t.Fatal(err)
		}
		compared := 0
		for _, r := range tmpl.Resources {
			for _, theirs := range r.Properties.Definition.Triggers {
				want, _ := json.Marshal(theirs)
				got, _ := json.Marshal(ours)
				if string(got) != string(want) {
					t.Errorf("trigger\n got %s\nwant %s", got, want)
				}
				compared++
			}
		}
		if compared != 1 {
			t.Errorf("%d triggers in the published template", compared)
		}
	})

	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := map[string]string{
			"APIGUARD_TABLES_CONNECTION": azuritetest.ConnectionString(t),
			"APIGUARD_TABLE_PREFIX":      azuritetest.TablePrefix(t),
		}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(t.Context(), cfg, func(string) (string, bool) { return "", false }, zerolog.Nop(), 0)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.http)
	t.Cleanup(hs.Close)

	alert, err := os.ReadFile("shared/alert/testdata/cases/workflow.json")
	if err != nil {
		t.Fatal(err)
	}
	// A public address, so that the decision is a block rather than a refusal, and
	// yesterday's times, so that the alert is recent.
	alert = bytes.ReplaceAll(alert, []byte("10.1.2.3"), []byte("45.153.164.9"))
	alert = bytes.ReplaceAll(alert, []byte("2026-01-01T"), []byte(time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02T")))
	r := newRun(t, def, map[string]any{"alertsUrl": hs.URL + "/api/alerts", "functionKey": "alerts-key"}, alert, nil)
	r.scope(def["actions"].(map[string]any))
	if len(r.calls) != 1 || r.calls[0].uri != hs.URL+"/api/alerts" || r.calls[0].headers["x-functions-key"] != "alerts-key" ||
		r.calls[0].status/100 != 2 {
		t.Fatalf("calls: %+v", r.calls)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(r.calls[0].body), &sent); err != nil || sent["systemAlertId"] != "2516309999999999999_0a1b2c3d-0000-4000-8000-000000000002" {
		t.Errorf("posted body is not the trigger body: %v %s", err, r.calls[0].body)
	}
	resp, err := http.Get(hs.URL + "/api/v1/decisions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decisions: %s", resp.Status)
	}
	var list struct{ Value []flow.Decision }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Value) != 1 || list.Value[0].Address != "45.153.164.9" || list.Value[0].AlertType != "API_ParameterEnumeration" ||
		list.Value[0].Status != "dryrun" {
		t.Errorf("decisions after the forwarded alert: %+v", list.Value)
	}
}
