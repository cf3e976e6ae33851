package record

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Limit rows: a bucket is one partition holding its counter and one
// reservation row per key, so both can change in one transaction.
const (
	counterRow     = "counter"
	reservationRow = "r-"
)

// Reserve takes one unit of a counted limit, e.g. bucket "newblocks-2026112312"
// with the block target as key. The counter and the key's reservation are
// written in ONE transaction, the counter If-Match the ETag read (or insert-only
// when new), so concurrent callers can never push the count past limit: of two
// racers one transaction fails whole and that caller re-reads.
//
// It is idempotent per key: a key already reserved in the bucket returns true
// without counting again, so a redelivered message does not use up the limit.
// It returns false when the limit is reached. Conflicts are retried with
// jittered backoff a bounded number of times, then reported as a transient
// error wrapping ErrConflict.
func (s *Store) Reserve(ctx context.Context, bucket, key string, limit int) (bool, error) {
	pk, rk, err := limitKeys(bucket, key)
	if err != nil {
		return false, err
	}
	lock := &s.reserveLocks[fnv32(pk)%uint32(len(s.reserveLocks))]
	lock.Lock()
	defer lock.Unlock()
	// Both rows in one query: one round trip per attempt, which matters when
	// many callers race for the same counter.
	filter := fmt.Sprintf("PartitionKey eq %s and (RowKey eq %s or RowKey eq %s)", odataString(pk), odataString(counterRow), odataString(rk))
	granted := false
	err = s.conflicts.retry(ctx, fmt.Sprintf("reserve %s in %s", key, bucket), func() (bool, error) {
		var (
			counter  *entity
			reserved bool
		)
		err := s.limits.query(ctx, filter, "", func(e *entity) error {
			switch e.rk {
			case counterRow:
				counter = e
			case rk:
				reserved = true
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		count := reservedCount(counter)
		switch {
		case reserved:
			granted = true
			return false, nil
		case count >= int64(limit):
			return false, nil
		}
		err = s.commitReservation(ctx, pk, rk, key, count+1, counter)
		granted = err == nil
		return errors.Is(err, ErrConflict) || isEntityNotFound(err), err
	})
	return granted, err
}

// limitKeys: the bucket is the partition; the key's reservation row sits beside
// the counter row.
func limitKeys(bucket, key string) (string, string, error) {
	pk := escapeKey(bucket)
	if err := checkKey("limit bucket", pk); err != nil {
		return "", "", err
	}
	if key == "" {
		return "", "", rejectf("reserve in %s without a key", bucket)
	}
	rk := reservationRow + escapeKey(key)
	if err := checkKey("limit key", rk); err != nil {
		return "", "", err
	}
	return pk, rk, nil
}

// reservedCount is the count a counter row holds; none yet is zero.
func reservedCount(counter *entity) int64 {
	if counter == nil {
		return 0
	}
	return counter.int("Count")
}

// counterEntity and reservationEntity are a bucket's two kinds of row.
func counterEntity(pk string, count int64) *entity {
	c := newEntity(pk, counterRow)
	c.setInt("Count", count)
	return c
}

func reservationEntity(pk, rk, key string) *entity {
	r := newEntity(pk, rk)
	r.setString("Key", key)
	return r
}

// commitReservation sets the counter to count (If-Match the read, or insert
// when there was none) and inserts the reservation, atomically. A concurrent
// counter change fails with 412, a concurrent first counter or the same key
// reserved meanwhile with 409; either way nothing is written.
func (s *Store) commitReservation(ctx context.Context, pk, rk, key string, count int64, counter *entity) error {
	cBody, err := counterEntity(pk, count).marshal()
	if err != nil {
		return err
	}
	rBody, err := reservationEntity(pk, rk, key).marshal()
	if err != nil {
		return err
	}
	counterAction := aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: cBody}
	if counter != nil {
		etag := azcore.ETag(counter.etag)
		counterAction = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: cBody, IfMatch: &etag}
	}
	_, err = s.limits.client.SubmitTransaction(ctx, []aztables.TransactionAction{
		counterAction,
		{ActionType: aztables.TransactionTypeAdd, Entity: rBody},
	}, nil)
	if err != nil && isEntityNotFound(err) {
		return err // the counter vanished between read and write; re-read
	}
	return s.limits.check("reserve in", err)
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
