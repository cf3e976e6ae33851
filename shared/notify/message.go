package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
)

// ErrInvalid marks an event that cannot be sent at all (no id, no type, data that
// does not encode); it is reported to OnFailure and not retried.
var ErrInvalid = errors.New("invalid event")

// prepared is an event as Notify took it: checked, its links filtered, its data
// encoded once for every target. The embedded Event is the one given, as OnFailure
// reports it.
type prepared struct {
	Event
	data    json.RawMessage
	okLinks map[string]string // the links that are absolute http(s) URLs
	dropped []string          // names of the links left out
}

// prepare checks ev and takes a snapshot of it.
func prepare(ev Event) (prepared, error) {
	var missing []string
	if ev.ID == "" {
		missing = append(missing, "id")
	}
	if ev.Type == "" {
		missing = append(missing, "type")
	}
	if len(missing) > 0 {
		return prepared{Event: ev}, fmt.Errorf("%w: no %s", ErrInvalid, strings.Join(missing, " and no "))
	}
	p := prepared{Event: ev}
	if ev.Data != nil {
		b, err := json.Marshal(ev.Data)
		if err != nil {
			return p, fmt.Errorf("%w: data does not encode as JSON: %w", ErrInvalid, err)
		}
		p.data = b
	}
	for _, name := range slices.Sorted(maps.Keys(ev.Links)) {
		if !absoluteHTTP(ev.Links[name]) {
			p.dropped = append(p.dropped, name)
			continue
		}
		if p.okLinks == nil {
			p.okLinks = map[string]string{}
		}
		p.okLinks[name] = ev.Links[name]
	}
	return p, nil
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// summary is the event's sentence, or a stand-in built from its type and subject.
func (p prepared) summary() string {
	s := strings.Join(strings.Fields(p.Summary), " ") // one line
	if s != "" {
		return s
	}
	if p.Subject != "" {
		return p.Type + ": " + p.Subject
	}
	return p.Type
}

// links in a stable order: approve and reject first (what a reader acts on), then the
// rest by name.
func (p prepared) links() []link {
	names := slices.Sorted(maps.Keys(p.okLinks))
	rank := func(n string) int {
		switch n {
		case "approve":
			return 0
		case "reject":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	out := make([]link, 0, len(names))
	for _, n := range names {
		out = append(out, link{Name: n, URL: p.okLinks[n]})
	}
	return out
}

type link struct{ Name, URL string }

func (p prepared) timeText() string {
	if p.Time.IsZero() {
		return ""
	}
	return p.Time.UTC().Format(time.RFC3339)
}

// ceData is the data of a CloudEvent: the sentence and links a person reads, and the
// event's own document under "detail".
type ceData struct {
	Summary string            `json:"summary"`
	Links   map[string]string `json:"links,omitempty"`
	Detail  json.RawMessage   `json:"detail,omitempty"`
}

// cloudEvent builds and validates the CloudEvent for p with the SDK and encodes it in
// the structured JSON format.
func cloudEvent(p prepared, source string) ([]byte, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(p.ID)
	e.SetType(p.Type)
	e.SetSource(source)
	if p.Subject != "" {
		e.SetSubject(p.Subject)
	}
	if !p.Time.IsZero() {
		e.SetTime(p.Time.UTC())
	}
	if err := e.SetData(event.ApplicationJSON, ceData{Summary: p.summary(), Links: p.okLinks, Detail: p.data}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("%w: not a valid CloudEvent: %w", ErrInvalid, err)
	}
	b, err := format.JSON.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return b, nil
}

// body is what target t receives for p, with its content type.
func body(t Target, p prepared, source string) ([]byte, string, error) {
	switch t.Kind {
	case KindCloudEvents:
		b, err := cloudEvent(p, source)
		return b, format.JSON.MediaType(), err
	case KindTeams:
		b, err := chatJSON(teamsMessage(p))
		return b, "application/json", err
	case KindSlack:
		b, err := chatJSON(slackMessage(p))
		return b, "application/json", err
	}
	return nil, "", fmt.Errorf("%w: unknown target kind %q", ErrInvalid, t.Kind)
}

// chatJSON encodes a chat message as written: "&", "<" and ">" stay themselves
// (the escaping that matters to the chat service is done on the text already).
func chatJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// clip cuts s to at most n bytes at a rune boundary, marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
