package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Kind is the shape a target receives.
type Kind string

const (
	KindCloudEvents Kind = "cloudevents" // CloudEvents 1.0, structured JSON (application/cloudevents+json)
	KindTeams       Kind = "teams"       // a Teams (or Workflows) webhook: an Adaptive Card in a message
	KindSlack       Kind = "slack"       // a Slack incoming webhook: {"text", "blocks"}
)

// Kinds lists every kind.
func Kinds() []Kind { return []Kind{KindCloudEvents, KindTeams, KindSlack} }

// Target is one receiver of events.
type Target struct {
	Name string // unique; names the target in logs and in OnFailure
	URL  string // https (http only for loopback hosts)
	Kind Kind
	// Types are the event types to send, each a type or a prefix ending in "."
	// ("apiguard.block."); empty sends every type.
	Types []string
	// Header, when set, is sent with Secret as its value ("Authorization",
	// "x-functions-key"). Both or neither.
	Header string
	Secret string
}

// Wants reports whether the target takes events of type typ.
func (t Target) Wants(typ string) bool {
	if len(t.Types) == 0 {
		return true
	}
	for _, f := range t.Types {
		if f == typ || (strings.HasSuffix(f, ".") && strings.HasPrefix(typ, f)) {
			return true
		}
	}
	return false
}

// settingFields are the fields of a target in the setting, spelled exactly.
var settingFields = []string{"name", "url", "kind", "types", "header", "secretSetting"}

// targetSetting is one element of the targets setting.
type targetSetting struct {
	Name          string   `json:"name"`
	URL           string   `json:"url"`
	Kind          string   `json:"kind"`
	Types         []string `json:"types"`
	Header        string   `json:"header"`
	SecretSetting string   `json:"secretSetting"`
}

// ParseTargets reads the notification targets from a setting: a JSON array of
// {"name", "url", "kind", "types", "header", "secretSetting"}, where secretSetting names
// another setting, read through lookup, that holds the header's value (a secret is
// never written inline). An empty setting means no targets. Every problem is named at
// once, with the target's index; errors never repeat a secret or a URL's path or query
// (chat webhook URLs carry their credential there).
func ParseTargets(setting string, lookup func(name string) (string, bool)) ([]Target, error) {
	if strings.TrimSpace(setting) == "" {
		return nil, nil
	}
	var raw []json.RawMessage
	dec := json.NewDecoder(strings.NewReader(setting))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("notification targets: not a JSON array of objects: %w", err)
	}
	if dec.More() {
		return nil, errors.New("notification targets: text after the JSON array")
	}
	var errs []error
	var out []Target
	seen := map[string]int{}
	for i, r := range raw {
		t, problems := parseTarget(r, lookup)
		if t.Name != "" {
			key := strings.ToLower(t.Name)
			if j, dup := seen[key]; dup {
				problems = append(problems, fmt.Sprintf("name %q is already used by target %d", t.Name, j))
			} else {
				seen[key] = i
			}
		}
		if len(problems) > 0 {
			label := fmt.Sprintf("notification target %d", i)
			if t.Name != "" {
				label += fmt.Sprintf(" (%s)", t.Name)
			}
			for _, p := range problems {
				errs = append(errs, fmt.Errorf("%s: %s", label, p))
			}
			continue
		}
		out = append(out, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// parseTarget reads one element; it returns the problems found, all of them.
func parseTarget(r json.RawMessage, lookup func(string) (string, bool)) (Target, []string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r, &fields); err != nil || fields == nil {
		return Target{}, []string{"not a JSON object"}
	}
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(settingFields, k) {
			problems = append(problems, fmt.Sprintf("unknown field %q (fields: %s)", k, strings.Join(settingFields, ", ")))
		}
	}
	var s targetSetting
	if err := json.Unmarshal(r, &s); err != nil {
		// A field of the wrong type stays empty; the others are still checked.
		problems = append(problems, describeDecodeError(err))
	}
	t := Target{Name: strings.TrimSpace(s.Name), Kind: Kind(s.Kind), Header: s.Header}
	if t.Name == "" {
		problems = append(problems, "name is missing")
	}
	if u, p := checkURL(s.URL); p != "" {
		problems = append(problems, p)
	} else {
		t.URL = u
	}
	if !slices.Contains(Kinds(), t.Kind) {
		problems = append(problems, fmt.Sprintf("kind %q is not one of %v", s.Kind, Kinds()))
	}
	for _, typ := range s.Types {
		if p := checkTypeFilter(typ); p != "" {
			problems = append(problems, p)
		} else if !slices.Contains(t.Types, typ) {
			t.Types = append(t.Types, typ)
		}
	}
	switch {
	case s.Header != "" && s.SecretSetting == "":
		problems = append(problems, fmt.Sprintf("header %q has no secretSetting to take its value from", s.Header))
	case s.Header == "" && s.SecretSetting != "":
		problems = append(problems, fmt.Sprintf("secretSetting %q names no header to send it in", s.SecretSetting))
	case s.Header != "":
		if p := checkHeaderName(s.Header); p != "" {
			problems = append(problems, p)
		}
		secret, ok := "", false
		if lookup != nil {
			secret, ok = lookup(s.SecretSetting)
		}
		switch {
		case !ok || secret == "":
			problems = append(problems, fmt.Sprintf("secretSetting %q is not set", s.SecretSetting))
		case !validHeaderValue(secret):
			problems = append(problems, fmt.Sprintf("the value of secretSetting %q cannot be sent in a header (it holds control characters)", s.SecretSetting))
		default:
			t.Secret = secret
		}
	}
	return t, problems
}

// describeDecodeError names a decoding problem without quoting the input.
func describeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q: expected %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	return "not a valid target object"
}

// checkURL accepts an absolute https URL, or http for a loopback host (local tests).
// Its problem names the scheme and host only.
func checkURL(s string) (string, string) {
	if s == "" {
		return "", "url is missing"
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", "url is not an absolute URL"
	}
	if u.User != nil {
		return "", "url carries user information; send credentials with header and secretSetting"
	}
	if u.Fragment != "" {
		return "", "url has a fragment"
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return "", fmt.Sprintf("url is http://%s: only https is allowed (http only for loopback hosts)", u.Host)
		}
	default:
		return "", fmt.Sprintf("url scheme %q is not https", u.Scheme)
	}
	return u.String(), ""
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkTypeFilter accepts an event type, or a prefix ending in "." of at least one.
func checkTypeFilter(f string) string {
	if slices.Contains(Types(), f) {
		return ""
	}
	if strings.HasSuffix(f, ".") {
		for _, typ := range Types() {
			if strings.HasPrefix(typ, f) {
				return ""
			}
		}
	}
	return fmt.Sprintf("types: %q is neither an event type nor a prefix of one ending in \".\" (types: %v)", f, Types())
}

// Headers a target may not set: the dispatcher writes them.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection", "User-Agent"}

func checkHeaderName(h string) string {
	if !validToken(h) {
		return fmt.Sprintf("header %q is not a valid header name", h)
	}
	if slices.Contains(reservedHeaders, http.CanonicalHeaderKey(h)) {
		return fmt.Sprintf("header %q is set by the dispatcher", h)
	}
	return ""
}

// validToken reports an RFC 9110 token (a header field name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab (CR and LF above all).
func validHeaderValue(s string) bool {
	for _, c := range []byte(s) {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
