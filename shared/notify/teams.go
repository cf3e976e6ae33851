package notify

import "strings"

// Teams: an Adaptive Card wrapped as a message attachment, the shape Teams incoming
// webhooks and Workflows ("When a Teams webhook request is received") accept.

type teamsPayload struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"` // null, as Teams' own samples send it
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	Body    []any         `json:"body"`
	Actions []teamsAction `json:"actions,omitempty"`
	MSTeams *teamsWidth   `json:"msteams,omitempty"`
}

type teamsWidth struct {
	Width string `json:"width"`
}

type teamsText struct {
	Type   string `json:"type"` // TextBlock
	Text   string `json:"text"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Wrap   bool   `json:"wrap"`
}

type teamsFactSet struct {
	Type  string      `json:"type"` // FactSet
	Facts []teamsFact `json:"facts"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type teamsAction struct {
	Type  string `json:"type"` // Action.OpenUrl
	Title string `json:"title"`
	URL   string `json:"url"`
	Style string `json:"style,omitempty"`
}

// Size bounds: a Teams webhook message may hold about 28 KB; these keep a card far
// below it whatever the event carries.
const (
	teamsTitleMax = 1000
	teamsFactMax  = 500
)

func teamsMessage(p prepared) teamsPayload {
	facts := []teamsFact{}
	add := func(title, value string) {
		if value != "" {
			facts = append(facts, teamsFact{Title: title, Value: teamsEscape(clip(value, teamsFactMax))})
		}
	}
	add("Subject", p.Subject)
	add("Type", p.Type)
	add("Time", p.timeText())
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body: []any{
			teamsText{Type: "TextBlock", Text: teamsEscape(clip(p.summary(), teamsTitleMax)), Weight: "Bolder", Size: "Medium", Wrap: true},
			teamsFactSet{Type: "FactSet", Facts: facts},
		},
		MSTeams: &teamsWidth{Width: "Full"},
	}
	for _, l := range p.links() {
		card.Actions = append(card.Actions, teamsAction{Type: "Action.OpenUrl", Title: actionTitle(l.Name), URL: l.URL, Style: actionStyle(l.Name, "positive", "destructive")})
	}
	return teamsPayload{
		Type:        "message",
		Attachments: []teamsAttachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}},
	}
}

// teamsEscape keeps text from the event (addresses, identities, alert names: some of
// it chosen by whoever is being blocked) from being read as Adaptive Card markdown or
// functions: markdown punctuation is backslash-escaped (no injected links, emphasis,
// headings or lists), "{{" is broken up (no {{DATE()}} functions), control characters
// become spaces.
func teamsEscape(s string) string {
	var b strings.Builder
	prev := rune(0)
	for i, r := range s {
		switch {
		case r < ' ' || r == 0x7f:
			r = ' '
		case strings.ContainsRune("\\`*_[]<>#~|", r), i == 0 && (r == '-' || r == '+'):
			b.WriteByte('\\')
		case r == '{' && prev == '{':
			b.WriteRune('\u200b') // zero-width space
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// actionTitle is a link's name as a button label: "approve" -> "Approve".
func actionTitle(name string) string {
	if name == "" {
		return "Open"
	}
	return clip(strings.ToUpper(name[:1])+name[1:], 70)
}

// actionStyle colours the approve and reject buttons.
func actionStyle(name, approve, reject string) string {
	switch name {
	case "approve":
		return approve
	case "reject":
		return reject
	}
	return ""
}
