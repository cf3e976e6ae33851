package control

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// Paging bounds: a page holds at most maxLimit items, defaultLimit when not asked.
const (
	defaultLimit = 100
	maxLimit     = 500
)

// Page is one page of a list, in the shape Logic Apps and ARM clients follow:
// the items in value, and nextLink to the next page until the last.
type Page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// limit reads the limit parameter: 1 to maxLimit.
func (c *call) limit() (int, error) {
	s := c.query("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, fault.Invalid("limit", "%q is not a whole number from 1 to %d", s, maxLimit)
	}
	return n, nil
}

// page cuts one page out of a whole list. The continuation token is the offset,
// bound to the request's filters, so a token cannot be moved to another query.
func page[T any](c *call, all []T) (Page[T], error) {
	limit, err := c.limit()
	if err != nil {
		return Page[T]{}, err
	}
	from := 0
	if tok := c.query("continuation"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		off, scope, ok := strings.Cut(string(raw), ".")
		n, err2 := strconv.Atoi(off)
		if err != nil || err2 != nil || !ok || n < 0 || scope != c.filterScope() {
			return Page[T]{}, fault.Invalid("continuation", "not a continuation token of this list: start again without it")
		}
		from = n
	}
	from = min(from, len(all))
	to := min(from+limit, len(all))
	out := Page[T]{Value: all[from:to]}
	if out.Value == nil {
		out.Value = []T{}
	}
	if to < len(all) {
		out.NextLink = c.nextLink(base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(to) + "." + c.filterScope())))
	}
	return out, nil
}

// storePage is a page whose continuation the store keeps.
func storePage[T any](c *call, items []T, next string) Page[T] {
	out := Page[T]{Value: items}
	if out.Value == nil {
		out.Value = []T{}
	}
	if next != "" {
		out.NextLink = c.nextLink(next)
	}
	return out
}

// filterScope fingerprints the query's filters (everything but the paging), so an
// offset token only continues the list it came from.
func (c *call) filterScope() string {
	q := c.req.URL.Query()
	q.Del("continuation")
	q.Del("limit")
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s;", k, strings.Join(q[k], ","))
	}
	return fmt.Sprintf("%08x", fnv32(b.String()))
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// nextLink is this request's URL with the continuation token replaced: absolute, as
// Logic Apps' pagination follows it.
func (c *call) nextLink(token string) string {
	u := *c.req.URL
	q := u.Query()
	q.Set("continuation", token)
	u.RawQuery = q.Encode()
	if u.Host == "" {
		u.Host = c.req.Host
	}
	if u.Scheme == "" {
		u.Scheme = "http"
		if c.req.TLS != nil {
			u.Scheme = "https"
		}
	}
	return u.String()
}

// timeRange reads since and until (RFC 3339): until defaults to now, since to back
// days before it; the span is at most maxSpan.
func (c *call) timeRange(back, maxSpan time.Duration) (time.Time, time.Time, error) {
	now := c.api.now().UTC()
	until, err := c.timeParam("until", now.Add(time.Minute))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	since, err := c.timeParam("since", until.Add(-back))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !until.After(since) {
		return time.Time{}, time.Time{}, fault.Invalid("until", "%s is not after since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	if until.Sub(since) > maxSpan {
		return time.Time{}, time.Time{}, fault.Invalid("since", "the range is longer than %s: narrow it", maxSpan)
	}
	return since, until, nil
}

func (c *call) timeParam(name string, def time.Time) (time.Time, error) {
	s := c.query(name)
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fault.Invalid(name, "%q is not an RFC 3339 time (e.g. 2026-11-23T12:00:00Z)", s)
	}
	return t.UTC(), nil
}

// enum reads a parameter that must be one of values ("" when absent).
func enum[T ~string](c *call, name string, values []T) (T, error) {
	s := c.query(name)
	if s == "" {
		return "", nil
	}
	if !slices.Contains(values, T(s)) {
		return "", fault.Invalid(name, "%q is not one of %v", s, values)
	}
	return T(s), nil
}

// text reads a free-text filter: at most 256 printable characters.
func (c *call) text(name string) (string, error) {
	s := c.query(name)
	if len(s) > 256 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fault.Invalid(name, "at most 256 printable characters")
	}
	return s, nil
}

// pathID reads a path parameter: at most 512 printable characters.
func (c *call) pathID(name string) (string, error) {
	s := c.path(name)
	if s == "" || len(s) > 512 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fault.Invalid(name, "at most 512 printable characters")
	}
	return s, nil
}
