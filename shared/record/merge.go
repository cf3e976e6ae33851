package record

import (
	"context"
	"errors"
)

// rowMerge is a read-modify-write of one row of type T under optimistic
// concurrency, the shape of MergeBlock, UpdateDecision, MergeHealth and the other
// merges: read the row, call fn, write fn's result If-Match the ETag read (or
// insert-only when the row was absent), and on a lost race read again.
type rowMerge[T any] struct {
	op     string // names the merge in errors: "merge block block_waf 203.0.113.7"
	pk, rk string
	// missing, when set, is returned for an absent row instead of calling fn with nil.
	missing error
	decode  func(*entity) (T, error)
	// encode is the row to write for fn's result; it must use pk and rk.
	encode func(T) (*entity, error)
}

// mergeRow is the merge of a row that decodes without fail (every field from its
// keys and properties), written by row under its keys.
func mergeRow[T any](ctx context.Context, t rowTable, conflicts backoff, op, pk, rk string, from func(*entity) T, row func(pk, rk string, v T) *entity, fn func(cur *T) (*T, error)) (T, bool, error) {
	m := rowMerge[T]{
		op: op, pk: pk, rk: rk,
		decode: func(e *entity) (T, error) { return from(e), nil },
		encode: func(v T) (*entity, error) { return row(pk, rk, v), nil },
	}
	return m.run(ctx, t, conflicts, fn)
}

// run retries once until it does not lose a race, within conflicts' bounds. It
// returns what was written and true, or, when fn returns nil, the row as read (the
// zero T when absent) and false.
func (m rowMerge[T]) run(ctx context.Context, t rowTable, conflicts backoff, fn func(cur *T) (*T, error)) (T, bool, error) {
	var (
		out   T
		wrote bool
	)
	err := conflicts.retry(ctx, m.op, func() (lost bool, err error) {
		out, wrote, lost, err = m.once(ctx, t, fn)
		return lost, err
	})
	if err != nil {
		var zero T
		return zero, false, err
	}
	return out, wrote, nil
}

// once is one attempt; lost reports a write that lost to another writer.
func (m rowMerge[T]) once(ctx context.Context, t rowTable, fn func(cur *T) (*T, error)) (out T, wrote, lost bool, err error) {
	e, found, err := t.get(ctx, m.pk, m.rk)
	if err != nil {
		return out, false, false, err
	}
	var (
		cur  *T
		etag string
	)
	if found {
		if out, err = m.decode(e); err != nil {
			return out, false, false, err
		}
		// fn gets its own copy: what it changes without returning it changes nothing.
		c, err := m.decode(e)
		if err != nil {
			return out, false, false, err
		}
		cur, etag = &c, e.etag
	} else if m.missing != nil {
		return out, false, false, m.missing
	}
	next, err := fn(cur)
	if err != nil || next == nil {
		return out, false, false, err
	}
	w, err := m.encode(*next)
	if err != nil {
		var zero T
		return zero, false, false, err
	}
	if w.etag, err = t.putIf(ctx, w, etag); err != nil {
		var zero T
		return zero, false, errors.Is(err, ErrConflict), err
	}
	// Decoded from the row written, so it equals a later read.
	out, err = m.decode(w)
	return out, err == nil, false, err
}
