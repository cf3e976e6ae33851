package record

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// TriageRun is one month's triage report (the classification as JSON).
type TriageRun struct {
	Month   string // "2026-12"
	Created time.Time
	Report  []byte
}

// Triage rows. A report of thousands of APIs is megabytes of JSON: it is gzipped
// once and the stream cut into parts, one row each (about 700 KB of stream, in
// binary properties below 64 KiB), in the month's own partition. The month's head
// row, in the "months" partition, is written last and names the part count and the
// report's hash: a run cut short is invisible, and a smaller rewrite of a month
// leaves no stale part in the way.
const (
	triageMonthsPK = "months"
	triagePartPK   = "run-"
	// triagePartBytes is the stream a part row holds: its base64 (for Azurite's
	// measure) stays well under 1 MiB.
	triagePartBytes = 700 * 1024
	// triageMaxBytes bounds a report (uncompressed): 64 MiB.
	triageMaxBytes = 64 << 20
)

var triageMonth = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

func checkTriageMonth(month string) error {
	if !triageMonth.MatchString(month) {
		return rejectf("triage month %q is not YYYY-MM", month)
	}
	return nil
}

// PutTriageRun stores a month's report, replacing an earlier run of that month.
func (s *Store) PutTriageRun(ctx context.Context, run TriageRun) error {
	return putTriageRun(ctx, s.triage, run)
}

func putTriageRun(ctx context.Context, t rowTable, run TriageRun) error {
	if err := checkTriageMonth(run.Month); err != nil {
		return err
	}
	if len(run.Report) == 0 || len(run.Report) > triageMaxBytes {
		return rejectf("triage report of %d bytes: give 1 byte to %d", len(run.Report), triageMaxBytes)
	}
	z := gzipBytes(run.Report)
	var parts []*entity
	for i := 0; len(z) > 0; i++ {
		n := min(len(z), triagePartBytes)
		e := newEntity(triagePartPK+run.Month, fmt.Sprintf("part-%04d", i))
		for j := 0; j*chunkBytes < n; j++ {
			e.props["Z"+strconv.Itoa(j)] = aztables.EDMBinary(bytes.Clone(z[j*chunkBytes : min((j+1)*chunkBytes, n)]))
		}
		parts = append(parts, e)
		z = z[n:]
	}
	if err := t.upsertAll(ctx, parts); err != nil {
		return err
	}
	sum := sha256.Sum256(run.Report)
	head := newEntity(triageMonthsPK, run.Month)
	head.setTime("Created", run.Created)
	head.setInt("Parts", int64(len(parts)))
	head.setInt("Bytes", int64(len(run.Report)))
	head.setString("SHA256", hex.EncodeToString(sum[:]))
	return t.upsert(ctx, head)
}

// GetTriageRun reads a month's report; found is false when there is none.
func (s *Store) GetTriageRun(ctx context.Context, month string) (TriageRun, bool, error) {
	return getTriageRun(ctx, s.triage, month)
}

func getTriageRun(ctx context.Context, t rowTable, month string) (TriageRun, bool, error) {
	if err := checkTriageMonth(month); err != nil {
		return TriageRun{}, false, err
	}
	head, found, err := t.get(ctx, triageMonthsPK, month)
	if err != nil || !found {
		return TriageRun{}, false, err
	}
	n := int(head.int("Parts"))
	var z []byte
	err = t.scan(ctx, rowRange{pkFrom: triagePartPK + month, pkTo: triagePartPK + month,
		rkFrom: "part-0000", rkTo: fmt.Sprintf("part-%04d", n)}, "", func(e *entity) error {
		for j := 0; ; j++ {
			v, ok := e.props["Z"+strconv.Itoa(j)].(aztables.EDMBinary)
			if !ok {
				return nil
			}
			z = append(z, v...)
		}
	})
	if err != nil {
		return TriageRun{}, false, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return TriageRun{}, false, fmt.Errorf("record: triage %s: %w", month, err)
	}
	report, err := io.ReadAll(io.LimitReader(zr, triageMaxBytes+1))
	if err != nil {
		return TriageRun{}, false, fmt.Errorf("record: triage %s: %w", month, err)
	}
	sum := sha256.Sum256(report)
	if hex.EncodeToString(sum[:]) != head.str("SHA256") || int64(len(report)) != head.int("Bytes") {
		return TriageRun{}, false, fmt.Errorf("record: triage %s: the stored report does not match its head (a write in progress, or damage)", month)
	}
	return TriageRun{Month: month, Created: head.time("Created"), Report: report}, true, nil
}

// ListTriageMonths lists the months that have a report, oldest first.
func (s *Store) ListTriageMonths(ctx context.Context) ([]string, error) {
	return listTriageMonths(ctx, s.triage)
}

func listTriageMonths(ctx context.Context, t rowTable) ([]string, error) {
	var out []string
	err := t.scan(ctx, partition(triageMonthsPK), "RowKey", func(e *entity) error {
		if triageMonth.MatchString(e.rk) {
			out = append(out, e.rk)
		}
		return nil
	})
	return out, err
}

// PutTriageRun is Store.PutTriageRun.
func (m *Memory) PutTriageRun(ctx context.Context, run TriageRun) error {
	return putTriageRun(ctx, &m.triage, run)
}

// GetTriageRun is Store.GetTriageRun.
func (m *Memory) GetTriageRun(ctx context.Context, month string) (TriageRun, bool, error) {
	return getTriageRun(ctx, &m.triage, month)
}

// ListTriageMonths is Store.ListTriageMonths.
func (m *Memory) ListTriageMonths(ctx context.Context) ([]string, error) {
	return listTriageMonths(ctx, &m.triage)
}
