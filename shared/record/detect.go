package record

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/detect"
	"github.com/apiguard/apiguard/shared/vocab"
)

// Detector state layout (see README.md, "Detector state").
const (
	// detectShards spreads each key type over this many partitions: a batch's writes
	// group into few transactions, and no partition takes the whole load (about 2,000
	// entities/s per partition on Azure).
	detectShards = 8
	// detectReadChunk is how many rows one read query asks for (RowKey eq ... or ...):
	// long filters fail with 431 on Azurite and cost more to parse on Azure.
	detectReadChunk = 16
	// detectTxBytes keeps a transaction under Table Storage's 4 MiB request limit.
	detectTxBytes = 3 * 1024 * 1024
	// detectParallel bounds concurrent requests of one Update.
	detectParallel = 16
	// stateProp holds the state (MarshalBinary, base64); chunked by putPayload when large.
	stateProp = "S"
)

// DetectStates keeps the detectors' per-key state in Table Storage, so counts add up
// across batches and function instances. It implements detect.Store.
type DetectStates struct {
	t         *table
	conflicts backoff
}

var _ detect.Store = (*DetectStates)(nil)

// DetectStates returns the detector state store.
func (s *Store) DetectStates() *DetectStates {
	return &DetectStates{t: s.detect, conflicts: s.conflicts}
}

// detectKeys: the partition is the key type and a hash shard of the key; the row the
// escaped key, or its hash when the key is too long for a RowKey (operation keys built
// from long templates).
func detectKeys(k detect.Key) (string, string) {
	pk := fmt.Sprintf("%s-%02x", escapeKey(string(k.Type)), fnv32(k.Value)%detectShards)
	rk := escapeKey(k.Value)
	if rk == "" || len(rk) > 400 {
		sum := sha256.Sum256([]byte(k.Value))
		rk = "h-" + hex.EncodeToString(sum[:])
	}
	return pk, rk
}

type detectRow struct {
	key   detect.Key
	pk    string
	rk    string
	state *detect.State
	etag  string // "" when the row did not exist
	read  []byte // the state as read, to skip writing a state nothing changed
}

// Update reads the states of keys, applies fn to each and writes them back: rows that
// existed with If-Match on the ETag read, new rows insert-only, grouped into one
// transaction per partition (at most 100 rows). A transaction that loses a race (412
// or 409) fails whole; its keys are read again and fn runs again on the fresh state
// (fn must depend only on its inputs: detect.State.Apply is idempotent per batch).
// Cost per call: one query per 16 keys of a partition, one transaction per 100 keys
// of a partition, plus the same again for each lost race.
func (d *DetectStates) Update(ctx context.Context, keys []detect.Key, fn func(k detect.Key, s *detect.State)) (map[detect.Key]*detect.State, error) {
	out := make(map[detect.Key]*detect.State, len(keys))
	pending := map[string][]*detectRow{}
	seen := map[detect.Key]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		pk, rk := detectKeys(k)
		if err := checkKey("detector key", rk); err != nil {
			return nil, err
		}
		pending[pk] = append(pending[pk], &detectRow{key: k, pk: pk, rk: rk})
	}
	if err := d.t.ensure(ctx); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt >= d.conflicts.attempts {
				return nil, exhausted("update detector state", d.conflicts.attempts, ErrConflict)
			}
			if err := d.conflicts.wait(ctx, attempt-1); err != nil {
				return nil, err
			}
		}
		retry := map[string][]*detectRow{}
		err := eachParallel(ctx, slices.Sorted(maps.Keys(pending)), func(pk string) error {
			rows := pending[pk]
			if err := d.read(ctx, pk, rows); err != nil {
				return err
			}
			for _, r := range rows {
				fn(r.key, r.state)
			}
			lost, err := d.write(ctx, rows)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if len(lost) > 0 {
				retry[pk] = lost
			}
			for _, r := range rows {
				out[r.key] = r.state
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		pending = retry
	}
	return out, nil
}

// read fills each row's state and ETag: absent rows get a new, empty state.
func (d *DetectStates) read(ctx context.Context, pk string, rows []*detectRow) error {
	byRK := make(map[string]*detectRow, len(rows))
	for _, r := range rows {
		r.state, r.etag, r.read = new(detect.State), "", nil
		byRK[r.rk] = r
	}
	for i := 0; i < len(rows); i += detectReadChunk {
		chunk := rows[i:min(i+detectReadChunk, len(rows))]
		var or []string
		for _, r := range chunk {
			or = append(or, "RowKey eq "+odataString(r.rk))
		}
		filter := "PartitionKey eq " + odataString(pk) + " and (" + strings.Join(or, " or ") + ")"
		err := d.t.query(ctx, filter, "", func(e *entity) error {
			r := byRK[e.rk]
			if r == nil {
				return nil
			}
			raw, err := getPayload(e, stateProp)
			if err != nil {
				return fmt.Errorf("record: detector state %s/%s: %w", pk, e.rk, err)
			}
			bin, err := base64.StdEncoding.DecodeString(string(raw))
			if err == nil {
				err = r.state.UnmarshalBinary(bin)
				r.read = bin
			}
			if err != nil {
				// An unreadable state (a newer version, a hand edit) must not stop
				// detection: start the key afresh and overwrite it.
				*r.state = detect.State{}
			}
			r.etag = e.etag
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// write commits rows in transactions of at most 100 rows and detectTxBytes; it returns
// the rows of transactions that lost a race.
func (d *DetectStates) write(ctx context.Context, rows []*detectRow) ([]*detectRow, error) {
	var lost []*detectRow
	var (
		actions []aztables.TransactionAction
		members []*detectRow
		size    int
	)
	flush := func() error {
		if len(actions) == 0 {
			return nil
		}
		_, err := d.t.client.SubmitTransaction(ctx, actions, nil)
		if err != nil {
			if isEntityNotFound(err) {
				err = fmt.Errorf("%w: row deleted under us", ErrConflict)
			} else {
				err = d.t.check("write detector state to", err)
			}
			if !errors.Is(err, ErrConflict) {
				return err
			}
			lost = append(lost, members...)
		}
		actions, members, size = nil, nil, 0
		return nil
	}
	for _, r := range rows {
		bin, err := r.state.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("record: encode detector state %s: %w", r.key.Value, err)
		}
		if r.etag != "" && bytes.Equal(bin, r.read) {
			continue // unchanged (a redelivered batch): no write, no conflict
		}
		e := newEntity(r.pk, r.rk)
		e.setString("Type", string(r.key.Type))
		if strings.HasPrefix(r.rk, "h-") {
			e.setString("Key", r.key.Value)
		}
		if err := putPayload(e, stateProp, []byte(base64.StdEncoding.EncodeToString(bin))); err != nil {
			return nil, err
		}
		body, err := e.marshal()
		if err != nil {
			return nil, err
		}
		a := aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: body}
		if r.etag != "" {
			etag := azcore.ETag(r.etag)
			a = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: body, IfMatch: &etag}
		}
		if len(actions) == 100 || size+len(body) > detectTxBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		actions, members, size = append(actions, a), append(members, r), size+len(body)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return lost, nil
}

// eachParallel runs fn for each item with at most detectParallel at once and returns
// the first error.
func eachParallel(ctx context.Context, items []string, fn func(string) error) error {
	sem := make(chan struct{}, detectParallel)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// OperationLastSeen lists apiguard's own last-seen time (event time) of every API
// operation its traffic detectors have state for, keyed "api method template": what the
// triage reads to find operations no one calls any more. One partition-range query.
func (d *DetectStates) OperationLastSeen(ctx context.Context) (map[string]time.Time, error) {
	prefix := escapeKey(string(vocab.KeyOp)) + "-"
	filter := "PartitionKey ge " + odataString(prefix) + " and PartitionKey lt " + odataString(escapeKey(string(vocab.KeyOp))+".")
	out := map[string]time.Time{}
	err := d.t.query(ctx, filter, "", func(e *entity) error {
		key := unescapeKey(e.rk)
		if strings.HasPrefix(e.rk, "h-") {
			key = e.str("Key")
		}
		raw, err := getPayload(e, stateProp)
		if err != nil {
			return nil // unreadable: skipped, as Update restarts it
		}
		bin, err := base64.StdEncoding.DecodeString(string(raw))
		if err != nil {
			return nil
		}
		var s detect.State
		if s.UnmarshalBinary(bin) != nil || s.Empty() {
			return nil
		}
		out[key] = s.Last()
		return nil
	})
	return out, err
}
