package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// MaxSnapshotFile bounds one file of a snapshot folder, read or written.
const MaxSnapshotFile = 64 << 20

// maxKey bounds a snapshot key (an ARM path).
const maxKey = 2048

// refusal is ErrRefused with what was refused. Retrying cannot help, so it says so to
// azcore's retry policy.
type refusal struct{ msg string }

func (e *refusal) Error() string        { return ErrRefused.Error() + ": " + e.msg }
func (e *refusal) Is(target error) bool { return target == ErrRefused }
func (e *refusal) NonRetriable()        {}

func refuse(format string, a ...any) error { return &refusal{msg: fmt.Sprintf(format, a...)} }

// keyOf is the snapshot key of an ARM path: lower case, without the leading slash. A
// path that is not an ARM path, or that has a segment which could leave the folder (.,
// .., a backslash, a colon, a control character, an empty segment), is refused.
func keyOf(p string) (string, error) {
	k := strings.ToLower(strings.TrimPrefix(p, "/"))
	if k == "" || len(k) > maxKey {
		return "", refuse("path %q: empty or over %d bytes", clip(p), maxKey)
	}
	segs := strings.Split(k, "/")
	if segs[0] != "subscriptions" && segs[0] != "providers" {
		return "", refuse("path %q: not an ARM path (/subscriptions/... or /providers/...)", clip(p))
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsFunc(s, func(r rune) bool {
			return r == '\\' || r == ':' || r < 0x20 || r == 0x7f
		}) {
			return "", refuse("path %q: segment %q cannot name a file in the snapshot", clip(p), clip(s))
		}
	}
	return k, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// snapshot answers GETs from a snapshot folder.
type snapshot struct {
	dir string

	once   sync.Once
	root   *os.Root
	errs   map[string]errorEntry
	broken error
}

// Snapshot is a Transporter answering GETs from a folder written by
// Recorder.WriteSnapshot (or built by hand, see docs/triage.md): DIR/<key>.json answers
// 200 with the file's bytes; a key listed in apiguard/errors.json answers its status and
// body; a missing file answers 404 ResourceNotFound, as ARM answers for a scope without
// a policy. Anything else is refused (ErrRefused, which fails the run): a request other
// than GET, a path that could leave the folder (symbolic links out of it included), a
// file over MaxSnapshotFile. The query is ignored: each path was read once.
func Snapshot(dir string) policy.Transporter { return &snapshot{dir: dir} }

func (s *snapshot) open() error {
	s.once.Do(func() {
		root, err := os.OpenRoot(s.dir)
		if err != nil {
			s.broken = refuse("folder %s: %v", s.dir, err)
			return
		}
		s.root = root
		s.errs = map[string]errorEntry{}
		body, err := readBounded(root, ErrorsFileName)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			s.broken = err
		default:
			if err := json.Unmarshal(body, &s.errs); err != nil {
				s.broken = refuse("%s: %v", ErrorsFileName, err)
			}
		}
	})
	return s.broken
}

// readBounded reads a regular file of the folder, refusing one over MaxSnapshotFile or
// one that leaves it.
func readBounded(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, refuse("%s: %v", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, refuse("%s: %v", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, refuse("%s: not a regular file", name)
	}
	if st.Size() > MaxSnapshotFile {
		return nil, refuse("%s: %d bytes, over %d", name, st.Size(), MaxSnapshotFile)
	}
	body, err := io.ReadAll(io.LimitReader(f, MaxSnapshotFile+1))
	if err != nil {
		return nil, refuse("%s: %v", name, err)
	}
	if len(body) > MaxSnapshotFile {
		return nil, refuse("%s: over %d bytes", name, MaxSnapshotFile)
	}
	return body, nil
}

func (s *snapshot) Do(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.Method != http.MethodGet {
		return nil, refuse("%s %s: a snapshot answers reads only", req.Method, clip(req.URL.Path))
	}
	key, err := keyOf(req.URL.Path)
	if err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	body, err := readBounded(s.root, key+".json")
	switch {
	case err == nil:
		return respond(req, http.StatusOK, body), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if e, ok := s.errs[key]; ok && e.Status >= 400 {
		return respond(req, e.Status, e.Body), nil
	}
	body, _ = json.Marshal(map[string]any{"error": map[string]string{
		"code": "ResourceNotFound", "message": "The snapshot holds no " + key + ".json.",
	}})
	return respond(req, http.StatusNotFound, body), nil
}

func respond(req *http.Request, status int, body []byte) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// offlineCredential authorizes requests that never leave the machine.
type offlineCredential struct{}

func (offlineCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "offline", ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// SnapshotOptions are the Options of an offline run over the snapshot folder dir: its
// transport, the scopes, apiguard's evidence and the collection time from
// apiguard/last-seen.json (never the wall clock), and azcore's retries kept (so a
// recorded 500 costs what it cost online) with a 1 ms delay.
func SnapshotOptions(dir string) (Options, error) {
	f, err := ReadSeen(dir)
	if err != nil {
		return Options{}, err
	}
	collected := f.Collected
	return Options{
		Scopes:     f.Scopes,
		Credential: offlineCredential{},
		ClientOptions: &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: Snapshot(dir),
			Retry:     policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
		}},
		LastSeen:      f,
		WatchingSince: f.WatchingSince,
		Now:           func() time.Time { return collected },
		// Files, not ARM: no read budget to spare.
		ReadsPerSecond: -1,
	}, nil
}
