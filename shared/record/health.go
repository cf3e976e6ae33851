package record

import (
	"context"
	"fmt"
)

// maxLastError bounds HealthRecord.LastError, in characters: a health list shows
// the gist of an error, not a dump.
const maxLastError = 1024

// healthKeys: the kind is the partition, so ListHealth of a kind is one partition
// query; the escaped name is the row.
func healthKeys(kind, name string) (string, string, error) {
	pk, rk := escapeKey(kind), escapeKey(name)
	if err := checkKey("health kind", pk); err != nil {
		return "", "", err
	}
	if err := checkKey("health name", rk); err != nil {
		return "", "", err
	}
	return pk, rk, nil
}

// MergeHealth is a read-modify-write of one health record under optimistic
// concurrency, as MergeBlock is of a block (cur is nil when there is none; fn may
// run again and must compute only from cur; nil from fn writes nothing). Kind and
// Name of the result are forced to the arguments, and LastError is cut to 1,024
// characters. It returns the record stored, with its new ETag.
func (s *Store) MergeHealth(ctx context.Context, kind, name string, fn func(cur *HealthRecord) (*HealthRecord, error)) (HealthRecord, bool, error) {
	return mergeHealth(ctx, s.health, s.conflicts, kind, name, fn)
}

func mergeHealth(ctx context.Context, t rowTable, conflicts backoff, kind, name string, fn func(cur *HealthRecord) (*HealthRecord, error)) (HealthRecord, bool, error) {
	pk, rk, err := healthKeys(kind, name)
	if err != nil {
		return HealthRecord{}, false, err
	}
	return mergeRow(ctx, t, conflicts, fmt.Sprintf("merge health %s %s", kind, name), pk, rk, healthFrom, healthRow, fn)
}

// ListHealth returns the health records of one kind in row-key order: one
// partition query.
func (s *Store) ListHealth(ctx context.Context, kind string) ([]HealthRecord, error) {
	return listHealth(ctx, s.health, kind)
}

func listHealth(ctx context.Context, t rowTable, kind string) ([]HealthRecord, error) {
	pk := escapeKey(kind)
	if err := checkKey("health kind", pk); err != nil {
		return nil, err
	}
	var out []HealthRecord
	err := t.scan(ctx, partition(pk), "", func(e *entity) error {
		out = append(out, healthFrom(e))
		return nil
	})
	return out, err
}

func healthRow(pk, rk string, h HealthRecord) *entity {
	e := newEntity(pk, rk)
	e.setTime("LastSuccess", h.LastSuccess)
	e.setTime("LastFailure", h.LastFailure)
	e.setString("LastError", cutRunes(h.LastError, maxLastError))
	e.setInt("Count", h.Count)
	e.setString("DesiredHash", h.DesiredHash)
	e.setString("AppliedHash", h.AppliedHash)
	e.setTime("DiffersSince", h.DiffersSince)
	e.setTime("Updated", h.Updated)
	return e
}

func healthFrom(e *entity) HealthRecord {
	return HealthRecord{
		Kind:         unescapeKey(e.pk),
		Name:         unescapeKey(e.rk),
		LastSuccess:  e.time("LastSuccess"),
		LastFailure:  e.time("LastFailure"),
		LastError:    e.str("LastError"),
		Count:        e.int("Count"),
		DesiredHash:  e.str("DesiredHash"),
		AppliedHash:  e.str("AppliedHash"),
		DiffersSince: e.time("DiffersSince"),
		Updated:      e.time("Updated"),
		ETag:         e.etag,
	}
}

// cutRunes cuts s to at most n characters.
func cutRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
