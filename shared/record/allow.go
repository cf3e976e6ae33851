package record

import (
	"context"

	"github.com/apiguard/apiguard/shared/cidr"
)

// allowPartition holds every allow-list entry: the list is read whole (an
// operator's list of a few hundred prefixes at most), so one partition makes it
// one query.
const allowPartition = "allow"

// allowKeys: the one partition, and the escaped prefix as the row, so a prefix
// has one entry. The prefix must be canonical (cidr.Parse's form), or two
// spellings of one network would be two rows.
func allowKeys(prefix string) (string, string, error) {
	p, err := cidr.Parse(prefix)
	if err != nil {
		return "", "", rejectf("allow prefix: %v", err)
	}
	if canonical := p.String(); canonical != prefix {
		return "", "", rejectf("allow prefix %q is not canonical CIDR text: write %q", prefix, canonical)
	}
	rk := escapeKey(prefix)
	if err := checkKey("allow prefix", rk); err != nil {
		return "", "", err
	}
	return allowPartition, rk, nil
}

// PutAllow inserts or replaces the allow-list entry of e.Prefix, which must be
// canonical CIDR text ("203.0.113.0/24", "2001:db8::1/128"); e.ETag is not used.
func (s *Store) PutAllow(ctx context.Context, e AllowEntry) error {
	return putAllow(ctx, s.allow, e)
}

func putAllow(ctx context.Context, t rowTable, a AllowEntry) error {
	pk, rk, err := allowKeys(a.Prefix)
	if err != nil {
		return err
	}
	e := newEntity(pk, rk)
	e.setString("Reason", a.Reason)
	e.setString("Actor", a.Actor)
	e.setTime("Created", a.Created)
	e.setTime("Expires", a.Expires)
	return t.upsert(ctx, e)
}

// ListAllow returns every allow-list entry, expired ones included (callers
// compare Expires with their clock), in row-key order, with their ETags: one
// query of the one partition.
func (s *Store) ListAllow(ctx context.Context) ([]AllowEntry, error) {
	return listAllow(ctx, s.allow)
}

func listAllow(ctx context.Context, t rowTable) ([]AllowEntry, error) {
	var out []AllowEntry
	err := t.scan(ctx, partition(allowPartition), "", func(e *entity) error {
		out = append(out, AllowEntry{
			Prefix:  unescapeKey(e.rk),
			Reason:  e.str("Reason"),
			Actor:   e.str("Actor"),
			Created: e.time("Created"),
			Expires: e.time("Expires"),
			ETag:    e.etag,
		})
		return nil
	})
	return out, err
}

// DeleteAllow deletes the entry of prefix (canonical, as PutAllow wants it) and
// reports whether there was one.
func (s *Store) DeleteAllow(ctx context.Context, prefix string) (bool, error) {
	return deleteAllow(ctx, s.allow, prefix)
}

func deleteAllow(ctx context.Context, t rowTable, prefix string) (bool, error) {
	pk, rk, err := allowKeys(prefix)
	if err != nil {
		return false, err
	}
	return t.deleteIf(ctx, pk, rk, "")
}
