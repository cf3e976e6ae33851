package enforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/apiguard/apiguard/shared/fault"
)

// FileBackend keeps a policy document in a local file: what `apiguard serve` enforces
// into, and output-as-code a team can commit. The ETag is the content's hash, so an
// edit made by hand between our read and our write is detected like a 412.
type FileBackend struct {
	path  string
	empty []byte // the document a missing file stands for

	mu sync.Mutex // one process, many goroutines; the queue already gives one writer per target
}

var _ Backend = (*FileBackend)(nil)

// NewFileBackend keeps the policy in path; a missing file reads as empty (the minimal
// document of the policy's kind) and is created on the first write.
func NewFileBackend(path string, empty []byte) *FileBackend {
	return &FileBackend{path: path, empty: empty}
}

func fileETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Get reads the file; a missing one is the empty document with no ETag.
func (f *FileBackend) Get(ctx context.Context) (Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Policy{}, fmt.Errorf("read %s: %w", f.path, err)
	}
	return f.get()
}

func (f *FileBackend) get() (Policy, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return Policy{Doc: f.empty}, nil
	}
	if err != nil {
		return Policy{}, fault.Transient(fmt.Errorf("read policy file: %w", err))
	}
	return Policy{Doc: b, ETag: fileETag(b)}, nil
}

// Put replaces the file atomically (write a temporary file, then rename) when its
// content still hashes to etag. A caller that has given up (its context done, before
// the rename) writes nothing, as with a remote backend whose request was never sent.
func (f *FileBackend) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	cur, err := f.get()
	if err != nil {
		return "", err
	}
	if cur.ETag != etag {
		return "", fmt.Errorf("%s: %w", f.path, ErrPrecondition)
	}
	// Written as given: the WAF document code already keeps the file's own layout and
	// lays out new rules in it, so a team that commits the file sees only our rules
	// change.
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fault.Transient(err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".*")
	if err != nil {
		return "", fault.Transient(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(doc); err != nil {
		tmp.Close()
		return "", fault.Transient(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fault.Transient(err)
	}
	if err := tmp.Close(); err != nil {
		return "", fault.Transient(err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fault.Transient(err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return "", fault.Transient(err)
	}
	return fileETag(doc), nil
}
