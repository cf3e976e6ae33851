// Package hungtest is a frozen dependency for tests of apiguard's deadlines: a TCP
// listener on loopback that accepts every connection, reads what is sent and never
// answers, as a storage or ARM endpoint that hangs does. Nothing else can stand in
// for it: a closed port fails at once, and a server that answers slowly still answers.
package hungtest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Endpoint is a frozen listener.
type Endpoint struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// Listen starts a frozen endpoint on 127.0.0.1; it closes with the test.
func Listen(t testing.TB) *Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &Endpoint{ln: ln}
	go e.serve()
	t.Cleanup(e.close)
	return e
}

// Addr is host:port.
func (e *Endpoint) Addr() string { return e.ln.Addr().String() }

// Port is the listening port.
func (e *Endpoint) Port() int { return e.ln.Addr().(*net.TCPAddr).Port }

// Accepted counts the connections taken so far: a test checks the client reached
// the endpoint rather than failing before it.
func (e *Endpoint) Accepted() int64 { return e.accepted.Load() }

func (e *Endpoint) serve() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.accepted.Add(1)
		e.mu.Lock()
		e.conns = append(e.conns, c)
		e.mu.Unlock()
		// Read the request so the client's write completes; answer nothing.
		go func() { _, _ = io.Copy(io.Discard, c) }()
	}
}

func (e *Endpoint) close() {
	_ = e.ln.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		_ = c.Close()
	}
}
