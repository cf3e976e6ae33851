package record

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
)

// Memory keeps apiguard's state in process, for the offline commands (plan,
// replay --decide) and tests, which run the online flows without a storage
// account. It holds the rows the Table store would write (same keys, same
// encoding, the operations written once for both), so validation, errors, time
// precision, payload compression and truncation, upserts and list order are the
// Table store's; only the rows live in maps. recordtest.Run is the contract both
// pass; README.md says where they still differ.
//
// It is safe for concurrent use and forgets nothing: it suits runs that end, not
// a long-lived service. Use NewMemory.
type Memory struct {
	incidents, incidentIDs, decisions, blocks, offences, audit, limits memTable
	allow, idempotency, health, counters, triage                       memTable
	conflicts                                                          backoff
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{conflicts: conflictBackoff}
}

// GetIncident is Store.GetIncident.
func (m *Memory) GetIncident(ctx context.Context, id string, eventTime time.Time) (IncidentRecord, bool, error) {
	return getIncident(ctx, &m.incidents, id, eventTime)
}

// PutIncident is Store.PutIncident, with the same compression and truncation.
func (m *Memory) PutIncident(ctx context.Context, rec IncidentRecord) error {
	return putIncident(ctx, &m.incidents, &m.incidentIDs, rec)
}

// ClaimIncident is Store.ClaimIncident.
func (m *Memory) ClaimIncident(ctx context.Context, rec IncidentRecord, now time.Time) (IncidentRecord, bool, error) {
	return claimIncident(ctx, &m.incidents, &m.incidentIDs, m.conflicts, rec, now)
}

// LocateIncident is Store.LocateIncident.
func (m *Memory) LocateIncident(ctx context.Context, id string) (time.Time, bool, error) {
	return locateIncident(ctx, &m.incidentIDs, id)
}

// ListIncidents is Store.ListIncidents, with the same pages and tokens.
func (m *Memory) ListIncidents(ctx context.Context, q IncidentQuery) ([]IncidentRecord, string, error) {
	return listIncidents(ctx, &m.incidents, q)
}

// PutDecisions is Store.PutDecisions; all rows land at once.
func (m *Memory) PutDecisions(ctx context.Context, recs []DecisionRecord) error {
	return putDecisions(ctx, &m.decisions, recs)
}

// ListDecisions is Store.ListDecisions.
func (m *Memory) ListDecisions(ctx context.Context, incidentID string, eventTime time.Time) ([]DecisionRecord, error) {
	return listDecisions(ctx, &m.decisions, incidentID, eventTime)
}

// UpdateDecision is Store.UpdateDecision, with the same optimistic loop as MergeBlock.
func (m *Memory) UpdateDecision(ctx context.Context, incidentID string, eventTime time.Time, index int, fn func(cur *DecisionRecord) (*DecisionRecord, error)) (DecisionRecord, bool, error) {
	return updateDecision(ctx, &m.decisions, m.conflicts, incidentID, eventTime, index, fn)
}

// ListDecisionsByStatus is Store.ListDecisionsByStatus, with the same pages and tokens.
func (m *Memory) ListDecisionsByStatus(ctx context.Context, q DecisionQuery) ([]DecisionRecord, string, error) {
	return listDecisionsByStatus(ctx, &m.decisions, q)
}

// GetBlock is Store.GetBlock.
func (m *Memory) GetBlock(ctx context.Context, action, target string) (Block, bool, error) {
	return getBlock(ctx, &m.blocks, action, target)
}

// MergeBlock is Store.MergeBlock: fn runs without a lock held (it may use the
// store), so a concurrent writer can make it run again, with the same backoff
// and the same bound on attempts.
func (m *Memory) MergeBlock(ctx context.Context, action, target string, fn func(cur *Block) (*Block, error)) (Block, bool, error) {
	return mergeBlock(ctx, &m.blocks, m.conflicts, action, target, fn)
}

// ListBlocks is Store.ListBlocks, in the same order.
func (m *Memory) ListBlocks(ctx context.Context, action string) ([]Block, error) {
	return listBlocks(ctx, &m.blocks, action)
}

// ListExpiredBlocks is Store.ListExpiredBlocks.
func (m *Memory) ListExpiredBlocks(ctx context.Context, action string, now time.Time) ([]Block, error) {
	all, err := listBlocks(ctx, &m.blocks, action)
	if err != nil {
		return nil, err
	}
	return expiredBy(all, edmTime(now)), nil
}

// DeleteBlock is Store.DeleteBlock.
func (m *Memory) DeleteBlock(ctx context.Context, b Block) error {
	return deleteBlock(ctx, &m.blocks, b)
}

// AddOffence is Store.AddOffence.
func (m *Memory) AddOffence(ctx context.Context, o Offence) error {
	return addOffence(ctx, &m.offences, o)
}

// CountOffences is Store.CountOffences.
func (m *Memory) CountOffences(ctx context.Context, target string, since time.Time, excludeIncident string) (int, error) {
	return countOffences(ctx, &m.offences, target, since, excludeIncident)
}

// RevertOffences is Store.RevertOffences.
func (m *Memory) RevertOffences(ctx context.Context, target, incidentID string) (int, error) {
	return revertOffences(ctx, &m.offences, m.conflicts, target, incidentID)
}

// Reserve is Store.Reserve. The counter and the reservation change under one
// lock, so callers never race and no attempt is ever lost.
func (m *Memory) Reserve(ctx context.Context, bucket, key string, limit int) (bool, error) {
	pk, rk, err := limitKeys(bucket, key)
	if err != nil {
		return false, err
	}
	if err := alive(ctx, "reserve in limits"); err != nil {
		return false, err
	}
	t := &m.limits
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, reserved := t.rows[pk][rk]; reserved {
		return true, nil
	}
	count := reservedCount(t.rows[pk][counterRow])
	if count >= int64(limit) {
		return false, nil
	}
	t.put(counterEntity(pk, count+1))
	t.put(reservationEntity(pk, rk, key))
	return true, nil
}

// AppendAudit is Store.AppendAudit; all events land at once.
func (m *Memory) AppendAudit(ctx context.Context, events []AuditEvent) error {
	return appendAudit(ctx, &m.audit, events)
}

// ListAudit is Store.ListAudit.
func (m *Memory) ListAudit(ctx context.Context, from, to time.Time) ([]AuditEvent, error) {
	return listAudit(ctx, &m.audit, from, to)
}

// PutAllow is Store.PutAllow.
func (m *Memory) PutAllow(ctx context.Context, e AllowEntry) error {
	return putAllow(ctx, &m.allow, e)
}

// ListAllow is Store.ListAllow.
func (m *Memory) ListAllow(ctx context.Context) ([]AllowEntry, error) {
	return listAllow(ctx, &m.allow)
}

// DeleteAllow is Store.DeleteAllow.
func (m *Memory) DeleteAllow(ctx context.Context, prefix string) (bool, error) {
	return deleteAllow(ctx, &m.allow, prefix)
}

// ClaimIdempotency is Store.ClaimIdempotency.
func (m *Memory) ClaimIdempotency(ctx context.Context, scope, key, requestHash string, now time.Time, ttl time.Duration) (IdempotencyRecord, bool, error) {
	return claimIdempotency(ctx, &m.idempotency, m.conflicts, scope, key, requestHash, now, ttl)
}

// FinishIdempotency is Store.FinishIdempotency.
func (m *Memory) FinishIdempotency(ctx context.Context, scope, key string, status int, contentType string, body []byte, keepUntil time.Time) error {
	return finishIdempotency(ctx, &m.idempotency, m.conflicts, scope, key, status, contentType, body, keepUntil)
}

// ReleaseIdempotency is Store.ReleaseIdempotency.
func (m *Memory) ReleaseIdempotency(ctx context.Context, scope, key string) error {
	return releaseIdempotency(ctx, &m.idempotency, scope, key)
}

// MergeHealth is Store.MergeHealth, with the same optimistic loop as MergeBlock.
func (m *Memory) MergeHealth(ctx context.Context, kind, name string, fn func(cur *HealthRecord) (*HealthRecord, error)) (HealthRecord, bool, error) {
	return mergeHealth(ctx, &m.health, m.conflicts, kind, name, fn)
}

// ListHealth is Store.ListHealth.
func (m *Memory) ListHealth(ctx context.Context, kind string) ([]HealthRecord, error) {
	return listHealth(ctx, &m.health, kind)
}

// AddCount is Store.AddCount.
func (m *Memory) AddCount(ctx context.Context, name string, at time.Time, n int64) error {
	return addCount(ctx, &m.counters, m.conflicts, name, at, n)
}

// SumCounts is Store.SumCounts.
func (m *Memory) SumCounts(ctx context.Context, name string, from, to time.Time) (int64, error) {
	return sumCounts(ctx, &m.counters, name, from, to)
}

// memTable is one table's rows by PartitionKey, then RowKey. A stored entity is
// never changed, only replaced, so readers may keep it after the lock is released.
type memTable struct {
	mu   sync.RWMutex
	rows map[string]map[string]*entity
	seq  uint64 // writes so far: every write gets a new ETag
}

func (t *memTable) get(ctx context.Context, pk, rk string) (*entity, bool, error) {
	if err := alive(ctx, "get"); err != nil {
		return nil, false, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, found := t.rows[pk][rk]
	return e, found, nil
}

func (t *memTable) upsert(ctx context.Context, e *entity) error {
	return t.upsertAll(ctx, []*entity{e})
}

func (t *memTable) upsertAll(ctx context.Context, rows []*entity) error {
	if len(rows) == 0 {
		return nil
	}
	if err := alive(ctx, "upsert"); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range rows {
		t.put(e)
	}
	return nil
}

// scan visits the rows in r in key order, compared as the service compares keys.
// fn runs after the lock is released.
func (t *memTable) scan(ctx context.Context, r rowRange, _ string, fn func(*entity) error) error {
	if err := alive(ctx, "query"); err != nil {
		return err
	}
	var found []*entity
	t.mu.RLock()
	for pk, part := range t.rows {
		if !r.holdsPartition(pk) {
			continue
		}
		for rk, e := range part {
			if r.holdsRow(rk) && r.matches(e) {
				found = append(found, e)
			}
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(found, func(a, b *entity) int {
		if c := compareKeys(a.pk, b.pk); c != 0 {
			return c
		}
		return compareKeys(a.rk, b.rk)
	})
	for _, e := range found {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *memTable) putIf(ctx context.Context, e *entity, etag string) (string, error) {
	if err := alive(ctx, "write"); err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, found := t.rows[e.pk][e.rk]
	switch {
	case etag == "" && found:
		return "", fmt.Errorf("%w: record: insert %s %s: the row exists", ErrConflict, e.pk, e.rk)
	case etag != "" && !found:
		return "", fmt.Errorf("%w: record: update %s %s: the row is gone", ErrConflict, e.pk, e.rk)
	case etag != "" && cur.etag != etag:
		return "", fmt.Errorf("%w: record: update %s %s: the row has changed", ErrConflict, e.pk, e.rk)
	}
	return t.put(e), nil
}

func (t *memTable) deleteIf(ctx context.Context, pk, rk, etag string) (bool, error) {
	if err := alive(ctx, "delete"); err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, found := t.rows[pk][rk]
	if !found {
		return false, nil
	}
	if etag != "" && cur.etag != etag {
		return false, fmt.Errorf("%w: record: delete %s %s: the row has changed", ErrConflict, pk, rk)
	}
	delete(t.rows[pk], rk)
	if len(t.rows[pk]) == 0 {
		delete(t.rows, pk)
	}
	return true, nil
}

// put stores a copy of e under a new ETag, which it returns; the caller holds mu.
// The copy is what readers share, so the caller may go on using e.
func (t *memTable) put(e *entity) string {
	t.seq++
	c := *e
	c.etag = fmt.Sprintf(`W/"mem-%d"`, t.seq)
	if t.rows == nil {
		t.rows = map[string]map[string]*entity{}
	}
	if t.rows[c.pk] == nil {
		t.rows[c.pk] = map[string]*entity{}
	}
	t.rows[c.pk][c.rk] = &c
	return c.etag
}

// alive fails an operation whose context has ended, as a call to the service
// would fail: transient, so the caller retries.
func alive(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fault.Transient(fmt.Errorf("record: memory %s: %w", op, err))
	}
	return nil
}
