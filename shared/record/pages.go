package record

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Paged lists over day partitions (ListDecisionsByStatus, ListIncidents).
const (
	defaultPageSize = 100
	maxPageSize     = 1000
	// maxPageDays bounds the partitions one page visits, so a page of a sparse range
	// costs at most this many queries. A page that stops there may be short, even
	// empty, and still carry a token.
	maxPageDays = 31
	// maxFilterLen bounds a filter value: every $filter stays short (Azurite fails
	// long ones with 431).
	maxFilterLen = 256
	// maxTokenLen bounds a page token before it is decoded.
	maxTokenLen = 2048
)

// errPageFull stops a scan once a page has found the first row of the next page.
var errPageFull = errors.New("record: page full")

// dayPager reads one page of the rows of the UTC day partitions of [from, to): a
// query per partition, in RowKey order within it, the partitions oldest first or
// newest first. A row is listed when its time property lies in [from, to) at
// Edm.DateTime precision. The page token is where the next page resumes: a
// partition and the row key of its first row, base64url of JSON, so a page
// never reads a row twice or skips one, whatever was written meanwhile.
type dayPager[T any] struct {
	list        string // names the list in tokens and errors: "decisions", "incidents"
	from, to    time.Time
	timeProp    string // the row's time, compared with from and to
	newestFirst bool
	limit       int
	token       string
	eq          []propEq // exact filters, sent to the service
	sel         string   // the properties decode needs
	decode      func(*entity) (T, error)
}

// pageToken is where a page resumes.
type pageToken struct {
	List string `json:"l"`
	PK   string `json:"p"`
	RK   string `json:"r,omitempty"`
}

// bounds are the first and last day partitions of the range, checked before any I/O.
func (p *dayPager[T]) bounds() (first, last time.Time, err error) {
	switch {
	case p.from.IsZero() || p.to.IsZero():
		return first, last, rejectf("list %s: From and To are required", p.list)
	case !p.to.After(p.from):
		return first, last, rejectf("list %s: To %s is not after From %s", p.list, p.to.UTC().Format(time.RFC3339Nano), p.from.UTC().Format(time.RFC3339Nano))
	case p.limit < 0:
		return first, last, rejectf("list %s: negative Limit %d", p.list, p.limit)
	}
	for _, f := range p.eq {
		if err := checkFilter(p.list, f.name, f.value); err != nil {
			return first, last, err
		}
	}
	return utcDay(p.from), utcDay(p.to.Add(-time.Nanosecond)), nil
}

// checkFilter bounds a filter value, so every $filter stays short.
func checkFilter(list, name, value string) error {
	if n := utf16Len(value); n > maxFilterLen {
		return rejectf("list %s: the %s filter is %d characters; the limit is %d", list, name, n, maxFilterLen)
	}
	return nil
}

// page reads one page from t: at most limit rows, and the token of the next page,
// "" when there is none.
func (p *dayPager[T]) page(ctx context.Context, t rowTable) ([]T, string, error) {
	first, last, err := p.bounds()
	if err != nil {
		return nil, "", err
	}
	day, rk, err := p.resume(first, last)
	if err != nil {
		return nil, "", err
	}
	limit := p.limit
	if limit == 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	step := 1
	if p.newestFirst {
		step = -1
	}
	from, to := edmTime(p.from), edmTime(p.to)
	var out []T
	for n := 0; !day.Before(first) && !day.After(last); n, day = n+1, day.AddDate(0, 0, step) {
		pk := day.Format(dayLayout)
		if n == maxPageDays {
			return out, p.tokenAt(pk, ""), nil
		}
		next := ""
		err := t.scan(ctx, rowRange{pkFrom: pk, pkTo: pk, rkFrom: rk, eq: p.eq}, p.sel, func(e *entity) error {
			if at := e.time(p.timeProp); at.Before(from) || !at.Before(to) {
				return nil
			}
			if len(out) == limit {
				next = p.tokenAt(e.pk, e.rk)
				return errPageFull
			}
			v, err := p.decode(e)
			if err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
		if next != "" {
			return out, next, nil
		}
		if err != nil {
			return nil, "", err
		}
		rk = ""
	}
	return out, "", nil
}

func (p *dayPager[T]) tokenAt(pk, rk string) string {
	b, _ := json.Marshal(pageToken{List: p.list, PK: pk, RK: rk}) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// resume is the day and row key the page starts at: the token's, or the range's
// first day (last, newest first). A token this list did not issue for this range is
// a rejection.
func (p *dayPager[T]) resume(first, last time.Time) (time.Time, string, error) {
	if p.token == "" {
		if p.newestFirst {
			return last, "", nil
		}
		return first, "", nil
	}
	if len(p.token) > maxTokenLen {
		return time.Time{}, "", rejectf("list %s: the page token is %d characters, longer than any this store issues", p.list, len(p.token))
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.token)
	if err != nil {
		return time.Time{}, "", rejectf("list %s: the page token is not base64url: %v", p.list, err)
	}
	var tok pageToken
	if err := json.Unmarshal(raw, &tok); err != nil {
		return time.Time{}, "", rejectf("list %s: the page token does not decode: %v", p.list, err)
	}
	if tok.List != p.list {
		return time.Time{}, "", rejectf("list %s: the page token is one of %q, not of %s", p.list, tok.List, p.list)
	}
	day, err := time.Parse(dayLayout, tok.PK)
	if err != nil || day.Format(dayLayout) != tok.PK {
		return time.Time{}, "", rejectf("list %s: the page token resumes at %q, which is not a day", p.list, tok.PK)
	}
	if day.Before(first) || day.After(last) {
		return time.Time{}, "", rejectf("list %s: the page token resumes on %s, outside the days %s to %s of the query",
			p.list, tok.PK, first.Format(dayLayout), last.Format(dayLayout))
	}
	if utf16Len(tok.RK) > maxKeyLen {
		return time.Time{}, "", rejectf("list %s: the page token resumes at a row key longer than any", p.list)
	}
	return day, tok.RK, nil
}

// utcDay is the start of t's UTC day.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
