package record

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// maxIdempotencyKey bounds an idempotency scope or key, in characters.
const maxIdempotencyKey = 200

// idempotencyKeys: the scope (what the caller names it: an operation, a client) is
// the partition and the key the row, both escaped. Reads are point reads, so a
// scope's partition may grow without making them dearer.
func idempotencyKeys(scope, key string) (string, string, error) {
	keys := [2]string{}
	for i, k := range [2]struct{ what, v string }{{"idempotency scope", scope}, {"idempotency key", key}} {
		if k.v == "" {
			return "", "", rejectf("empty %s", k.what)
		}
		if n := utf8.RuneCountInString(k.v); n > maxIdempotencyKey {
			return "", "", rejectf("%s is %d characters; the limit is %d", k.what, n, maxIdempotencyKey)
		}
		keys[i] = escapeKey(k.v)
		if err := checkKey(k.what, keys[i]); err != nil {
			return "", "", err
		}
	}
	return keys[0], keys[1], nil
}

// ClaimIdempotency claims key in scope for a request whose content hashes to
// requestHash. When there is no live record (none, or one that expired at or
// before now), it writes one in progress (Status 0, Created now, Expires now+ttl)
// and returns it with claimed true: insert-only when there was none, If-Match the
// expired one's ETag otherwise, so of concurrent claims exactly one is claimed.
// Otherwise it returns the live record and false, and the caller compares its
// RequestHash (another request under the same key) and Status (still in
// progress, or the answer to replay).
func (s *Store) ClaimIdempotency(ctx context.Context, scope, key, requestHash string, now time.Time, ttl time.Duration) (IdempotencyRecord, bool, error) {
	return claimIdempotency(ctx, s.idempotency, s.conflicts, scope, key, requestHash, now, ttl)
}

func claimIdempotency(ctx context.Context, t rowTable, conflicts backoff, scope, key, requestHash string, now time.Time, ttl time.Duration) (IdempotencyRecord, bool, error) {
	pk, rk, err := idempotencyKeys(scope, key)
	if err != nil {
		return IdempotencyRecord{}, false, err
	}
	switch {
	case now.IsZero():
		return IdempotencyRecord{}, false, rejectf("claim idempotency key %s: no time given", key)
	case ttl <= 0:
		return IdempotencyRecord{}, false, rejectf("claim idempotency key %s: the ttl %v is not positive", key, ttl)
	}
	m := idempotencyMerge("claim", pk, rk, nil)
	return m.run(ctx, t, conflicts, func(cur *IdempotencyRecord) (*IdempotencyRecord, error) {
		if cur != nil && cur.Expires.After(now) {
			return nil, nil // live: the caller decides
		}
		return &IdempotencyRecord{RequestHash: requestHash, Created: now, Expires: now.Add(ttl)}, nil
	})
}

// FinishIdempotency stores the answer to replay under a claimed key: its HTTP
// status (positive), content type and body. The body is stored gzip-compressed in
// the row; one that does not fit even so (about 760 KiB compressed) is a
// fault.Rejected error and nothing is stored (the caller then releases the key).
// A key that is not claimed is an error wrapping ErrNotFound (a 404 rejection).
// The record keeps its RequestHash and Created; its Expires becomes keepUntil when
// that is later, so a claim can be short-lived while in progress (a crashed request
// frees its key soon) and its answer kept longer.
func (s *Store) FinishIdempotency(ctx context.Context, scope, key string, status int, contentType string, body []byte, keepUntil time.Time) error {
	return finishIdempotency(ctx, s.idempotency, s.conflicts, scope, key, status, contentType, body, keepUntil)
}

func finishIdempotency(ctx context.Context, t rowTable, conflicts backoff, scope, key string, status int, contentType string, body []byte, keepUntil time.Time) error {
	pk, rk, err := idempotencyKeys(scope, key)
	if err != nil {
		return err
	}
	if status <= 0 {
		return rejectf("finish idempotency key %s: status %d is not an answer", key, status)
	}
	// A body that cannot fit is refused before any I/O (the record's other
	// properties are small; the write checks again with them).
	answer := IdempotencyRecord{Status: status, ContentType: contentType, Body: body}
	if _, err := idempotencyRow(pk, rk, answer); err != nil {
		return err
	}
	m := idempotencyMerge("finish", pk, rk, notFound("idempotency key %s of %s is not claimed", key, scope))
	_, _, err = m.run(ctx, t, conflicts, func(cur *IdempotencyRecord) (*IdempotencyRecord, error) {
		cur.Status, cur.ContentType, cur.Body = status, contentType, body
		if keepUntil.After(cur.Expires) {
			cur.Expires = keepUntil
		}
		return cur, nil
	})
	return err
}

// ReleaseIdempotency deletes the record of key, so that the client's retry runs
// the request again (after a transient failure). A key already gone is no error.
func (s *Store) ReleaseIdempotency(ctx context.Context, scope, key string) error {
	return releaseIdempotency(ctx, s.idempotency, scope, key)
}

func releaseIdempotency(ctx context.Context, t rowTable, scope, key string) error {
	pk, rk, err := idempotencyKeys(scope, key)
	if err != nil {
		return err
	}
	_, err = t.deleteIf(ctx, pk, rk, "")
	return err
}

// idempotencyMerge is the optimistic read-modify-write of one record.
func idempotencyMerge(op, pk, rk string, missing error) rowMerge[IdempotencyRecord] {
	return rowMerge[IdempotencyRecord]{
		op: fmt.Sprintf("%s idempotency key %s of %s", op, unescapeKey(rk), unescapeKey(pk)), pk: pk, rk: rk,
		missing: missing,
		decode:  idempotencyFrom,
		encode:  func(r IdempotencyRecord) (*entity, error) { return idempotencyRow(pk, rk, r) },
	}
}

func idempotencyRow(pk, rk string, r IdempotencyRecord) (*entity, error) {
	e := newEntity(pk, rk)
	e.setString("RequestHash", r.RequestHash)
	e.setInt("Status", int64(r.Status))
	e.setString("ContentType", r.ContentType)
	e.setTime("Created", r.Created)
	e.setTime("Expires", r.Expires)
	if err := putCompressed(e, "Body", r.Body); err != nil {
		return nil, rejectf("idempotency key %s of %s: %w", unescapeKey(rk), unescapeKey(pk), err)
	}
	return e, nil
}

func idempotencyFrom(e *entity) (IdempotencyRecord, error) {
	body, _, err := getChunks(e, "Body")
	if err != nil {
		return IdempotencyRecord{}, fmt.Errorf("record: idempotency key %s of %s: %w", unescapeKey(e.rk), unescapeKey(e.pk), err)
	}
	return IdempotencyRecord{
		Scope:       unescapeKey(e.pk),
		Key:         unescapeKey(e.rk),
		RequestHash: e.str("RequestHash"),
		Status:      int(e.int("Status")),
		ContentType: e.str("ContentType"),
		Body:        body,
		Created:     e.time("Created"),
		Expires:     e.time("Expires"),
		ETag:        e.etag,
	}, nil
}
