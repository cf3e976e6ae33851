package notify

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// decodeCloudEvent reads a recorded request the way a receiver does, with the SDK.
func decodeCloudEvent(t *testing.T, q request) *cloudevents.Event {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://receiver/", bytes.NewReader(q.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = q.Header
	e, err := cloudevents.NewEventFromHTTPRequest(req)
	if err != nil {
		t.Fatalf("the SDK cannot read what was sent: %v\n%s", err, q.Body)
	}
	return e
}

func TestCloudEventsReceiver(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "siem", URL: rcv.URL + "/api/events", Kind: KindCloudEvents, Header: "x-functions-key", Secret: "fn-key"}})
	ev := blockEvent(CauseID(TypeBlockCreated, "incident-7", "45.153.160.201"))
	ev.Links["approve"] = "https://apiguard.example/decisions/7/approve"
	ev.Links["bad"] = "/relative/only"
	r.send(t, ev)
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	q := reqs[0]
	if ct := q.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type %q, want structured mode", ct)
	}
	if q.Header.Get("x-functions-key") != "fn-key" {
		t.Errorf("the target's header was not sent")
	}
	e := decodeCloudEvent(t, q)
	if err := e.Validate(); err != nil {
		t.Errorf("invalid CloudEvent: %v", err)
	}
	if e.SpecVersion() != "1.0" || e.ID() != ev.ID || e.Type() != TypeBlockCreated || e.Source() != "/apiguard/test-host" ||
		e.Subject() != "45.153.160.201" || !e.Time().Equal(when) || e.DataContentType() != "application/json" {
		t.Errorf("attributes: %s", e)
	}
	var data struct {
		Summary string            `json:"summary"`
		Links   map[string]string `json:"links"`
		Detail  map[string]string `json:"detail"`
	}
	if err := e.DataAs(&data); err != nil {
		t.Fatal(err)
	}
	if data.Summary != ev.Summary || data.Detail["address"] != "45.153.160.201" || data.Detail["ttl"] != "24h" {
		t.Errorf("data %+v", data)
	}
	if len(data.Links) != 2 || data.Links["incident"] != ev.Links["incident"] || data.Links["approve"] != ev.Links["approve"] {
		t.Errorf("links %v, want incident and approve (the relative one left out)", data.Links)
	}
}

// The same cause gives the same id; a different cause, or the same words split
// differently, another one.
func TestCauseID(t *testing.T) {
	a := CauseID(TypeBlockCreated, "incident-7", "10.0.0.1")
	if a != CauseID(TypeBlockCreated, "incident-7", "10.0.0.1") {
		t.Error("the same cause gave two ids")
	}
	for _, other := range []string{
		CauseID(TypeBlockExtended, "incident-7", "10.0.0.1"),
		CauseID(TypeBlockCreated, "incident-", "710.0.0.1"),
		CauseID(TypeBlockCreated, "incident-710.0.0.1"),
	} {
		if other == a {
			t.Errorf("a different cause gave the same id %s", a)
		}
	}
}

// The Teams message: an Adaptive Card in a message attachment.
func TestTeamsReceiver(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "teams", URL: rcv.URL, Kind: KindTeams}})
	ev := blockEvent("e1")
	ev.Type = TypeDecisionPending
	ev.Links["approve"] = "https://apiguard.example/decisions/7/approve"
	ev.Links["reject"] = "https://apiguard.example/decisions/7/reject"
	r.send(t, ev)
	q := rcv.requests()[0]
	if ct := q.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string  `json:"contentType"`
			ContentURL  *string `json:"contentUrl"`
			Content     struct {
				Schema  string                 `json:"$schema"`
				MSTeams struct{ Width string } `json:"msteams"`
				Type    string                 `json:"type"`
				Version string                 `json:"version"`
				Body    []json.RawMessage      `json:"body"`
				Actions []struct {
					Type, Title, URL, Style string
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	strict(t, q.Body, &msg)
	if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("not a message with one Adaptive Card: %s", q.Body)
	}
	card := msg.Attachments[0].Content
	if card.Type != "AdaptiveCard" || card.Version != "1.4" || len(card.Body) != 2 {
		t.Fatalf("card: %s", q.Body)
	}
	var title struct{ Type, Text, Weight string }
	var facts struct {
		Type  string
		Facts []struct{ Title, Value string }
	}
	_ = json.Unmarshal(card.Body[0], &title)
	_ = json.Unmarshal(card.Body[1], &facts)
	if title.Type != "TextBlock" || title.Weight != "Bolder" || title.Text != teamsEscape(ev.Summary) {
		t.Errorf("title %+v", title)
	}
	wantFacts := []struct{ Title, Value string }{{"Subject", "45.153.160.201"}, {"Type", `apiguard.decision.pending`}, {"Time", "2026-03-14T09:26:53Z"}}
	if facts.Type != "FactSet" || len(facts.Facts) != 3 {
		t.Fatalf("facts %+v", facts)
	}
	for i, w := range wantFacts {
		if facts.Facts[i] != w {
			t.Errorf("fact %d: %+v, want %+v", i, facts.Facts[i], w)
		}
	}
	wantActions := []struct{ Title, URL, Style string }{
		{"Approve", ev.Links["approve"], "positive"},
		{"Reject", ev.Links["reject"], "destructive"},
		{"Incident", ev.Links["incident"], ""},
	}
	if len(card.Actions) != len(wantActions) {
		t.Fatalf("actions %+v", card.Actions)
	}
	for i, w := range wantActions {
		a := card.Actions[i]
		if a.Type != "Action.OpenUrl" || a.Title != w.Title || a.URL != w.URL || a.Style != w.Style {
			t.Errorf("action %d: %+v, want %+v", i, a, w)
		}
	}
}

// The Slack message: {"text", "blocks"} with the same content.
func TestSlackReceiver(t *testing.T) {
	rcv := newReceiver(t, nil)
	r := start(t, []Target{{Name: "slack", URL: rcv.URL, Kind: KindSlack}})
	ev := blockEvent("e1")
	ev.Links["reject"] = "https://apiguard.example/decisions/7/reject"
	r.send(t, ev)
	q := rcv.requests()[0]
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Fields []struct {
				Type, Text string
			} `json:"fields"`
			Elements []struct {
				Type string
				Text struct{ Type, Text string }
				URL  string
				// Style is "primary", "danger" or absent.
				Style string
			} `json:"elements"`
		} `json:"blocks"`
	}
	strict(t, q.Body, &msg)
	if msg.Text != ev.Summary {
		t.Errorf("text %q", msg.Text)
	}
	if len(msg.Blocks) != 3 || msg.Blocks[0].Type != "section" || msg.Blocks[1].Type != "section" || msg.Blocks[2].Type != "actions" {
		t.Fatalf("blocks: %s", q.Body)
	}
	if b := msg.Blocks[0].Text; b == nil || b.Type != "mrkdwn" || b.Text != "*"+ev.Summary+"*" {
		t.Errorf("title block %+v", b)
	}
	wantFields := []string{"*Subject*\n45.153.160.201", "*Type*\napiguard.block.created", "*Time*\n2026-03-14T09:26:53Z"}
	if len(msg.Blocks[1].Fields) != len(wantFields) {
		t.Fatalf("fields %+v", msg.Blocks[1].Fields)
	}
	for i, w := range wantFields {
		if f := msg.Blocks[1].Fields[i]; f.Type != "mrkdwn" || f.Text != w {
			t.Errorf("field %d: %+v, want %q", i, f, w)
		}
	}
	els := msg.Blocks[2].Elements
	if len(els) != 2 || els[0].Type != "button" || els[0].Text.Type != "plain_text" || els[0].Text.Text != "Reject" ||
		els[0].URL != ev.Links["reject"] || els[0].Style != "danger" || els[1].Text.Text != "Incident" || els[1].Style != "" {
		t.Errorf("buttons %+v", els)
	}
}

// strict decodes a message, refusing fields the test does not know: the shape is
// exactly what the test describes.
func strict(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
}

// Text from the event cannot make links, mentions or markup in a chat message.
func TestChatTextIsEscaped(t *testing.T) {
	evil := "<!channel> & <https://evil.example|click> *bold* _it_ [x](https://evil.example) {{DATE(2026-01-01T00:00:00Z)}}\n# heading"
	p, err := prepare(Event{ID: "e", Type: TypeBlockCreated, Subject: "- " + evil, Summary: evil, Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	slack, _ := chatJSON(slackMessage(p))
	for _, bad := range []string{"<!channel>", "<https://", "\\n#"} {
		if bytes.Contains(slack, []byte(bad)) {
			t.Errorf("Slack message carries %q: %s", bad, slack)
		}
	}
	if !bytes.Contains(slack, []byte("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;")) {
		t.Errorf("Slack text not escaped as entities: %s", slack)
	}
	teams := teamsMessage(p)
	title := teams.Attachments[0].Content.Body[0].(teamsText).Text
	want := `\<!channel\> & \<https://evil.example\|click\> \*bold\* \_it\_ \[x\](https://evil.example) {` + "\u200b" + `{DATE(2026-01-01T00:00:00Z)}}` + ` \# heading`
	if title != want {
		t.Errorf("Teams title\n got %q\nwant %q", title, want)
	}
	subject := teams.Attachments[0].Content.Body[1].(teamsFactSet).Facts[0].Value
	if !strings.HasPrefix(subject, `\- `) {
		t.Errorf("a leading list marker is not escaped: %q", subject)
	}
}

// Long text is cut to the chat services' limits, never inside an entity or a rune.
func TestChatLimits(t *testing.T) {
	long := strings.Repeat("é&", 3000)
	p, _ := prepare(Event{ID: "e", Type: TypeBlockCreated, Subject: long, Summary: long})
	msg := slackMessage(p)
	title := msg.Blocks[0].(slackSection).Text.Text
	if len(title) > slackSectionMax || !strings.HasSuffix(title, "&amp;…*") && !strings.HasSuffix(title, "é…*") {
		t.Errorf("title of %d bytes ends %q", len(title), title[len(title)-12:])
	}
	for _, f := range msg.Blocks[1].(slackSection).Fields {
		if len(f.Text) > slackFieldMax {
			t.Errorf("field of %d bytes", len(f.Text))
		}
	}
	if got := slackEscape("abc", 3); got != "abc" {
		t.Errorf("slackEscape of what fits: %q", got)
	}
	if got := slackEscape("a&b", 6); got != "a…" {
		t.Errorf("slackEscape cut inside an entity: %q", got)
	}
	if got := clip("ééé", 5); got != "…" && got != "é…" {
		t.Errorf("clip: %q", got)
	}
}

func TestSummaryStandIn(t *testing.T) {
	p, _ := prepare(Event{ID: "e", Type: TypeHealthChanged, Subject: "waf-prod", Summary: "  two\nlines  "})
	if p.summary() != "two lines" {
		t.Errorf("summary %q", p.summary())
	}
	p.Summary = ""
	if p.summary() != "apiguard.health.changed: waf-prod" {
		t.Errorf("stand-in %q", p.summary())
	}
}
