// Package record keeps apiguard's state in Azure Table Storage: incidents and
// their decisions, the desired blocks the reconcilers enforce, offence history
// for escalation, rate-limit reservations and the audit trail, and for the
// control API an allow-list, idempotency keys, health records and hourly counters.
//
// The key design (what is a partition, what is a row, and why) is in README.md.
package record

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/fault"
)

// Options says how to reach the storage account.
type Options struct {
	ConnectionString string                 // either this ...
	ServiceURL       string                 // ... or this with Credential (managed identity)
	Credential       azcore.TokenCredential //
	TablePrefix      string                 // letters and digits, first a letter, at most 52; tables are <prefix>Incidents, <prefix>Decisions, ...
	ClientOptions    *aztables.ClientOptions
	// CallTimeout bounds one try of one request (the SDK's TryTimeout, unless
	// ClientOptions sets one): a storage endpoint that accepts and never answers
	// fails the try, which the SDK retries while the caller's context allows.
	// Zero leaves tries unbounded but for the context.
	CallTimeout time.Duration
}

// maxTableName is Table Storage's limit on a table's name.
const maxTableName = 63

// Store reads and writes apiguard's tables. It is safe for concurrent use; keep
// one per process so each table is created at most once.
type Store struct {
	incidents, incidentIDs, decisions, blocks, offences, audit, limits, detect *table
	allow, idempotency, health, counters, triage                               *table
	conflicts                                                                  backoff

	// reserveLocks queue this process's callers of Reserve per bucket (striped), so a
	// burst of alerts in one instance takes the counter in turn instead of failing
	// each other's ETag conditions; the conditions still arbitrate between instances.
	reserveLocks [64]sync.Mutex
}

// tableName is a table of a Store and its name after the prefix.
type tableName struct {
	t      **table
	suffix string
}

// tableNames are the tables of s: the one list New builds them from and the
// prefix's length is checked against.
func (s *Store) tableNames() []tableName {
	return []tableName{
		{&s.incidents, "Incidents"},
		{&s.incidentIDs, "IncidentIds"},
		{&s.decisions, "Decisions"},
		{&s.blocks, "Blocks"},
		{&s.offences, "Offences"},
		{&s.audit, "Audit"},
		{&s.limits, "Limits"},
		{&s.detect, "Detect"},
		{&s.allow, "Allow"},
		{&s.idempotency, "Idempotency"},
		{&s.health, "Health"},
		{&s.counters, "Counters"},
		{&s.triage, "Triage"},
	}
}

// New validates opts and builds the clients. It does no network I/O: the
// Functions host must start fast, and tables are created on first use.
func New(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var (
		svc   *aztables.ServiceClient
		err   error
		copts aztables.ClientOptions
	)
	if opts.ClientOptions != nil {
		copts = *opts.ClientOptions
	}
	if copts.Retry.TryTimeout == 0 {
		copts.Retry.TryTimeout = opts.CallTimeout
	}
	if opts.ConnectionString != "" {
		svc, err = aztables.NewServiceClientFromConnectionString(opts.ConnectionString, &copts)
	} else {
		svc, err = aztables.NewServiceClient(opts.ServiceURL, opts.Credential, &copts)
	}
	if err != nil {
		// A malformed connection string fails here, still without I/O.
		return nil, fmt.Errorf("record: invalid options: storage client: %w", err)
	}
	s := &Store{conflicts: conflictBackoff}
	for _, n := range s.tableNames() {
		*n.t = newTable(svc, opts.TablePrefix+n.suffix)
	}
	return s, nil
}

// validate names every problem at once, so one deployment fixes them all.
func (o Options) validate() error {
	var errs []error
	switch {
	case o.ConnectionString != "" && o.ServiceURL != "":
		errs = append(errs, errors.New("set either ConnectionString or ServiceURL with Credential, not both"))
	case o.ConnectionString == "" && o.ServiceURL == "":
		errs = append(errs, errors.New("ConnectionString or ServiceURL is required"))
	case o.ServiceURL != "":
		// azcore refuses to send a bearer token over plain http, and would only
		// say so on the first request.
		if u, err := url.Parse(o.ServiceURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("ServiceURL %q must be an https URL", o.ServiceURL))
		}
		if o.Credential == nil {
			errs = append(errs, errors.New("ServiceURL needs a Credential (managed identity)"))
		}
	}
	if o.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("CallTimeout %v is negative", o.CallTimeout))
	}
	for i, r := range o.TablePrefix {
		letter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			errs = append(errs, fmt.Errorf("TablePrefix %q must be letters and digits, starting with a letter", o.TablePrefix))
			break
		}
	}
	longest := 0
	for _, n := range (&Store{}).tableNames() {
		longest = max(longest, len(n.suffix))
	}
	if n := len(o.TablePrefix) + longest; n > maxTableName {
		errs = append(errs, fmt.Errorf("TablePrefix %q is too long: table names are at most %d characters", o.TablePrefix, maxTableName))
	}
	if len(errs) > 0 {
		return fmt.Errorf("record: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// table is one table and whether this Store has made sure it exists.
type table struct {
	name    string
	client  *aztables.Client
	created atomic.Bool
	// creating admits one creator at a time; a channel rather than a mutex so a
	// waiting caller still honours its context.
	creating chan struct{}
}

func newTable(svc *aztables.ServiceClient, name string) *table {
	return &table{name: name, client: svc.NewClient(name), creating: make(chan struct{}, 1)}
}

// ensure creates the table on first use. Success (or TableAlreadyExists) is
// remembered; a failure is not, so the next call tries again.
func (t *table) ensure(ctx context.Context) error {
	if t.created.Load() {
		return nil
	}
	select {
	case t.creating <- struct{}{}:
	case <-ctx.Done():
		return fault.Transient(fmt.Errorf("record: create table %s: %w", t.name, ctx.Err()))
	}
	defer func() { <-t.creating }()
	if t.created.Load() {
		return nil
	}
	_, err := t.client.CreateTable(ctx, nil)
	if err != nil {
		if _, code := statusOf(err); code != string(aztables.TableAlreadyExists) {
			return classify("create table "+t.name, err)
		}
	}
	t.created.Store(true)
	return nil
}

// check classifies err and forgets the table if it has been deleted under us.
func (t *table) check(op string, err error) error {
	if err != nil && isTableNotFound(err) {
		t.created.Store(false)
	}
	return classify(op+" "+t.name, err)
}

// rowTable is the row access the operations are written against, once for both
// stores: *table on Table Storage, *memTable in Memory.
type rowTable interface {
	// get reads one row; found is false for a missing row.
	get(ctx context.Context, pk, rk string) (e *entity, found bool, err error)
	// upsert inserts or replaces one row.
	upsert(ctx context.Context, e *entity) error
	// upsertAll inserts or replaces rows, the last of a key winning.
	upsertAll(ctx context.Context, rows []*entity) error
	// scan hands fn the rows of r in key order; sel names the properties fn needs.
	scan(ctx context.Context, r rowRange, sel string, fn func(*entity) error) error
	// putIf writes e on a condition and returns the new ETag: insert-only when
	// etag is empty, else replace the row If-Match etag. Losing to another writer
	// (the row exists, changed or is gone) is an error wrapping ErrConflict.
	putIf(ctx context.Context, e *entity, etag string) (string, error)
	// deleteIf deletes a row If-Match etag, or whatever its ETag when etag is
	// empty; existed is false for a row already gone, which is no error.
	deleteIf(ctx context.Context, pk, rk, etag string) (existed bool, err error)
}

var (
	_ rowTable = (*table)(nil)
	_ rowTable = (*memTable)(nil)
)

func (t *table) scan(ctx context.Context, r rowRange, sel string, fn func(*entity) error) error {
	return t.query(ctx, r.filter(), sel, fn)
}

// query pages through a $filter, handing each row to fn.
func (t *table) query(ctx context.Context, filter, sel string, fn func(*entity) error) error {
	if err := t.ensure(ctx); err != nil {
		return err
	}
	opts := &aztables.ListEntitiesOptions{Filter: &filter}
	if sel != "" {
		opts.Select = &sel
	}
	pager := t.client.NewListEntitiesPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return t.check("query", err)
		}
		for _, raw := range page.Entities {
			e, err := parseEntity(raw)
			if err != nil {
				return fmt.Errorf("record: query %s: %w", t.name, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// get reads one row; found is false for a missing row.
func (t *table) get(ctx context.Context, pk, rk string) (*entity, bool, error) {
	if err := t.ensure(ctx); err != nil {
		return nil, false, err
	}
	resp, err := t.client.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		if isEntityNotFound(err) {
			return nil, false, nil
		}
		return nil, false, t.check("get", err)
	}
	e, err := parseEntity(resp.Value)
	if err != nil {
		return nil, false, fmt.Errorf("record: get %s: %w", t.name, err)
	}
	e.etag = string(resp.ETag)
	return e, true, nil
}

// upsert inserts or replaces one row. Replace, not merge, so properties a
// smaller new version no longer has (chunks, flags) do not linger.
func (t *table) upsert(ctx context.Context, e *entity) error {
	if err := t.ensure(ctx); err != nil {
		return err
	}
	body, err := e.marshal()
	if err != nil {
		return fmt.Errorf("record: encode %s row: %w", t.name, err)
	}
	_, err = t.client.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return t.check("upsert", err)
}

func (t *table) putIf(ctx context.Context, e *entity, etag string) (string, error) {
	if err := t.ensure(ctx); err != nil {
		return "", err
	}
	body, err := e.marshal()
	if err != nil {
		return "", fmt.Errorf("record: encode %s row: %w", t.name, err)
	}
	if etag == "" {
		resp, err := t.client.AddEntity(ctx, body, nil)
		if err != nil {
			return "", t.check("insert into", err)
		}
		return string(resp.ETag), nil
	}
	match := azcore.ETag(etag)
	resp, err := t.client.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &match, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		if isEntityNotFound(err) {
			// Deleted since it was read: also a lost race.
			return "", fmt.Errorf("%w: %w", ErrConflict, t.check("update in", err))
		}
		return "", t.check("update in", err)
	}
	return string(resp.ETag), nil
}

func (t *table) deleteIf(ctx context.Context, pk, rk, etag string) (bool, error) {
	if err := t.ensure(ctx); err != nil {
		return false, err
	}
	match := azcore.ETagAny
	if etag != "" {
		match = azcore.ETag(etag)
	}
	_, err := t.client.DeleteEntity(ctx, pk, rk, &aztables.DeleteEntityOptions{IfMatch: &match})
	switch {
	case err == nil:
		return true, nil
	case isEntityNotFound(err):
		return false, nil
	}
	return false, t.check("delete from", err)
}

// backoff spaces out retries after a lost optimistic-concurrency race. Full
// jitter, so that racers who collided once do not collide again in lockstep.
type backoff struct {
	attempts  int
	base, max time.Duration
}

// Conflict retries let some 20-30 writers contend for one row and all get
// through (the worst case waits about 5 s in total), while a row that keeps
// changing still fails in bounded time.
const (
	conflictAttempts = 16
	conflictBase     = 10 * time.Millisecond
	conflictMax      = 400 * time.Millisecond
)

var conflictBackoff = backoff{attempts: conflictAttempts, base: conflictBase, max: conflictMax}

// wait sleeps before retry number attempt (0-based), or returns early with the
// context's error.
func (b backoff) wait(ctx context.Context, attempt int) error {
	d := b.base << min(attempt, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	timer := time.NewTimer(rand.N(d) + 1)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fault.Transient(ctx.Err())
	}
}

// retry runs attempt until it does not lose a race. attempt reports lost with the
// conflict it met; it then runs again after a jittered wait, at most b.attempts
// times in all, and the last conflict is returned transient and wrapping ErrConflict.
// Any other outcome of attempt is returned as it is.
func (b backoff) retry(ctx context.Context, op string, attempt func() (lost bool, err error)) error {
	for i := 0; ; i++ {
		lost, err := attempt()
		if !lost {
			return err
		}
		if i+1 >= b.attempts {
			if !errors.Is(err, ErrConflict) {
				err = fmt.Errorf("%w: %w", ErrConflict, err)
			}
			return exhausted(op, b.attempts, err)
		}
		if err := b.wait(ctx, i); err != nil {
			return err
		}
	}
}

// exhausted wraps the last conflict once the attempts run out. It is transient:
// redelivery later, when the burst is over, will very likely succeed.
func exhausted(op string, attempts int, err error) error {
	return fault.Transient(fmt.Errorf("record: %s: gave up after %d attempts: %w", op, attempts, err))
}
