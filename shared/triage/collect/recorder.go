package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Recorder is a Transporter in front of another that keeps every GET response body the
// collector read, keyed by ARM path (lower case, query left out), and writes them as a
// snapshot folder (WriteSnapshot) that Snapshot answers from.
//
//   - A 2xx body is kept byte for byte.
//   - A paged list (a first page with a nextLink) is kept as one body: the first page's
//     fields with every page's items in value and no nextLink, re-encoded. A list not
//     read to its end keeps the nextLink it stopped at; one whose next page failed
//     (and was not retried with success) is kept as that failure.
//   - A 404 that means "nothing here" (ResourceNotFound, as for a scope without a
//     policy) is kept as an absent file, which Snapshot answers with the same 404.
//   - Any other failure (403, 409, a 500 after the retries, a 404 naming a missing
//     subscription or resource group) is kept with its status and ARM error body in
//     apiguard/errors.json, so the offline run meets the same gaps.
//
// The last answer to a path wins: a retried 503 followed by a 200 is kept as the 200. A
// Recorder is safe for concurrent use.
type Recorder struct {
	inner policy.Transporter

	mu      sync.Mutex
	entries map[string]*recorded
	pending map[string]string // normalized next link -> key of the list it continues
	refused []string
}

var _ policy.Transporter = (*Recorder)(nil)

type recorded struct {
	status int
	body   []byte // a single body (2xx) or the error body
	// A paged list: the first page's fields (value and nextLink left out) and the items
	// of every page read; next is the link not followed, if any.
	paged  bool
	fields map[string]json.RawMessage
	items  []json.RawMessage
	next   string
	// A next page that failed (kept for a retry of it): the list is written as this
	// failure unless a retry succeeds.
	failStatus int
	failBody   []byte
}

// NewRecorder records what inner answers (nil: HTTPS to ARM).
func NewRecorder(inner policy.Transporter) *Recorder {
	if inner == nil {
		inner = defaultTransport()
	}
	return &Recorder{inner: inner, entries: map[string]*recorded{}, pending: map[string]string{}}
}

// Do sends req through the inner transport and keeps a GET's answer.
func (r *Recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.Do(req)
	if err != nil || req.Method != http.MethodGet || resp == nil {
		return resp, err
	}
	var body []byte
	if resp.Body != nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, MaxSnapshotFile+1))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > MaxSnapshotFile {
		return nil, refuse("a response to %s is over %d bytes", clip(req.URL.Path), MaxSnapshotFile)
	}
	r.keep(req.URL, resp.StatusCode, body)
	return resp, nil
}

func (r *Recorder) keep(u *url.URL, status int, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	link := normalizeURL(u)
	if list, ok := r.pending[link]; ok {
		delete(r.pending, link)
		r.continueList(list, link, status, body)
		return
	}
	key, err := keyOf(u.Path)
	if err != nil {
		r.refused = append(r.refused, u.Path)
		return
	}
	switch {
	case status >= 200 && status < 300:
		e := &recorded{status: status, body: body}
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			if next := nextLink(fields); next != "" {
				e.paged, e.fields, e.next = true, fields, next
				e.items = itemsOf(fields)
				delete(fields, "value")
				delete(fields, "nextLink")
				r.follow(key, next)
			}
		}
		r.entries[key] = e
	case status == http.StatusNotFound && !slices.Contains(containerMissing, errorCode(body)):
		delete(r.entries, key)
	case status >= 400:
		r.entries[key] = &recorded{status: status, body: body}
	}
}

// continueList adds a next page to the list it continues. A failed page makes the list
// a failure, as the collector sees it, unless a retry of the page (the same link,
// still followed) succeeds.
func (r *Recorder) continueList(key, link string, status int, body []byte) {
	e := r.entries[key]
	if e == nil || !e.paged {
		return
	}
	if status < 200 || status >= 300 {
		e.failStatus, e.failBody = status, body
		r.pending[link] = key
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		e.failStatus, e.failBody = http.StatusBadGateway, body
		return
	}
	e.failStatus, e.failBody = 0, nil
	e.items = append(e.items, itemsOf(fields)...)
	e.next = nextLink(fields)
	if e.next != "" {
		r.follow(key, e.next)
	}
}

func (r *Recorder) follow(key, next string) {
	if u, err := url.Parse(next); err == nil {
		r.pending[normalizeURL(u)] = key
	}
}

func nextLink(fields map[string]json.RawMessage) string {
	var s string
	if raw, ok := fields["nextLink"]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

func itemsOf(fields map[string]json.RawMessage) []json.RawMessage {
	var items []json.RawMessage
	if raw, ok := fields["value"]; ok {
		_ = json.Unmarshal(raw, &items)
	}
	return items
}

// normalizeURL names a request or next link the same way whatever its spelling: host
// and path in lower case, the query sorted.
func normalizeURL(u *url.URL) string {
	return strings.ToLower(u.Host) + strings.ToLower(u.EscapedPath()) + "?" + u.Query().Encode()
}

// errorCode is error.code of an ARM error body, or "".
func errorCode(body []byte) string {
	var wire struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &wire)
	return wire.Error.Code
}

// failure is the status and body the entry is written as in errors.json (0: none).
func (e *recorded) failure() (int, []byte) {
	switch {
	case e.status >= 400:
		return e.status, e.body
	case e.failStatus != 0:
		return e.failStatus, e.failBody
	}
	return 0, nil
}

// bytes is what the snapshot file holds: the body as read, or the merged list.
func (e *recorded) bytes() ([]byte, error) {
	if !e.paged {
		return e.body, nil
	}
	fields := make(map[string]json.RawMessage, len(e.fields)+2)
	for k, v := range e.fields {
		fields[k] = v
	}
	items := e.items
	if items == nil {
		items = []json.RawMessage{}
	}
	value, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	fields["value"] = value
	if e.next != "" {
		next, _ := json.Marshal(e.next)
		fields["nextLink"] = next
	}
	return json.Marshal(fields)
}

// errorEntry is one failure in apiguard/errors.json.
type errorEntry struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// ErrorsFileName lists, in a snapshot folder, the reads that failed other than with
// "nothing here": {"<key>": {"status": 403, "body": <ARM error body>}}.
const ErrorsFileName = "apiguard/errors.json"

// WriteSnapshot writes what was recorded into dir, which must be empty or absent:
// DIR/<key>.json per read (the body byte for byte, merged lists re-encoded) and
// DIR/apiguard/errors.json for the failures. It refuses when a path could not be kept.
func (r *Recorder) WriteSnapshot(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refused) > 0 {
		return refuse("paths that cannot be snapshot keys: %s", strings.Join(r.refused, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return err
	} else if len(ents) > 0 {
		return fmt.Errorf("snapshot %s: the folder is not empty", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	failures := map[string]errorEntry{}
	for _, key := range slices.Sorted(maps.Keys(r.entries)) {
		e := r.entries[key]
		if status, raw := e.failure(); status != 0 {
			body := json.RawMessage(raw)
			if !json.Valid(body) {
				body, _ = json.Marshal(string(raw))
			}
			failures[key] = errorEntry{Status: status, Body: body}
			continue
		}
		body, err := e.bytes()
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", key, err)
		}
		if len(body) > MaxSnapshotFile {
			return refuse("%s is over %d bytes", key, MaxSnapshotFile)
		}
		if err := root.MkdirAll(path.Dir(key), 0o755); err != nil {
			return err
		}
		if err := root.WriteFile(key+".json", body, 0o644); err != nil {
			return err
		}
	}
	if len(failures) == 0 {
		return nil
	}
	body, err := json.MarshalIndent(failures, "", "  ")
	if err != nil {
		return err
	}
	if err := root.MkdirAll(path.Dir(ErrorsFileName), 0o755); err != nil {
		return err
	}
	return root.WriteFile(ErrorsFileName, append(body, '\n'), 0o644)
}

// ErrRefused is a snapshot that cannot be trusted or written safely: a path that could
// leave the folder, a file over the size limit, a request other than GET. The run fails
// with it (a rejection), never a gap.
var ErrRefused = errors.New("snapshot refused")

// TakeSnapshot collects with opts through a Recorder in front of opts' transport (nil:
// HTTPS to ARM) and writes the snapshot folder dir, which must be empty or absent:
// every ARM read, then apiguard's own data (SeenFile). A run that fails writes nothing.
func TakeSnapshot(ctx context.Context, opts Options, dir string) (Stats, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return Stats{}, fmt.Errorf("snapshot %s: the folder is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Stats{}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	var co arm.ClientOptions
	if opts.ClientOptions != nil {
		co = *opts.ClientOptions
	}
	inner := co.Transport
	if inner == nil {
		inner = defaultTransport()
	}
	rec := NewRecorder(inner)
	co.Transport = rec
	opts.ClientOptions = &co
	stats := opts.Stats
	if stats == nil {
		stats = &Stats{}
		opts.Stats = stats
	}
	inv, err := Collect(ctx, opts)
	if err != nil {
		return *stats, err
	}
	if err := rec.WriteSnapshot(dir); err != nil {
		return *stats, err
	}
	return *stats, SeenOf(inv, opts.Scopes).Write(dir)
}
