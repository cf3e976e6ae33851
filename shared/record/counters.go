package record

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Counter rows: a counter's hours are rows of its partition, "<hour>-<shard>".
// Adds go to shard 0 first; an add that loses a race retries on a random shard,
// so a burst spreads over up to counterShards rows instead of queueing on one,
// and a quiet counter keeps one row an hour.
const (
	hourLayout    = "2006-01-02T15"
	counterShards = 8
)

// counterKeys: the escaped name is the partition, so a sum over a time range is
// one RowKey range in one partition (hours sort as text).
func counterKeys(name string) (string, error) {
	pk := escapeKey(name)
	return pk, checkKey("counter name", pk)
}

// AddCount adds n to the name's counter of the UTC hour of at. It is an optimistic
// read-modify-write (If-Match the ETag read, insert-only for a new row) retried
// with the bounds of MergeBlock, so concurrent adds all count; n of zero does
// nothing.
func (s *Store) AddCount(ctx context.Context, name string, at time.Time, n int64) error {
	return addCount(ctx, s.counters, s.conflicts, name, at, n)
}

func addCount(ctx context.Context, t rowTable, conflicts backoff, name string, at time.Time, n int64) error {
	pk, err := counterKeys(name)
	if err != nil || n == 0 {
		return err
	}
	hour := at.UTC().Format(hourLayout)
	add := func(cur *int64) (*int64, error) {
		sum := n
		if cur != nil {
			sum += *cur
		}
		return &sum, nil
	}
	attempt := 0
	return conflicts.retry(ctx, fmt.Sprintf("add to counter %s", name), func() (bool, error) {
		shard := 0
		if attempt > 0 {
			shard = rand.IntN(counterShards)
		}
		attempt++
		rk := fmt.Sprintf("%s-%d", hour, shard)
		m := rowMerge[int64]{
			op: "add to counter " + name, pk: pk, rk: rk,
			decode: func(e *entity) (int64, error) { return e.int("Count"), nil },
			encode: func(v int64) (*entity, error) {
				e := newEntity(pk, rk)
				e.setInt("Count", v)
				return e, nil
			},
		}
		_, _, lost, err := m.once(ctx, t, add)
		return lost, err
	})
}

// SumCounts sums the name's counters of the UTC hours that overlap [from, to):
// one RowKey range query in one partition, fetching only the counts. An empty
// range is 0 without I/O.
func (s *Store) SumCounts(ctx context.Context, name string, from, to time.Time) (int64, error) {
	return sumCounts(ctx, s.counters, name, from, to)
}

func sumCounts(ctx context.Context, t rowTable, name string, from, to time.Time) (int64, error) {
	pk, err := counterKeys(name)
	if err != nil || !to.After(from) {
		return 0, err
	}
	// Hours h with h < to and h+1h > from: from's hour up to, not including, the
	// first hour that starts at or after to.
	end := to.UTC().Truncate(time.Hour)
	if end.Before(to) {
		end = end.Add(time.Hour)
	}
	r := rowRange{pkFrom: pk, pkTo: pk, rkFrom: from.UTC().Format(hourLayout), rkTo: end.Format(hourLayout)}
	var sum int64
	err = t.scan(ctx, r, "Count", func(e *entity) error {
		sum += e.int("Count")
		return nil
	})
	return sum, err
}
