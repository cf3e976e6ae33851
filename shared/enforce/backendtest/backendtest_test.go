package backendtest_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/backendtest"
	"github.com/apiguard/apiguard/shared/fault"
)

// memory is the smallest backend that keeps the contract: the suite's own reference.
type memory struct {
	mu       sync.Mutex
	doc      []byte // nil: absent
	seq      int
	throttle time.Duration
	discard  bool
}

var _ enforce.Backend = (*memory)(nil)

func (m *memory) etag() string {
	if m.doc == nil {
		return ""
	}
	return fmt.Sprintf(`"%d"`, m.seq)
}

func (m *memory) Get(ctx context.Context) (enforce.Policy, error) {
	if err := ctx.Err(); err != nil {
		return enforce.Policy{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return enforce.Policy{Doc: m.doc, ETag: m.etag()}, nil
}

func (m *memory) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.throttle; d > 0 {
		m.throttle = 0
		return "", &enforce.ThrottledError{RetryAfter: d, Err: fault.Transient(fmt.Errorf("throttled"))}
	}
	if etag != m.etag() {
		return "", fmt.Errorf("memory: %w", enforce.ErrPrecondition)
	}
	if m.discard {
		m.discard = false
		return fmt.Sprintf(`"%d"`, m.seq+1000), nil
	}
	m.set(doc)
	return m.etag(), nil
}

// set stores doc with a new ETag; the caller holds mu.
func (m *memory) set(doc []byte) {
	m.seq++
	m.doc = append([]byte{}, doc...)
}

func subject(m *memory) backendtest.Subject {
	return backendtest.Subject{
		Backend: m,
		Stored: func() []byte {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.doc
		},
		Change: func(doc []byte) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.set(doc)
		},
		Throttle: func(d time.Duration) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.throttle = d
		},
		Discard: func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.discard = true
		},
	}
}

func TestMemory(t *testing.T) {
	const doc = "<policies>\n\t<inbound />\n</policies>"
	backendtest.Run(t, backendtest.Harness{
		Present: func(*testing.T) backendtest.Subject { return subject(&memory{doc: []byte(doc), seq: 1}) },
		Absent:  func(*testing.T) backendtest.Subject { return subject(&memory{}) },
		Absence: backendtest.Creates,
		Fresh:   []byte(doc),
		Format:  backendtest.XML,
	})
}

// A backend that refuses to create: Get of an absent document and a blind Put are
// rejected.
type refusing struct{ *memory }

func (r refusing) Get(ctx context.Context) (enforce.Policy, error) {
	p, err := r.memory.Get(ctx)
	if err == nil && p.ETag == "" {
		return p, fault.Rejected(http.StatusNotFound, fmt.Errorf("absent"))
	}
	return p, err
}

func (r refusing) Put(ctx context.Context, doc []byte, etag string) (string, error) {
	if etag == "" {
		return "", fault.Rejected(http.StatusPreconditionRequired, fmt.Errorf("no ETag"))
	}
	return r.memory.Put(ctx, doc, etag)
}

func TestMemoryRefusing(t *testing.T) {
	const doc = `{"properties":{"customRules":[]}}`
	wrap := func(m *memory) backendtest.Subject {
		s := subject(m)
		s.Backend = refusing{m}
		return s
	}
	backendtest.Run(t, backendtest.Harness{
		Present:    func(*testing.T) backendtest.Subject { return wrap(&memory{doc: []byte(doc), seq: 1}) },
		Absent:     func(*testing.T) backendtest.Subject { return wrap(&memory{}) },
		Absence:    backendtest.Refuses,
		Fresh:      []byte(doc),
		Format:     backendtest.JSON("etag"),
		NoThrottle: "checking that a declared reason skips",
	})
}
