package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage"
)

const effectLastSeen = "apiguard's own last-seen times are unknown: idleness rests on Defender's 30 days, so no API is ranked Decommission"

// lastSeen reads apiguard's own evidence. None configured, or a source that fails for
// good, is a gap; a transient failure ends the run.
func (c *collector) lastSeen(ctx context.Context) (map[string]time.Time, error) {
	if c.o.LastSeen == nil {
		c.gaps.add("apiguard", "last-seen times", "not configured", effectLastSeen)
		return nil, nil
	}
	seen, err := c.o.LastSeen.OperationLastSeen(ctx)
	if err == nil {
		return seen, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if fault.Of(err) == fault.Retry {
		return nil, fault.Transient(fmt.Errorf("collect: apiguard last-seen times: %w", err))
	}
	c.gaps.add("apiguard", "last-seen times", "unreadable", effectLastSeen)
	return nil, nil
}

// attributeLastSeen sets API and operation last-seen times from the evidence's keys: a
// resource id names its API or operation; a detector key "<api> <METHOD> <template>"
// goes to every API of that name in scope (the key carries no service: an API name
// shared by two services counts for both, which errs towards "in use") and to the
// operation of that API whose method and path template match the request (see
// matchOperation). An API's time is the latest of its own and its operations'.
//
// versions gives the apiVersion of versioned APIs (by lower-case API id): a request
// path may carry it as a segment after the API's path.
func attributeLastSeen(services []triage.Service, seen map[string]time.Time, versions map[string]string) {
	if len(seen) == 0 {
		return
	}
	type opRef struct {
		api *triage.API
		op  *triage.Operation
	}
	byID := map[string]*triage.API{}
	opByID := map[string]opRef{}
	byName := map[string][]*triage.API{}
	for si := range services {
		for ai := range services[si].APIs {
			a := &services[si].APIs[ai]
			byID[strings.ToLower(a.ID)] = a
			byName[strings.ToLower(a.Name)] = append(byName[strings.ToLower(a.Name)], a)
			for oi := range a.Operations {
				o := &a.Operations[oi]
				opByID[strings.ToLower(a.ID+"/operations/"+o.Name)] = opRef{a, o}
			}
		}
	}
	later := func(dst *time.Time, t time.Time) {
		if t.After(*dst) {
			*dst = t.UTC()
		}
	}
	for key, at := range seen {
		if strings.HasPrefix(key, "/") {
			if a := byID[strings.ToLower(key)]; a != nil {
				later(&a.LastSeen, at)
			} else if r, ok := opByID[strings.ToLower(key)]; ok {
				later(&r.op.LastSeen, at)
				later(&r.api.LastSeen, at)
			}
			continue
		}
		api, method, tmpl, ok := splitDetectorKey(key)
		if !ok {
			continue
		}
		for _, a := range byName[strings.ToLower(api)] {
			later(&a.LastSeen, at)
			if o := matchOperation(a, versions[strings.ToLower(a.ID)], method, tmpl); o != nil {
				later(&o.LastSeen, at)
			}
		}
	}
}

// splitDetectorKey reads "<api> <METHOD> <template>"; a revision suffix (";rev=2") on
// the API id is dropped: revisions share their API's name.
func splitDetectorKey(key string) (api, method, tmpl string, ok bool) {
	parts := strings.SplitN(key, " ", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	api = parts[0]
	if i := strings.IndexByte(api, ';'); i >= 0 {
		api = api[:i]
	}
	return api, parts[1], parts[2], true
}

// matchOperation finds the operation a request template belongs to. The detectors keep
// the request path with id-like segments replaced by {id} (not APIM's URL template), so
// the request path is matched against "/{api path}[/{api version}]{url template}" with
// any {parameter} segment matching one segment, a trailing * the rest, and an {id} in
// the request matching a literal; the most literal match wins.
func matchOperation(a *triage.API, version, method, tmpl string) *triage.Operation {
	got := segments(tmpl)
	var best *triage.Operation
	bestScore := -1
	for i := range a.Operations {
		o := &a.Operations[i]
		if o.Method != "*" && !strings.EqualFold(o.Method, method) {
			continue
		}
		path := o.URLTemplate
		if q := strings.IndexByte(path, '?'); q >= 0 {
			path = path[:q]
		}
		pats := [][]string{append(segments(a.Path), segments(path)...)}
		if version != "" {
			pats = append(pats, append(append(segments(a.Path), version), segments(path)...))
		}
		for _, pat := range pats {
			if score, ok := matchSegments(pat, got); ok && score > bestScore {
				best, bestScore = o, score
			}
		}
	}
	return best
}

func segments(p string) []string {
	var out []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// matchSegments matches a request path against a pattern, scoring literal matches.
func matchSegments(pat, got []string) (int, bool) {
	score := 0
	for i, p := range pat {
		if p == "*" && i == len(pat)-1 {
			return score, len(got) > i
		}
		if i >= len(got) {
			return 0, false
		}
		g := got[i]
		switch {
		case strings.Contains(p, "{"):
		case strings.EqualFold(p, g):
			score++
		case strings.HasPrefix(g, "{") && strings.HasSuffix(g, "}"):
		default:
			return 0, false
		}
	}
	return score, len(pat) == len(got)
}

// SeenFileName is where a snapshot keeps apiguard's own data, under its folder.
const SeenFileName = "apiguard/last-seen.json"

// SeenFile is apiguard's own data in a snapshot (DIR/apiguard/last-seen.json): when the
// snapshot was taken, since when apiguard has watched traffic, the scopes read, and the
// last-seen time of every API and operation by resource id. It satisfies LastSeen, so an
// offline run reads it as the online run read the detector state.
type SeenFile struct {
	Collected     time.Time            `json:"collected"`
	WatchingSince time.Time            `json:"watchingSince,omitzero"`
	Scopes        []string             `json:"scopes,omitempty"`
	APIs          map[string]time.Time `json:"apis"`
	Operations    map[string]time.Time `json:"operations,omitempty"`
}

var _ LastSeen = SeenFile{}

// SeenOf is the SeenFile of an inventory read for scopes.
func SeenOf(inv triage.Inventory, scopes []string) SeenFile {
	f := SeenFile{Collected: inv.Collected, WatchingSince: inv.WatchingSince, Scopes: scopes,
		APIs: map[string]time.Time{}, Operations: map[string]time.Time{}}
	for _, s := range inv.Services {
		for _, a := range s.APIs {
			if !a.LastSeen.IsZero() {
				f.APIs[a.ID] = a.LastSeen
			}
			for _, o := range a.Operations {
				if !o.LastSeen.IsZero() {
					f.Operations[a.ID+"/operations/"+o.Name] = o.LastSeen
				}
			}
		}
	}
	return f
}

// OperationLastSeen gives the file's times keyed by resource id.
func (f SeenFile) OperationLastSeen(context.Context) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(f.APIs)+len(f.Operations))
	for k, v := range f.APIs {
		out[k] = v
	}
	for k, v := range f.Operations {
		out[k] = v
	}
	return out, nil
}

// Write writes the file into the snapshot folder dir.
func (f SeenFile) Write(dir string) error {
	body, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(SeenFileName)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SeenFileName), append(body, '\n'), 0o644)
}

// ReadSeen reads a snapshot folder's last-seen file. A missing file is a rejection: an
// offline run without it would stamp the wall clock and know nothing of apiguard's
// evidence.
func ReadSeen(dir string) (SeenFile, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return SeenFile{}, fault.Rejected(400, fmt.Errorf("snapshot %s: %w", dir, err))
	}
	defer root.Close()
	body, err := readBounded(root, SeenFileName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return SeenFile{}, fault.Rejected(400, fmt.Errorf("snapshot %s: no %s (written with the snapshot)", dir, SeenFileName))
	case err != nil:
		return SeenFile{}, fault.Rejected(400, err)
	}
	var f SeenFile
	if err := json.Unmarshal(body, &f); err != nil {
		return SeenFile{}, fault.Rejected(400, fmt.Errorf("snapshot %s: %s: %w", dir, SeenFileName, err))
	}
	if f.Collected.IsZero() {
		return SeenFile{}, fault.Rejected(400, fmt.Errorf("snapshot %s: %s has no collected time", dir, SeenFileName))
	}
	return f, nil
}
