package notify

import "strings"

// Slack: an incoming webhook message, {"text": ..., "blocks": [...]}. "text" is the
// fallback shown in notifications; the blocks carry the same content.

type slackPayload struct {
	Text   string `json:"text"`
	Blocks []any  `json:"blocks"`
}

type slackText struct {
	Type string `json:"type"` // mrkdwn or plain_text
	Text string `json:"text"`
}

type slackSection struct {
	Type   string      `json:"type"` // section
	Text   *slackText  `json:"text,omitempty"`
	Fields []slackText `json:"fields,omitempty"`
}

type slackActions struct {
	Type     string        `json:"type"` // actions
	Elements []slackButton `json:"elements"`
}

type slackButton struct {
	Type  string    `json:"type"` // button
	Text  slackText `json:"text"`
	URL   string    `json:"url"`
	Style string    `json:"style,omitempty"`
}

// Slack's limits: a section's text 3000 characters, a field 2000, a button's label
// 75, its URL 3000, 25 elements in an actions block.
const (
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackButtonMax  = 75
	slackURLMax     = 3000
	slackActionsMax = 25
)

func slackMessage(p prepared) slackPayload {
	title := slackEscape(p.summary(), slackSectionMax-2)
	blocks := []any{slackSection{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "*" + title + "*"}}}
	var fields []slackText
	add := func(name, value string) {
		if value != "" {
			label := "*" + name + "*\n"
			fields = append(fields, slackText{Type: "mrkdwn", Text: label + slackEscape(value, slackFieldMax-len(label))})
		}
	}
	add("Subject", p.Subject)
	add("Type", p.Type)
	add("Time", p.timeText())
	if len(fields) > 0 {
		blocks = append(blocks, slackSection{Type: "section", Fields: fields})
	}
	var buttons []slackButton
	for _, l := range p.links() {
		if len(l.URL) > slackURLMax || len(buttons) == slackActionsMax {
			continue // Slack refuses the whole message otherwise
		}
		buttons = append(buttons, slackButton{
			Type:  "button",
			Text:  slackText{Type: "plain_text", Text: clip(actionTitle(l.Name), slackButtonMax)},
			URL:   l.URL,
			Style: actionStyle(l.Name, "primary", "danger"),
		})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slackActions{Type: "actions", Elements: buttons})
	}
	return slackPayload{Text: title, Blocks: blocks}
}

// slackEscape writes s as mrkdwn text of at most max bytes: the control characters
// "&", "<" and ">" become entities (so event text cannot make links, mentions or
// @channel pings), control characters become spaces, and a cut never splits an entity.
func slackEscape(s string, max int) string {
	const more = "…"
	var b strings.Builder
	fits := -1 // the length at the last piece that leaves room for the mark
	for _, r := range s {
		var piece string
		switch {
		case r == '&':
			piece = "&amp;"
		case r == '<':
			piece = "&lt;"
		case r == '>':
			piece = "&gt;"
		case r < ' ' || r == 0x7f:
			piece = " "
		default:
			piece = string(r)
		}
		if fits < 0 && b.Len()+len(piece) > max-len(more) {
			fits = b.Len()
		}
		b.WriteString(piece)
		if b.Len() > max {
			return b.String()[:fits] + more
		}
	}
	return b.String()
}
