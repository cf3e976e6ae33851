package record

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Transaction limits. Azure: one partition, at most 100 operations, body under
// 4 MiB. Azurite measures the multipart body's UTF-8 size against 4 MiB; the
// margin covers each operation's MIME headers and request line.
const (
	maxBatchOps   = 100
	maxBatchBytes = 4*1024*1024 - 64*1024
	batchOpBytes  = 1024
)

// upsertAll writes rows with insert-or-replace, in transactions of one partition
// each (Azurite accepts mixed partitions, Azure rejects them, so we never send
// one). Within a partition a row key appears once, the last version winning,
// since a transaction may not touch a row twice. Partitions are written in key
// order, so a failure part-way leaves a predictable prefix written; every write
// is an upsert, so the retry completes the rest.
func (t *table) upsertAll(ctx context.Context, rows []*entity) error {
	if len(rows) == 0 {
		return nil
	}
	if err := t.ensure(ctx); err != nil {
		return err
	}
	for _, part := range partitions(rows) {
		batches, err := splitBatches(part)
		if err != nil {
			return fmt.Errorf("record: encode %s rows: %w", t.name, err)
		}
		for _, batch := range batches {
			actions := make([]aztables.TransactionAction, len(batch))
			for i, b := range batch {
				actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: b}
			}
			if _, err := t.client.SubmitTransaction(ctx, actions, nil); err != nil {
				return t.check(fmt.Sprintf("transaction of %d rows in", len(actions)), err)
			}
		}
	}
	return nil
}

// partitions groups rows by partition key, sorted, deduplicated by row key.
func partitions(rows []*entity) [][]*entity {
	byPK := map[string]map[string]*entity{}
	for _, r := range rows {
		if byPK[r.pk] == nil {
			byPK[r.pk] = map[string]*entity{}
		}
		byPK[r.pk][r.rk] = r
	}
	pks := make([]string, 0, len(byPK))
	for pk := range byPK {
		pks = append(pks, pk)
	}
	sort.Strings(pks)
	out := make([][]*entity, 0, len(pks))
	for _, pk := range pks {
		part := make([]*entity, 0, len(byPK[pk]))
		for _, e := range byPK[pk] {
			part = append(part, e)
		}
		sort.Slice(part, func(i, j int) bool { return part[i].rk < part[j].rk })
		out = append(out, part)
	}
	return out
}

// splitBatches encodes one partition's rows and cuts them into transactions
// within the count and size limits.
func splitBatches(part []*entity) ([][][]byte, error) {
	var (
		out  [][][]byte
		cur  [][]byte
		size int
	)
	for _, e := range part {
		body, err := e.marshal()
		if err != nil {
			return nil, err
		}
		n := len(body) + batchOpBytes
		if len(cur) > 0 && (len(cur) == maxBatchOps || size+n > maxBatchBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, body)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// transactionETags are the new ETags of a successful transaction's n operations, in
// their order, from the response body: the SDK returns none, but each operation's
// response in the changeset carries its row's ETag header (Azure and Azurite alike).
// nil when the body does not hold exactly n successful responses with an ETag.
func transactionETags(resp *http.Response, n int) []string {
	if resp == nil {
		return nil
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return nil
	}
	outer := boundaryOf(resp.Header.Get("Content-Type"), body)
	if outer == "" {
		return nil
	}
	batch := multipart.NewReader(bytes.NewReader(body), outer)
	part, err := batch.NextPart()
	if err != nil {
		return nil
	}
	changeset, err := io.ReadAll(part)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	inner := boundaryOf(part.Header.Get("Content-Type"), changeset)
	if inner == "" {
		return nil
	}
	ops := multipart.NewReader(bytes.NewReader(changeset), inner)
	etags := make([]string, 0, n)
	for {
		p, err := ops.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil
		}
		r, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			return nil
		}
		r.Body.Close()
		etag := r.Header.Get("ETag")
		if r.StatusCode >= 300 || etag == "" {
			return nil
		}
		etags = append(etags, etag)
	}
	if len(etags) != n {
		return nil
	}
	return etags
}
