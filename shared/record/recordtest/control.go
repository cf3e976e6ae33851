package recordtest

// The cases of the operations the control API needs: decision status, incident
// lookup and listing, offence revert, the allow-list, idempotency keys, health
// records and hourly counters.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/record"
)

// neverDecision is an UpdateDecision fn for a call that must not reach it.
func neverDecision(t *testing.T) func(*record.DecisionRecord) (*record.DecisionRecord, error) {
	return func(*record.DecisionRecord) (*record.DecisionRecord, error) {
		t.Error("UpdateDecision called fn for a call it rejects")
		return nil, nil
	}
}

// allPages reads every page of a list, failing on a page that repeats a token
// (a list that would never end).
func allPages[T any](t *testing.T, page func(token string) ([]T, string, error)) (all []T, pages int) {
	t.Helper()
	seen := map[string]bool{}
	token := ""
	for {
		got, next, err := page(token)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		all = append(all, got...)
		pages++
		if next == "" {
			return all, pages
		}
		if seen[next] {
			t.Fatalf("page %d returned the token %q again", pages, next)
		}
		seen[next] = true
		token = next
	}
}

// isRejection tells whether err is a rejection whose message names want.
func isRejection(err error, want string) bool {
	return err != nil && fault.Of(err) == fault.Reject && strings.Contains(err.Error(), want)
}

func decisionStatus(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	recs := Decisions("inc-status", at, 3)
	updated := at.Add(time.Second + 123456789)
	recs[0].Status, recs[0].Updated = "recorded", updated
	recs[1].Status = "pending"
	if err := s.PutDecisions(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListDecisions(ctx, "inc-status", at)
	if err != nil || len(got) != 3 {
		t.Fatalf("ListDecisions = %d, %v", len(got), err)
	}
	if got[0].Status != "recorded" || !got[0].Updated.Equal(edm(updated)) || got[0].Updated.Location() != time.UTC {
		t.Errorf("decision 0 = %q at %v", got[0].Status, got[0].Updated)
	}
	if got[1].Status != "pending" || !got[1].Updated.IsZero() {
		t.Errorf("decision 1 = %q at %v", got[1].Status, got[1].Updated)
	}
	if got[2].Status != "" {
		t.Errorf("decision 2 has status %q, want none", got[2].Status)
	}
	// A status of 64 characters is the longest.
	recs[2].Status = strings.Repeat("é", 64)
	if err := s.PutDecisions(ctx, recs[2:]); err != nil {
		t.Fatalf("status of 64 characters: %v", err)
	}
}

func updateDecision(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	recs := Decisions("inc-upd/1", at, 3)
	recs[1].Status = "pending"
	if err := s.PutDecisions(ctx, recs); err != nil {
		t.Fatal(err)
	}
	later := at.Add(time.Minute)
	// The argument's event time only chooses the day; the stored one is kept.
	got, wrote, err := s.UpdateDecision(ctx, "inc-upd/1", at.Add(time.Hour), 1, func(cur *record.DecisionRecord) (*record.DecisionRecord, error) {
		if cur == nil || cur.Status != "pending" || cur.Index != 1 || cur.Target != recs[1].Target {
			t.Errorf("cur = %+v", cur)
			return nil, errors.New("bad cur")
		}
		next := *cur
		next.Status, next.Updated = "enforced", later
		next.IncidentID, next.Index, next.EventTime = "other", 7, at.Add(72*time.Hour) // cannot move it
		return &next, nil
	})
	if err != nil || !wrote {
		t.Fatalf("UpdateDecision = %v, %v", wrote, err)
	}
	if got.IncidentID != "inc-upd/1" || got.Index != 1 || !got.EventTime.Equal(at) || got.Status != "enforced" ||
		!got.Updated.Equal(later) || got.Target != recs[1].Target || !bytes.Equal(got.Body, recs[1].Body) {
		t.Fatalf("updated = %+v", got)
	}
	list, err := s.ListDecisions(ctx, "inc-upd/1", at)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListDecisions = %d, %v", len(list), err)
	}
	if !sameDecision(list[1], got) {
		t.Errorf("a read differs from what UpdateDecision returned:\n read %+v\n  upd %+v", list[1], got)
	}
	if list[0].Status != "" || list[2].Status != "" {
		t.Error("the update touched other decisions")
	}

	// nil from fn writes nothing and returns the decision as it is; fn got a copy.
	same, wrote, err := s.UpdateDecision(ctx, "inc-upd/1", at, 1, func(cur *record.DecisionRecord) (*record.DecisionRecord, error) {
		cur.Status = "changed in the copy"
		return nil, nil
	})
	if err != nil || wrote || !sameDecision(same, got) {
		t.Fatalf("no change = %+v, %v, %v", same, wrote, err)
	}
	boom := errors.New("boom")
	if _, wrote, err := s.UpdateDecision(ctx, "inc-upd/1", at, 1, func(*record.DecisionRecord) (*record.DecisionRecord, error) {
		return &record.DecisionRecord{Status: "x"}, boom
	}); !errors.Is(err, boom) || wrote {
		t.Fatalf("fn error = %v, %v", wrote, err)
	}
	// A status too long for the list filter is rejected, and nothing is written.
	if _, _, err := s.UpdateDecision(ctx, "inc-upd/1", at, 1, func(cur *record.DecisionRecord) (*record.DecisionRecord, error) {
		cur.Status = strings.Repeat("s", 65)
		return cur, nil
	}); fault.Of(err) != fault.Reject {
		t.Fatalf("long status = %v, want a rejection", err)
	}
	if list, _ := s.ListDecisions(ctx, "inc-upd/1", at); list[1].Status != "enforced" {
		t.Fatalf("status = %q after rejected updates", list[1].Status)
	}

	// A decision that is not there: ErrNotFound, a 404 rejection, fn not called.
	for name, call := range map[string]func() error{
		"index": func() error { _, _, err := s.UpdateDecision(ctx, "inc-upd/1", at, 3, neverDecision(t)); return err },
		"day": func() error {
			_, _, err := s.UpdateDecision(ctx, "inc-upd/1", at.Add(-24*time.Hour), 1, neverDecision(t))
			return err
		},
		"id": func() error { _, _, err := s.UpdateDecision(ctx, "inc-upd", at, 1, neverDecision(t)); return err },
		"undated": func() error {
			_, _, err := s.UpdateDecision(ctx, "inc-upd/1", time.Time{}, 1, neverDecision(t))
			return err
		},
	} {
		err := call()
		if !errors.Is(err, record.ErrNotFound) || fault.Of(err) != fault.Reject || fault.StatusOf(err) != http.StatusNotFound {
			t.Errorf("missing decision (%s) = %v, want a 404 rejection wrapping ErrNotFound", name, err)
		}
	}
}

func sameDecision(a, b record.DecisionRecord) bool {
	return a.IncidentID == b.IncidentID && a.Index == b.Index && a.EventTime.Equal(b.EventTime) && a.Action == b.Action &&
		a.Target == b.Target && a.Mode == b.Mode && a.Created.Equal(b.Created) && bytes.Equal(a.Body, b.Body) &&
		a.Status == b.Status && a.Updated.Equal(b.Updated)
}

// updateDecisionConcurrent: 10 writers each append to one decision's status; the
// ETag conditions keep every append.
func updateDecisionConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	if err := s.PutDecisions(ctx, Decisions("inc-race", at, 1)); err != nil {
		t.Fatal(err)
	}
	const writers = 10
	err := concurrently(writers, func(int) error {
		_, wrote, err := s.UpdateDecision(ctx, "inc-race", at, 0, func(cur *record.DecisionRecord) (*record.DecisionRecord, error) {
			time.Sleep(time.Millisecond)
			cur.Status += "x"
			return cur, nil
		})
		if err == nil && !wrote {
			err = errors.New("no write")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.ListDecisions(ctx, "inc-race", at)
	if len(got) != 1 || got[0].Status != strings.Repeat("x", writers) {
		t.Fatalf("status = %+v, want %d appends", got, writers)
	}
}

// statusFixture writes decisions on three days and returns the keys
// ("<incident>/<index>") of the pending ones in list order.
func statusFixture(t *testing.T, s Store) (day1 time.Time, pending []string) {
	ctx := testContext(t)
	day1 = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	day2, day3 := day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)
	type inc struct {
		id       string
		at       time.Time
		statuses []string
	}
	incs := []inc{
		{"inc-a", day1.Add(10 * time.Hour), []string{"pending", "enforced", "pending"}},
		{"inc-e", day1.Add(time.Hour), []string{"pending"}},
		{"inc-b", day2.Add(12 * time.Hour), []string{"pending", "pending"}},
		{"inc-c", day3.Add(time.Hour), []string{"pending", "rejected"}},
		{"inc-d", day3.Add(23 * time.Hour), []string{"pending"}},
	}
	var recs []record.DecisionRecord
	for _, in := range incs {
		ds := Decisions(in.id, in.at, len(in.statuses))
		for i := range ds {
			ds[i].Status = in.statuses[i]
		}
		recs = append(recs, ds...)
	}
	if err := s.PutDecisions(ctx, recs); err != nil {
		t.Fatal(err)
	}
	pending = []string{"inc-a/0", "inc-a/2", "inc-e/0", "inc-b/0", "inc-b/1", "inc-c/0", "inc-d/0"}
	return day1, pending
}

func decisionKeysOf(ds []record.DecisionRecord) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%s/%d", d.IncidentID, d.Index)
	}
	return out
}

func decisionsByStatus(t *testing.T, s Store) {
	ctx := testContext(t)
	day1, pending := statusFixture(t, s)
	end := day1.AddDate(0, 0, 3)
	list := func(q record.DecisionQuery) func(string) ([]record.DecisionRecord, string, error) {
		return func(token string) ([]record.DecisionRecord, string, error) {
			q.Token = token
			return s.ListDecisionsByStatus(ctx, q)
		}
	}
	// Pages of 2 walk days oldest first and rows in key order, and end with "".
	got, pages := allPages(t, list(record.DecisionQuery{Status: "pending", From: day1, To: end, Limit: 2}))
	if keys := decisionKeysOf(got); !slices.Equal(keys, pending) || pages != 4 {
		t.Errorf("pending in pages of 2 = %q in %d pages, want %q in 4", keys, pages, pending)
	}
	for _, d := range got {
		if d.Status != "pending" || d.Target == "" || len(d.Body) == 0 || d.EventTime.IsZero() {
			t.Errorf("listed decision %+v", d)
		}
	}
	// A limit of exactly the count still ends with "".
	if got, next, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{Status: "pending", From: day1, To: end, Limit: 7}); err != nil || len(got) != 7 || next != "" {
		t.Errorf("limit 7 = %d, %q, %v", len(got), next, err)
	}
	// The default limit holds them all.
	if got, next, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{Status: "pending", From: day1, To: end}); err != nil || len(got) != 7 || next != "" {
		t.Errorf("default limit = %d, %q, %v", len(got), next, err)
	}
	// Every status.
	if got, _ := allPages(t, list(record.DecisionQuery{From: day1, To: end, Limit: 3})); len(got) != 9 {
		t.Errorf("any status = %d decisions, want 9", len(got))
	}
	if got, _ := allPages(t, list(record.DecisionQuery{Status: "rejected", From: day1, To: end})); !slices.Equal(decisionKeysOf(got), []string{"inc-c/1"}) {
		t.Errorf("rejected = %q", decisionKeysOf(got))
	}
	if got, _ := allPages(t, list(record.DecisionQuery{Status: "Pending", From: day1, To: end})); len(got) != 0 {
		t.Errorf("the status filter ignores case: %q", decisionKeysOf(got))
	}
	// The range is of event times, From included and To excluded, to the tick.
	got, _ = allPages(t, list(record.DecisionQuery{Status: "pending", From: day1.Add(time.Hour + 100), To: day1.AddDate(0, 0, 2).Add(23 * time.Hour)}))
	if keys, want := decisionKeysOf(got), []string{"inc-a/0", "inc-a/2", "inc-b/0", "inc-b/1", "inc-c/0"}; !slices.Equal(keys, want) {
		t.Errorf("bounded range = %q, want %q", keys, want)
	}
	got, _ = allPages(t, list(record.DecisionQuery{Status: "pending", From: day1.Add(time.Hour), To: day1.Add(time.Hour + 100)}))
	if keys := decisionKeysOf(got); !slices.Equal(keys, []string{"inc-e/0"}) {
		t.Errorf("one tick = %q", keys)
	}
	// A sparse range of a year: pages visit a bounded number of days, so some are
	// empty yet carry a token; together they list everything once.
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, pages = allPages(t, list(record.DecisionQuery{Status: "pending", From: year, To: year.AddDate(1, 0, 0)}))
	if keys := decisionKeysOf(got); !slices.Equal(keys, pending) {
		t.Errorf("a year = %q, want %q", keys, pending)
	}
	t.Logf("a year of day partitions in %d pages", pages)
	// A decision written behind the cursor is not listed; one ahead of it is.
	first, next, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{Status: "pending", From: day1, To: end, Limit: 3})
	if err != nil || len(first) != 3 || next == "" {
		t.Fatalf("first page = %d, %q, %v", len(first), next, err)
	}
	late := Decisions("inc-0", day1.Add(time.Hour), 1)
	late = append(late, Decisions("inc-z", day1.AddDate(0, 0, 2).Add(time.Hour), 1)...)
	late[0].Status, late[1].Status = "pending", "pending"
	if err := s.PutDecisions(ctx, late); err != nil {
		t.Fatal(err)
	}
	rest, _ := allPages(t, func(token string) ([]record.DecisionRecord, string, error) {
		if token == "" {
			token = next
		}
		return s.ListDecisionsByStatus(ctx, record.DecisionQuery{Status: "pending", From: day1, To: end, Limit: 3, Token: token})
	})
	want := append(slices.Clone(pending[3:]), "inc-z/0")
	if keys := decisionKeysOf(rest); !slices.Equal(keys, want) {
		t.Errorf("after writes = %q, want %q", keys, want)
	}
}

func decisionTokens(t *testing.T, s Store) {
	ctx := testContext(t)
	day1, _ := statusFixture(t, s)
	q := record.DecisionQuery{Status: "pending", From: day1, To: day1.AddDate(0, 0, 3), Limit: 4}
	_, token, err := s.ListDecisionsByStatus(ctx, q)
	if err != nil || token == "" {
		t.Fatalf("first page: %q, %v", token, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name, token, want string
		from, to          time.Time
	}{
		{"not base64", "not a token!", "base64", q.From, q.To},
		{"not json", b64("garbage"), "decode", q.From, q.To},
		{"another list", b64(`{"l":"incidents","p":"2026-11-22"}`), "incidents", q.From, q.To},
		{"not a day", b64(`{"l":"decisions","p":"undated"}`), "not a day", q.From, q.To},
		{"not a canonical day", b64(`{"l":"decisions","p":"2026-11-22x"}`), "not a day", q.From, q.To},
		{"outside the range", token, "outside", day1, day1.Add(time.Hour)},
		{"too long", strings.Repeat("A", 4096), "token", q.From, q.To},
	}
	for _, c := range cases {
		_, _, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{Status: "pending", From: c.from, To: c.to, Token: c.token})
		if !isRejection(err, c.want) {
			t.Errorf("%s: want a rejection naming %q, got %v", c.name, c.want, err)
		}
	}
	// The token resumes the same query, and also one with another limit.
	rest, next, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{Status: "pending", From: q.From, To: q.To, Token: token})
	if err != nil || next != "" || !slices.Equal(decisionKeysOf(rest), []string{"inc-b/1", "inc-c/0", "inc-d/0"}) {
		t.Errorf("resumed = %q, %q, %v", decisionKeysOf(rest), next, err)
	}
}

func locateIncident(t *testing.T, s Store) {
	ctx := testContext(t)
	at := time.Date(2026, 11, 23, 23, 59, 59, 123456789, time.FixedZone("X", -5*3600))
	for _, rec := range []record.IncidentRecord{
		{ID: "inc-loc/#?%'", EventTime: at, Source: "alert"},
		{ID: "inc-loc-undated", Source: "alert"},
	} {
		if err := s.PutIncident(ctx, rec); err != nil {
			t.Fatal(err)
		}
		got, found, err := s.LocateIncident(ctx, rec.ID)
		if err != nil || !found || !got.Equal(edm(rec.EventTime)) || !rec.EventTime.IsZero() && got.Location() != time.UTC {
			t.Fatalf("LocateIncident(%q) = %v, %v, %v", rec.ID, got, found, err)
		}
		// What it answers reads the incident.
		if inc, found, err := s.GetIncident(ctx, rec.ID, got); err != nil || !found || inc.ID != rec.ID {
			t.Fatalf("GetIncident at the located time = %v, %v", found, err)
		}
	}
	if got, found, err := s.LocateIncident(ctx, "inc-loc"); err != nil || found || !got.IsZero() {
		t.Errorf("unknown id = %v, %v, %v", got, found, err)
	}
	// Written again on another day, the incident is located there.
	moved := at.Add(48 * time.Hour)
	if err := s.PutIncident(ctx, record.IncidentRecord{ID: "inc-loc/#?%'", EventTime: moved}); err != nil {
		t.Fatal(err)
	}
	if got, found, err := s.LocateIncident(ctx, "inc-loc/#?%'"); err != nil || !found || !got.Equal(edm(moved)) {
		t.Errorf("after a move = %v, %v, %v", got, found, err)
	}
}

func incidentIDs(recs []record.IncidentRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func listIncidents(t *testing.T, s Store) {
	ctx := testContext(t)
	day1 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	norm := json.RawMessage(`{"ip":"203.0.113.7"}`)
	incs := []record.IncidentRecord{
		{ID: "inc-b", EventTime: day1.Add(10 * time.Hour), AlertType: "API_SuspiciousIP", Source: "alert"},
		{ID: "inc-a", EventTime: day1.Add(20 * time.Hour), AlertType: "API_Anomaly", Source: "alert"},
		{ID: "inc-c/1", EventTime: day1.AddDate(0, 0, 1).Add(time.Hour), AlertType: "API_SuspiciousIP", Source: "detector"},
		{ID: "inc-e", EventTime: day1.AddDate(0, 0, 3).Add(time.Hour), AlertType: "API_SuspiciousIP", Source: "alert"},
		{ID: "inc-d", EventTime: day1.AddDate(0, 0, 3).Add(2 * time.Hour), AlertType: "API_SuspiciousIP", Source: "alert"},
		{ID: "inc-undated", AlertType: "API_SuspiciousIP", Source: "alert"},
	}
	for i, rec := range incs {
		rec.Received, rec.Severity, rec.DecisionCount, rec.Complete = day1, "High", i, i%2 == 0
		rec.Normalized, rec.Raw = norm, jsonAlert(2048)
		incs[i] = rec
		if err := s.PutIncident(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	// A raw alert cut to fit keeps its flag in a listing.
	cut := record.IncidentRecord{ID: "inc-f", EventTime: day1.Add(time.Hour), Source: "alert", Raw: noise(7, 900*1024), Normalized: norm}
	if err := s.PutIncident(ctx, cut); err != nil {
		t.Fatal(err)
	}
	end := day1.AddDate(0, 0, 4)
	list := func(q record.IncidentQuery) func(string) ([]record.IncidentRecord, string, error) {
		return func(token string) ([]record.IncidentRecord, string, error) {
			q.Token = token
			return s.ListIncidents(ctx, q)
		}
	}
	// Newest day first, id order within a day; pages of 2 end with "".
	got, pages := allPages(t, list(record.IncidentQuery{From: day1, To: end, Limit: 2}))
	if ids, want := incidentIDs(got), []string{"inc-d", "inc-e", "inc-c/1", "inc-a", "inc-b", "inc-f"}; !slices.Equal(ids, want) || pages != 3 {
		t.Fatalf("incidents = %q in %d pages, want %q in 3", ids, pages, want)
	}
	for _, g := range got {
		if g.Raw != nil {
			t.Errorf("%s: a listing returned Raw", g.ID)
		}
		if !bytes.Equal(g.Normalized, norm) {
			t.Errorf("%s: Normalized = %s", g.ID, g.Normalized)
		}
		if g.ID == "inc-f" {
			if !g.RawTruncated {
				t.Error("inc-f: RawTruncated lost in the listing")
			}
			continue
		}
		want := incs[slices.IndexFunc(incs, func(r record.IncidentRecord) bool { return r.ID == g.ID })]
		want.EventTime, want.Received, want.Raw = edm(want.EventTime), edm(want.Received), nil
		assertIncident(t, g, want)
	}
	// Filters, exact.
	got, _ = allPages(t, list(record.IncidentQuery{From: day1, To: end, AlertType: "API_SuspiciousIP", Source: "alert"}))
	if ids, want := incidentIDs(got), []string{"inc-d", "inc-e", "inc-b"}; !slices.Equal(ids, want) {
		t.Errorf("filtered = %q, want %q", ids, want)
	}
	got, _ = allPages(t, list(record.IncidentQuery{From: day1, To: end, Source: "detector"}))
	if ids := incidentIDs(got); !slices.Equal(ids, []string{"inc-c/1"}) {
		t.Errorf("detector = %q", ids)
	}
	// Event-time bounds, From included and To excluded.
	got, _ = allPages(t, list(record.IncidentQuery{From: day1.Add(10 * time.Hour), To: day1.AddDate(0, 0, 3).Add(2 * time.Hour)}))
	if ids, want := incidentIDs(got), []string{"inc-e", "inc-c/1", "inc-a", "inc-b"}; !slices.Equal(ids, want) {
		t.Errorf("bounded = %q, want %q", ids, want)
	}
	// A token of another list is refused.
	if err := s.PutDecisions(ctx, Decisions("inc-a", day1.Add(20*time.Hour), 2)); err != nil {
		t.Fatal(err)
	}
	_, token, err := s.ListDecisionsByStatus(ctx, record.DecisionQuery{From: day1, To: end, Limit: 1})
	if err != nil || token == "" {
		t.Fatalf("decisions page = %q, %v", token, err)
	}
	if _, _, err := s.ListIncidents(ctx, record.IncidentQuery{From: day1, To: end, Token: token}); !isRejection(err, "decisions") {
		t.Errorf("a decisions token: want a rejection naming it, got %v", err)
	}
}

func revertOffences(t *testing.T, s Store) {
	ctx := testContext(t)
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	target := "203.0.113.0/24"
	offences := []record.Offence{
		{Target: target, Time: base, IncidentID: "inc-a/1", Action: "block_waf", Severity: "High"},
		// The same incident at another time (a redelivery with a corrected time): two rows.
		{Target: target, Time: base.Add(time.Minute), IncidentID: "inc-a/1", Action: "block_waf", Severity: "High"},
		{Target: target, Time: base.Add(time.Hour), IncidentID: "inc-b", Action: "throttle"},
		// An incident whose id extends inc-a/1's is another incident.
		{Target: target, Time: base.Add(2 * time.Hour), IncidentID: "inc-a/1-x", Action: "block_waf"},
		{Target: "2001:db8::/32", Time: base, IncidentID: "inc-a/1", Action: "block_waf"},
	}
	for _, o := range offences {
		if err := s.AddOffence(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	count := func(target, exclude string) int {
		t.Helper()
		n, err := s.CountOffences(ctx, target, time.Time{}, exclude)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(target, ""); n != 4 {
		t.Fatalf("before = %d, want 4", n)
	}
	if n, err := s.RevertOffences(ctx, target, "inc-a/1"); n != 2 || err != nil {
		t.Fatalf("RevertOffences = %d, %v; want 2 rows", n, err)
	}
	if n := count(target, ""); n != 2 {
		t.Errorf("after the revert = %d, want 2", n)
	}
	if n := count(target, "inc-b"); n != 1 {
		t.Errorf("after the revert, excluding inc-b = %d, want 1", n)
	}
	if n := count("2001:db8::/32", ""); n != 1 {
		t.Errorf("another target's offence of the incident = %d, want 1: only the target's are reverted", n)
	}
	// Idempotent.
	if n, err := s.RevertOffences(ctx, target, "inc-a/1"); n != 0 || err != nil {
		t.Errorf("again = %d, %v; want 0", n, err)
	}
	if n, err := s.RevertOffences(ctx, target, "inc-zzz"); n != 0 || err != nil {
		t.Errorf("unknown incident = %d, %v", n, err)
	}
	if n, err := s.RevertOffences(ctx, "198.51.100.1", "inc-a/1"); n != 0 || err != nil {
		t.Errorf("unknown target = %d, %v", n, err)
	}
	// Concurrent reverts change each row once.
	changed := make([]int, 5)
	if err := concurrently(len(changed), func(i int) (err error) {
		changed[i], err = s.RevertOffences(ctx, target, "inc-b")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if total := changed[0] + changed[1] + changed[2] + changed[3] + changed[4]; total != 1 {
		t.Errorf("concurrent reverts changed %v rows, want 1 in all", changed)
	}
	if n := count(target, ""); n != 1 {
		t.Errorf("after reverting inc-b = %d, want 1", n)
	}
	// An offence added reverted is not counted either.
	if err := s.AddOffence(ctx, record.Offence{Target: target, Time: base, IncidentID: "inc-c", Reverted: true}); err != nil {
		t.Fatal(err)
	}
	if n := count(target, ""); n != 1 {
		t.Errorf("with a reverted offence added = %d, want 1", n)
	}
}

func allowList(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	entries := []record.AllowEntry{
		{Prefix: "203.0.113.0/24", Reason: "office", Actor: "alice", Created: now, Expires: now.Add(time.Hour)},
		{Prefix: "2001:db8::1/128", Reason: "monitor", Actor: "bob", Created: now},
		{Prefix: "198.51.100.7/32", Reason: "expired partner", Actor: "carol", Created: now, Expires: now.Add(-time.Hour)},
		{Prefix: "0.0.0.0/0", Reason: "everything", Actor: "dave", Created: now},
	}
	for _, e := range entries {
		if err := s.PutAllow(ctx, e); err != nil {
			t.Fatalf("PutAllow(%s): %v", e.Prefix, err)
		}
	}
	got, err := s.ListAllow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Row-key order: the escaped prefixes ("%2F" for "/").
	want := []string{"0.0.0.0/0", "198.51.100.7/32", "2001:db8::1/128", "203.0.113.0/24"}
	var prefixes []string
	for _, g := range got {
		prefixes = append(prefixes, g.Prefix)
		if g.ETag == "" {
			t.Errorf("%s has no ETag", g.Prefix)
		}
		w := entries[slices.IndexFunc(entries, func(e record.AllowEntry) bool { return e.Prefix == g.Prefix })]
		if g.Reason != w.Reason || g.Actor != w.Actor || !g.Created.Equal(edm(w.Created)) || !g.Expires.Equal(edm(w.Expires)) ||
			g.Created.Location() != time.UTC {
			t.Errorf("entry:\n got %+v\nwant %+v", g, w)
		}
	}
	if !slices.Equal(prefixes, want) {
		t.Fatalf("ListAllow = %q, want %q (expired ones included)", prefixes, want)
	}
	// Upsert by prefix: one entry, the new version whole.
	if err := s.PutAllow(ctx, record.AllowEntry{Prefix: "203.0.113.0/24", Reason: "moved", Actor: "erin"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListAllow(ctx)
	if len(got) != 4 || got[3].Reason != "moved" || !got[3].Expires.IsZero() || !got[3].Created.IsZero() {
		t.Fatalf("after a replace: %+v", got)
	}
	// Delete says whether there was an entry.
	if existed, err := s.DeleteAllow(ctx, "203.0.113.0/24"); !existed || err != nil {
		t.Fatalf("DeleteAllow = %v, %v", existed, err)
	}
	if existed, err := s.DeleteAllow(ctx, "203.0.113.0/24"); existed || err != nil {
		t.Fatalf("DeleteAllow again = %v, %v", existed, err)
	}
	got, _ = s.ListAllow(ctx)
	if len(got) != 3 || slices.ContainsFunc(got, func(e record.AllowEntry) bool { return e.Prefix == "203.0.113.0/24" }) {
		t.Fatalf("after the delete: %+v", got)
	}
	// Non-canonical spellings are refused, naming the canonical one.
	for prefix, canonical := range map[string]string{
		"203.0.113.7/24":         "203.0.113.0/24",
		"2001:DB8::1/128":        "2001:db8::1/128",
		"::ffff:203.0.113.7/128": "203.0.113.7/32",
		"203.0.113.7":            "203.0.113.7/32",
		" 203.0.113.0/24":        "203.0.113.0/24",
	} {
		err := s.PutAllow(ctx, record.AllowEntry{Prefix: prefix})
		if !isRejection(err, canonical) {
			t.Errorf("PutAllow(%q): want a rejection naming %q, got %v", prefix, canonical, err)
		}
	}
}

func idempotency(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	const scope, key = "POST /blocks", "key/#?%'é"
	claim := func(hash string, at time.Time) (record.IdempotencyRecord, bool) {
		t.Helper()
		rec, claimed, err := s.ClaimIdempotency(ctx, scope, key, hash, at, time.Minute)
		if err != nil {
			t.Fatalf("ClaimIdempotency: %v", err)
		}
		return rec, claimed
	}
	first, claimed := claim("h1", now)
	if !claimed || first.Scope != scope || first.Key != key || first.RequestHash != "h1" || first.Status != 0 ||
		!first.Created.Equal(edm(now)) || !first.Expires.Equal(edm(now.Add(time.Minute))) || first.ETag == "" || first.Body != nil {
		t.Fatalf("first claim = %+v, %v", first, claimed)
	}
	// In progress: the record comes back unclaimed, whatever the hash.
	for _, hash := range []string{"h1", "h2"} {
		if rec, claimed := claim(hash, now.Add(59*time.Second)); claimed || !sameIdempotency(rec, first) {
			t.Fatalf("claim in progress with %s = %+v, %v", hash, rec, claimed)
		}
	}
	// Another key, and the same key in another scope, are claims of their own.
	if _, claimed, err := s.ClaimIdempotency(ctx, scope, key+"x", "h1", now, time.Minute); !claimed || err != nil {
		t.Fatalf("another key = %v, %v", claimed, err)
	}
	if _, claimed, err := s.ClaimIdempotency(ctx, "DELETE /blocks", key, "h1", now, time.Minute); !claimed || err != nil {
		t.Fatalf("another scope = %v, %v", claimed, err)
	}

	// Finished: the answer comes back with the record.
	body := jsonAlert(300 * 1024) // compressed to fit
	if err := s.FinishIdempotency(ctx, scope, key, http.StatusCreated, "application/json", body, time.Time{}); err != nil {
		t.Fatal(err)
	}
	done, claimed := claim("h1", now.Add(time.Second))
	if claimed || done.Status != http.StatusCreated || done.ContentType != "application/json" || !bytes.Equal(done.Body, body) ||
		done.RequestHash != "h1" || !done.Created.Equal(first.Created) || !done.Expires.Equal(first.Expires) || done.ETag == first.ETag {
		t.Fatalf("finished = status %d, %q, %d bytes, %v", done.Status, done.ContentType, len(done.Body), claimed)
	}
	// An answer that cannot fit is refused and leaves the record as it was.
	if err := s.FinishIdempotency(ctx, scope, key, http.StatusOK, "application/octet-stream", noise(8, 1024*1024), time.Time{}); fault.Of(err) != fault.Reject {
		t.Fatalf("a body too big = %v, want a rejection", err)
	}
	if rec, _ := claim("h1", now.Add(time.Second)); rec.Status != http.StatusCreated || !bytes.Equal(rec.Body, body) {
		t.Fatalf("after a refused finish: status %d", rec.Status)
	}
	// An empty answer, kept a little longer than the claim: Expires moves on, never back.
	if err := s.FinishIdempotency(ctx, scope, key, http.StatusNoContent, "", nil, now.Add(time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if rec, _ := claim("h1", now.Add(time.Second)); rec.Status != http.StatusNoContent || rec.Body != nil || rec.ContentType != "" ||
		!rec.Expires.Equal(edm(now.Add(time.Minute+time.Second))) {
		t.Fatalf("empty answer = %+v", rec)
	}
	if rec, claimed := claim("h1", now.Add(time.Minute)); claimed || rec.Status != http.StatusNoContent {
		t.Fatalf("kept answer claimed at the claim's old expiry = %+v, %v", rec, claimed)
	}
	if err := s.FinishIdempotency(ctx, scope, key, http.StatusNoContent, "", nil, now); err != nil {
		t.Fatal(err)
	}
	if rec, _ := claim("h1", now.Add(time.Second)); !rec.Expires.Equal(edm(now.Add(time.Minute + time.Second))) {
		t.Fatalf("an earlier keepUntil moved Expires back: %v", rec.Expires)
	}

	// Expired at Expires: the next claim replaces it.
	again, claimed := claim("h3", now.Add(time.Minute+time.Second))
	if !claimed || again.RequestHash != "h3" || again.Status != 0 || again.Body != nil || !again.Created.Equal(edm(now.Add(time.Minute+time.Second))) {
		t.Fatalf("claim of an expired key = %+v, %v", again, claimed)
	}
	// Released: the next claim runs again.
	if err := s.ReleaseIdempotency(ctx, scope, key); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseIdempotency(ctx, scope, key); err != nil {
		t.Fatalf("release of a released key: %v", err)
	}
	if rec, claimed := claim("h4", now.Add(time.Minute+time.Second)); !claimed || rec.RequestHash != "h4" {
		t.Fatalf("claim after release = %+v, %v", rec, claimed)
	}
	// Finishing a key nobody claimed: ErrNotFound, a 404 rejection.
	err := s.FinishIdempotency(ctx, scope, "never claimed", http.StatusOK, "", nil, time.Time{})
	if !errors.Is(err, record.ErrNotFound) || fault.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("finish unclaimed = %v", err)
	}
	// 200 characters is the longest key.
	long := strings.Repeat("k", 199) + "é"
	if rec, claimed, err := s.ClaimIdempotency(ctx, scope, long, "h", now, time.Minute); !claimed || err != nil || rec.Key != long {
		t.Fatalf("a key of 200 characters = %v, %v", claimed, err)
	}
}

func sameIdempotency(a, b record.IdempotencyRecord) bool {
	return a.Scope == b.Scope && a.Key == b.Key && a.RequestHash == b.RequestHash && a.Status == b.Status &&
		a.ContentType == b.ContentType && bytes.Equal(a.Body, b.Body) && a.Created.Equal(b.Created) &&
		a.Expires.Equal(b.Expires) && a.ETag == b.ETag
}

// idempotencyConcurrent: of concurrent claims of one key, new or expired, exactly
// one is claimed, and the others see its record.
func idempotencyConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for round, at := range []time.Time{now, now.Add(time.Hour)} { // new, then expired
		const callers = 10
		recs := make([]record.IdempotencyRecord, callers)
		claimed := make([]bool, callers)
		err := concurrently(callers, func(i int) (err error) {
			recs[i], claimed[i], err = s.ClaimIdempotency(ctx, "scope", "race", fmt.Sprintf("h%d-%d", round, i), at, time.Minute)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		winner := slices.Index(claimed, true)
		if n := len(slices.DeleteFunc(slices.Clone(claimed), func(c bool) bool { return !c })); n != 1 {
			t.Fatalf("round %d: %d claims won, want exactly 1", round, n)
		}
		for i, rec := range recs {
			if rec.RequestHash != fmt.Sprintf("h%d-%d", round, winner) || !rec.Created.Equal(at) {
				t.Errorf("round %d, caller %d sees %+v, want the winner's record", round, i, rec)
			}
		}
	}
}

// neverHealth is a MergeHealth fn for a call that must not reach it.
func neverHealth(t *testing.T) func(*record.HealthRecord) (*record.HealthRecord, error) {
	return func(*record.HealthRecord) (*record.HealthRecord, error) {
		t.Error("MergeHealth called fn for a call it rejects")
		return nil, nil
	}
}

func healthRecords(t *testing.T, s Store) {
	ctx := testContext(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	want := record.HealthRecord{
		LastSuccess: now, LastFailure: now.Add(-time.Hour), LastError: strings.Repeat("é", 2000), Count: 1 << 40,
		DesiredHash: "sha256:aa", AppliedHash: "sha256:bb", DiffersSince: now.Add(-time.Minute), Updated: now,
	}
	got, wrote, err := s.MergeHealth(ctx, "target", "waf/policy-1", func(cur *record.HealthRecord) (*record.HealthRecord, error) {
		if cur != nil {
			t.Error("a record before the first write")
		}
		h := want
		h.Kind, h.Name = "ignored", "ignored"
		return &h, nil
	})
	if err != nil || !wrote || got.ETag == "" {
		t.Fatalf("MergeHealth = %v, %v", wrote, err)
	}
	if got.Kind != "target" || got.Name != "waf/policy-1" || got.LastError != strings.Repeat("é", 1024) || got.Count != 1<<40 ||
		!got.LastSuccess.Equal(edm(now)) || !got.LastFailure.Equal(edm(now.Add(-time.Hour))) || !got.DiffersSince.Equal(edm(now.Add(-time.Minute))) ||
		!got.Updated.Equal(edm(now)) || got.DesiredHash != want.DesiredHash || got.AppliedHash != want.AppliedHash || got.LastSuccess.Location() != time.UTC {
		t.Fatalf("stored = %+v", got)
	}
	// Written again: fn sees what is stored; nil writes nothing.
	next, wrote, err := s.MergeHealth(ctx, "target", "waf/policy-1", func(cur *record.HealthRecord) (*record.HealthRecord, error) {
		if cur == nil || *cur != got {
			t.Errorf("cur = %+v, want %+v", cur, got)
			return nil, nil
		}
		cur.AppliedHash, cur.DiffersSince, cur.Count = cur.DesiredHash, time.Time{}, cur.Count+1
		return cur, nil
	})
	if err != nil || !wrote || next.AppliedHash != "sha256:aa" || !next.DiffersSince.IsZero() || next.Count != 1<<40+1 || next.ETag == got.ETag {
		t.Fatalf("second merge = %+v, %v, %v", next, wrote, err)
	}
	same, wrote, err := s.MergeHealth(ctx, "target", "waf/policy-1", func(*record.HealthRecord) (*record.HealthRecord, error) { return nil, nil })
	if err != nil || wrote || same != next {
		t.Fatalf("no change = %+v, %v, %v", same, wrote, err)
	}
	for _, n := range []struct{ kind, name string }{{"function", "alerts"}, {"function", "expiry"}, {"notify", "teams"}, {"target", "apim/svc"}} {
		if _, _, err := s.MergeHealth(ctx, n.kind, n.name, func(*record.HealthRecord) (*record.HealthRecord, error) {
			return &record.HealthRecord{Updated: now}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListHealth(ctx, "target")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "apim/svc" || list[1] != next {
		t.Fatalf("ListHealth(target) = %+v", list)
	}
	if list, err := s.ListHealth(ctx, "function"); err != nil || len(list) != 2 || list[0].Name != "alerts" || list[0].Kind != "function" {
		t.Fatalf("ListHealth(function) = %+v, %v", list, err)
	}
	if list, err := s.ListHealth(ctx, "unknown"); err != nil || len(list) != 0 {
		t.Fatalf("ListHealth(unknown) = %+v, %v", list, err)
	}
}

// healthConcurrent: concurrent merges of one record all count.
func healthConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	const writers = 10
	err := concurrently(writers, func(int) error {
		_, _, err := s.MergeHealth(ctx, "function", "alerts", func(cur *record.HealthRecord) (*record.HealthRecord, error) {
			time.Sleep(time.Millisecond)
			if cur == nil {
				cur = &record.HealthRecord{}
			}
			cur.Count++
			return cur, nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListHealth(ctx, "function"); len(list) != 1 || list[0].Count != writers {
		t.Fatalf("health = %+v, want a count of %d", list, writers)
	}
}

func counters(t *testing.T, s Store) {
	ctx := testContext(t)
	h := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	adds := []struct {
		name string
		at   time.Time
		n    int64
	}{
		{"alerts/received", h.Add(-time.Nanosecond), 1}, // 11:00 hour
		{"alerts/received", h, 2},
		{"alerts/received", h.Add(59 * time.Minute).In(time.FixedZone("X", -3600)), 3}, // still 12:00 UTC
		{"alerts/received", h.Add(time.Hour), 4},
		{"alerts/received", h.Add(25 * time.Hour), 1 << 40}, // the next day
		{"alerts/received", h.Add(time.Hour), -1},
		{"blocks", h, 100},
	}
	for _, a := range adds {
		if err := s.AddCount(ctx, a.name, a.at, a.n); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		from, to time.Time
		want     int64
	}{
		{"everything", h.Add(-24 * time.Hour), h.Add(48 * time.Hour), 1 + 2 + 3 + 4 - 1 + 1<<40},
		{"one hour", h, h.Add(time.Hour), 5},
		{"a moment of the hour counts the hour", h.Add(30 * time.Minute), h.Add(31 * time.Minute), 5},
		{"to is exclusive", h.Add(-time.Hour), h, 1},
		{"one ns into the next hour", h.Add(-time.Hour), h.Add(time.Nanosecond), 6},
		{"from at the end of an hour", h.Add(-time.Nanosecond), h.Add(time.Hour), 6},
		{"two hours", h, h.Add(2 * time.Hour), 8},
		{"another zone", h.In(time.FixedZone("Y", 5*3600)), h.Add(time.Hour).In(time.FixedZone("Y", 5*3600)), 5},
		{"nothing counted", h.Add(-48 * time.Hour), h.Add(-47 * time.Hour), 0},
		{"empty range", h, h, 0},
		{"inverted range", h.Add(time.Hour), h, 0},
	}
	for _, c := range cases {
		got, err := s.SumCounts(ctx, "alerts/received", c.from, c.to)
		if err != nil || got != c.want {
			t.Errorf("%s: SumCounts = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	if got, err := s.SumCounts(ctx, "blocks", h, h.Add(time.Hour)); got != 100 || err != nil {
		t.Errorf("another counter = %d, %v", got, err)
	}
	if got, err := s.SumCounts(ctx, "unknown", h, h.Add(time.Hour)); got != 0 || err != nil {
		t.Errorf("unknown counter = %d, %v", got, err)
	}
}

// countersConcurrent: 30 concurrent adds to one hour all count.
func countersConcurrent(t *testing.T, s Store) {
	ctx := testContext(t)
	h := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const adders = 30
	if err := concurrently(adders, func(i int) error {
		return s.AddCount(ctx, "alerts", h.Add(time.Duration(i)*time.Second), int64(i+1))
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SumCounts(ctx, "alerts", h, h.Add(time.Hour)); got != adders*(adders+1)/2 || err != nil {
		t.Fatalf("SumCounts = %d, %v; want %d", got, err, adders*(adders+1)/2)
	}
}
