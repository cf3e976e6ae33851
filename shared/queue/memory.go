package queue

import (
	"context"
	"sync"
	"time"
)

// Handler reconciles one target for a coalesced batch of requests. Its error is
// reported to OnError; the requests are not redelivered (the next request or the
// periodic repair runs it again).
type Handler func(ctx context.Context, target string, batch []Message) error

// Memory is the in-process queue: one worker per target, and requests that arrive
// while a target is being reconciled, or within the settle time before a run, are
// coalesced into that run (what the Functions host's Service Bus batching, with
// maxBatchWaitTime, does for the remediate function).
type Memory struct {
	ctx     context.Context
	settle  time.Duration
	handle  Handler
	onError func(target string, err error)

	mu      sync.Mutex
	pending map[string][]Message
	running map[string]bool
	idle    *sync.Cond
}

var _ Sender = (*Memory)(nil)

// NewMemory starts an in-process queue whose workers stop with ctx. Each run waits
// settle first, gathering the requests that arrive meanwhile.
func NewMemory(ctx context.Context, settle time.Duration, handle Handler, onError func(target string, err error)) *Memory {
	m := &Memory{ctx: ctx, settle: settle, handle: handle, onError: onError, pending: map[string][]Message{}, running: map[string]bool{}}
	m.idle = sync.NewCond(&m.mu)
	return m
}

// Send queues the requests; each target's worker starts if it is not running.
func (m *Memory) Send(_ context.Context, msgs []Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range msgs {
		m.pending[msg.Target] = append(m.pending[msg.Target], msg)
		if !m.running[msg.Target] {
			m.running[msg.Target] = true
			go m.work(msg.Target)
		}
	}
	return nil
}

// work drains a target's requests, one run per batch, until none are left.
func (m *Memory) work(target string) {
	for {
		if m.settle > 0 {
			t := time.NewTimer(m.settle)
			select {
			case <-m.ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		m.mu.Lock()
		batch := m.pending[target]
		delete(m.pending, target)
		if len(batch) == 0 || m.ctx.Err() != nil {
			m.running[target] = false
			m.idle.Broadcast()
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		if err := m.handle(m.ctx, target, batch); err != nil && m.onError != nil {
			m.onError(target, err)
		}
	}
}

// Wait blocks until every queued request has been handled.
func (m *Memory) Wait() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		busy := len(m.pending) > 0
		for _, r := range m.running {
			busy = busy || r
		}
		if !busy {
			return
		}
		m.idle.Wait()
	}
}
