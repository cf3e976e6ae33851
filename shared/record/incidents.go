package record

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Incident property names; Raw and Normalized are chunked (see chunks.go).
const (
	propRaw        = "Raw"
	propNormalized = "Normalized"
)

// incidentKeys: the UTC day of the event partitions incidents, so a day's
// incidents are one partition scan and no partition grows forever; the id is
// the row. The caller needs the event time for a point read, which it has:
// the alert carries it.
func incidentKeys(id string, eventTime time.Time) (string, string, error) {
	rk := escapeKey(id)
	if err := checkKey("incident id", rk); err != nil {
		return "", "", err
	}
	return dayPartition(eventTime), rk, nil
}

// GetIncident reads an incident by id and event time; found is false when it
// has not been stored.
func (s *Store) GetIncident(ctx context.Context, id string, eventTime time.Time) (IncidentRecord, bool, error) {
	return getIncident(ctx, s.incidents, id, eventTime)
}

func getIncident(ctx context.Context, t rowTable, id string, eventTime time.Time) (IncidentRecord, bool, error) {
	pk, rk, err := incidentKeys(id, eventTime)
	if err != nil {
		return IncidentRecord{}, false, err
	}
	e, found, err := t.get(ctx, pk, rk)
	if err != nil || !found {
		return IncidentRecord{}, false, err
	}
	rec, err := incidentFrom(e)
	return rec, err == nil, err
}

// ClaimIncident makes the caller the one delivery that decides an incident, so
// concurrent deliveries of one alert decide, audit and answer once. rec is the
// incomplete incident to claim, with ClaimedUntil the end of the caller's lease.
//
// It returns the record stored and claimed true when the caller holds the claim:
// the incident was absent (insert-only: of concurrent claims one wins), or it is
// incomplete and its claim lapsed at or before now or was released (replaced
// If-Match the ETag read, keeping the first Received, so a retry after a crash or
// a failure takes over what the first attempt started). Otherwise it returns the
// incident as stored (complete, or claimed by a live delivery) and false, and the
// caller reports a duplicate or waits for the holder. The returned record carries
// its ETag: the holder completes or releases the incident with PutIncident under
// it, which fails with ErrConflict if its claim was taken over meanwhile.
func (s *Store) ClaimIncident(ctx context.Context, rec IncidentRecord, now time.Time) (IncidentRecord, bool, error) {
	return claimIncident(ctx, s.incidents, s.incidentIDs, s.conflicts, rec, now)
}

func claimIncident(ctx context.Context, t, index rowTable, conflicts backoff, rec IncidentRecord, now time.Time) (IncidentRecord, bool, error) {
	pk, rk, err := incidentKeys(rec.ID, rec.EventTime)
	if err != nil {
		return IncidentRecord{}, false, err
	}
	switch {
	case rec.Complete:
		return IncidentRecord{}, false, rejectf("claim incident %s: a claim is for an incomplete incident", rec.ID)
	case !rec.ClaimedUntil.After(now):
		return IncidentRecord{}, false, rejectf("claim incident %s: the claim ends %v, not after %v", rec.ID, rec.ClaimedUntil, now)
	}
	if err := putIncidentIndex(ctx, index, rk, rec.EventTime); err != nil {
		return IncidentRecord{}, false, err
	}
	m := rowMerge[IncidentRecord]{
		op: "claim incident " + rec.ID, pk: pk, rk: rk,
		decode: incidentFrom,
		encode: func(r IncidentRecord) (*entity, error) { return incidentEntity(r) },
	}
	return m.run(ctx, t, conflicts, func(cur *IncidentRecord) (*IncidentRecord, error) {
		if cur == nil {
			return &rec, nil
		}
		if cur.Complete || cur.ClaimedUntil.After(now) {
			return nil, nil
		}
		next := rec
		next.Received = cur.Received // the first sighting stays the first
		return &next, nil
	})
}

// PutIncident inserts or replaces an incident. The raw and normalized alert are
// compressed; if they still exceed the entity limit they are cut and flagged
// rather than failing the write (README.md, "Large alerts"). With rec.ETag set
// it replaces only that version of the row (the claim ClaimIncident returned),
// and another version or none is an error wrapping ErrConflict.
//
// It first writes the incident's index row (its id and event time, for
// LocateIncident), then the incident: a failure between the two leaves an index
// row pointing at nothing, which LocateIncident reports as found and GetIncident
// then as not found, never an incident LocateIncident cannot find. The retry
// rewrites both. The index follows the last write: an incident written again
// with an event time on another day is located there.
func (s *Store) PutIncident(ctx context.Context, rec IncidentRecord) error {
	return putIncident(ctx, s.incidents, s.incidentIDs, rec)
}

func putIncident(ctx context.Context, t, index rowTable, rec IncidentRecord) error {
	e, err := incidentEntity(rec)
	if err != nil {
		return err
	}
	if err := putIncidentIndex(ctx, index, e.rk, rec.EventTime); err != nil {
		return err
	}
	if rec.ETag != "" {
		_, err := t.putIf(ctx, e, rec.ETag)
		return err
	}
	return t.upsert(ctx, e)
}

// putIncidentIndex writes the index row of the incident whose escaped id is rk.
func putIncidentIndex(ctx context.Context, index rowTable, rk string, eventTime time.Time) error {
	ix := newEntity(rk, incidentIndexRow)
	ix.setTime("EventTime", eventTime)
	return index.upsert(ctx, ix)
}

// incidentIndexRow is the row key of an incident's index row. Its partition is the
// escaped incident id: a point read by id alone, and every write to its own
// partition.
const incidentIndexRow = "at"

// LocateIncident finds an incident's event time from its id alone, with one point
// read of the index PutIncident keeps. found is false for an id never written; an
// undated incident is found with the zero time. The incident itself may still be
// missing (see PutIncident): read it with GetIncident.
func (s *Store) LocateIncident(ctx context.Context, id string) (time.Time, bool, error) {
	return locateIncident(ctx, s.incidentIDs, id)
}

func locateIncident(ctx context.Context, index rowTable, id string) (time.Time, bool, error) {
	_, rk, err := incidentKeys(id, time.Time{})
	if err != nil {
		return time.Time{}, false, err
	}
	e, found, err := index.get(ctx, rk, incidentIndexRow)
	if err != nil || !found {
		return time.Time{}, false, err
	}
	return e.time("EventTime"), true, nil
}

// ListIncidents returns a page of the incidents whose event time lies in
// [q.From, q.To), of q.AlertType and q.Source when they are set (exact, filtered
// by the service). Days come newest first, one query per day partition, at most
// 31 per page; within a day incidents come in id order (the row key), not by
// time. A page may hold fewer than q.Limit incidents, even none, and still return
// a token; the token ("" after the last page) is opaque, and one this list did
// not issue for this range is a fault.Rejected error. Undated incidents are in no
// range. A listing reads and returns everything but Raw (nil; RawTruncated is
// still set): the normalized document is what a list shows.
func (s *Store) ListIncidents(ctx context.Context, q IncidentQuery) ([]IncidentRecord, string, error) {
	return listIncidents(ctx, s.incidents, q)
}

func listIncidents(ctx context.Context, t rowTable, q IncidentQuery) ([]IncidentRecord, string, error) {
	p := dayPager[IncidentRecord]{
		list: "incidents", from: q.From, to: q.To, timeProp: "EventTime", newestFirst: true,
		limit: q.Limit, token: q.Token, sel: incidentListSelect, decode: incidentListed,
	}
	for _, f := range []propEq{{"AlertType", q.AlertType}, {"Source", q.Source}} {
		if f.value != "" {
			p.eq = append(p.eq, f)
		}
	}
	return p.page(ctx, t)
}

// incidentListSelect is what ListIncidents reads of a row: everything but the raw
// alert's chunks.
var incidentListSelect = func() string {
	names := []string{"PartitionKey", "RowKey", "EventTime", "Received", "AlertType", "Severity", "Source",
		"DecisionCount", "Complete", "ClaimedUntil", "Undecided", "UndecidedReason", propRaw + truncatedSuffix, propNormalized + truncatedSuffix, propNormalized + lengthSuffix}
	for i := range maxChunks {
		names = append(names, fmt.Sprintf("%s%d", propNormalized, i))
	}
	return strings.Join(names, ",")
}()

func incidentEntity(rec IncidentRecord) (*entity, error) {
	pk, rk, err := incidentKeys(rec.ID, rec.EventTime)
	if err != nil {
		return nil, err
	}
	e := newEntity(pk, rk)
	e.setString("ID", rec.ID)
	e.setTime("EventTime", rec.EventTime)
	e.setTime("Received", rec.Received)
	e.setString("AlertType", rec.AlertType)
	e.setString("Severity", rec.Severity)
	e.setString("Source", rec.Source)
	e.setInt("DecisionCount", int64(rec.DecisionCount))
	e.setBool("Complete", rec.Complete)
	e.setTime("ClaimedUntil", rec.ClaimedUntil)
	if rec.Undecided > 0 {
		e.setInt("Undecided", int64(rec.Undecided))
	}
	e.setString("UndecidedReason", rec.UndecidedReason)
	budget, err := payloadBudget(e)
	if err != nil {
		return nil, fmt.Errorf("record: encode incident %s: %w", rec.ID, err)
	}
	// The normalized document goes first and only whole: it is what the API
	// serves and is much smaller. The raw alert is the one worth cutting, since a
	// prefix of it is still evidence.
	used, _ := putChunks(e, propNormalized, rec.Normalized, budget, true)
	putChunks(e, propRaw, rec.Raw, budget-used, false)
	return e, nil
}

func incidentFrom(e *entity) (IncidentRecord, error) {
	rec, err := incidentListed(e)
	if err != nil {
		return IncidentRecord{}, err
	}
	rec.Raw, rec.RawTruncated, err = getChunks(e, propRaw)
	if err != nil {
		return IncidentRecord{}, fmt.Errorf("record: incident %s: %w", rec.ID, err)
	}
	return rec, nil
}

// incidentListed is an incident without its raw alert, as ListIncidents returns it.
func incidentListed(e *entity) (IncidentRecord, error) {
	rec := IncidentRecord{
		ID:            unescapeKey(e.rk),
		EventTime:     e.time("EventTime"),
		Received:      e.time("Received"),
		AlertType:     e.str("AlertType"),
		Severity:      e.str("Severity"),
		Source:        e.str("Source"),
		DecisionCount: int(e.int("DecisionCount")),
		Complete:      e.boolean("Complete"),
		RawTruncated:  e.boolean(propRaw + truncatedSuffix),

		ClaimedUntil:    e.time("ClaimedUntil"),
		Undecided:       int(e.int("Undecided")),
		UndecidedReason: e.str("UndecidedReason"),
		ETag:            e.etag,
	}
	norm, cut, err := getChunks(e, propNormalized)
	if err != nil {
		return IncidentRecord{}, fmt.Errorf("record: incident %s: %w", rec.ID, err)
	}
	if cut {
		rec.NormalizedTruncated = true
	} else {
		rec.Normalized = norm
	}
	return rec, nil
}
