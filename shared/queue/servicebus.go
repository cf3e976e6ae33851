package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/apiguard/apiguard/shared/fault"
)

// messageSender is the part of *azservicebus.Sender apiguard uses: the SDK's own
// mocking pattern, so tests substitute an in-memory one.
type messageSender interface {
	SendMessage(ctx context.Context, message *azservicebus.Message, options *azservicebus.SendMessageOptions) error
}

var _ messageSender = (*azservicebus.Sender)(nil)

// ServiceBus publishes reconcile requests to a session-enabled queue. The client is
// created on first use: the Functions host wants the handler listening at once.
type ServiceBus struct {
	queue     string
	conn      string // connection string, or
	namespace string // fully qualified namespace with managed identity

	once   sync.Once
	sender messageSender
	err    error
}

var _ Sender = (*ServiceBus)(nil)

// NewServiceBus returns a sender for queue; give a connection string or a namespace.
func NewServiceBus(queue, conn, namespace string) *ServiceBus {
	return &ServiceBus{queue: queue, conn: conn, namespace: namespace}
}

func (s *ServiceBus) client() (messageSender, error) {
	s.once.Do(func() {
		var c *azservicebus.Client
		switch {
		case s.conn != "":
			c, s.err = azservicebus.NewClientFromConnectionString(s.conn, nil)
		case s.namespace != "":
			cred, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				s.err = err
				return
			}
			c, s.err = azservicebus.NewClient(s.namespace, cred, nil)
		default:
			s.err = errors.New("no Service Bus connection configured")
		}
		if s.err != nil {
			s.err = fault.Rejected(0, fmt.Errorf("service bus: %w", s.err))
			return
		}
		s.sender, s.err = c.NewSender(s.queue, nil)
	})
	return s.sender, s.err
}

// Send publishes one message per request, in the target's session.
func (s *ServiceBus) Send(ctx context.Context, msgs []Message) error {
	sender, err := s.client()
	if err != nil {
		return err
	}
	return send(ctx, sender, msgs)
}

func send(ctx context.Context, sender messageSender, msgs []Message) error {
	for _, m := range msgs {
		body, err := json.Marshal(m)
		if err != nil {
			return err
		}
		session := SessionID(m.Target)
		ct := "application/json"
		if err := sender.SendMessage(ctx, &azservicebus.Message{Body: body, SessionID: &session, ContentType: &ct}, nil); err != nil {
			// Sending fails on network and throttling faults: the caller's invocation is
			// retried, and every request is idempotent.
			return fault.Transient(fmt.Errorf("service bus send to %s: %w", short(m.Target), err))
		}
	}
	return nil
}

func short(target string) string {
	if len(target) > 80 {
		return target[:80] + "..."
	}
	return target
}
