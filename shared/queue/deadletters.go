package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"

	"github.com/apiguard/apiguard/shared/fault"
)

// queueProperties is the part of *admin.Client dead-letter counting uses.
type queueProperties interface {
	GetQueueRuntimeProperties(ctx context.Context, queueName string, options *admin.GetQueueRuntimePropertiesOptions) (*admin.GetQueueRuntimePropertiesResponse, error)
}

var _ queueProperties = (*admin.Client)(nil)

// DeadLetterCounter counts the dead-lettered messages of apiguard's queues, for
// health: a message the host gave up on is work that silently did not happen.
type DeadLetterCounter struct {
	queues          []string
	conn, namespace string

	once   sync.Once
	client queueProperties
	err    error
}

// NewDeadLetterCounter counts the dead letters of queues in the namespace a
// connection string or a fully qualified namespace (managed identity) names.
func NewDeadLetterCounter(queues []string, conn, namespace string) *DeadLetterCounter {
	return &DeadLetterCounter{queues: queues, conn: conn, namespace: namespace}
}

func (d *DeadLetterCounter) admin() (queueProperties, error) {
	d.once.Do(func() {
		switch {
		case d.client != nil:
		case d.conn != "":
			d.client, d.err = admin.NewClientFromConnectionString(d.conn, nil)
		case d.namespace != "":
			cred, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				d.err = err
				return
			}
			d.client, d.err = admin.NewClient(d.namespace, cred, nil)
		default:
			d.err = errors.New("no Service Bus connection configured")
		}
		if d.err != nil {
			d.err = fault.Rejected(0, fmt.Errorf("service bus admin: %w", d.err))
		}
	})
	return d.client, d.err
}

// DeadLetters returns the dead-letter count of every queue; a queue that cannot be
// read is named in the error, and the others are still counted.
func (d *DeadLetterCounter) DeadLetters(ctx context.Context) (map[string]int64, error) {
	c, err := d.admin()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var failed []string
	for _, q := range d.queues {
		resp, err := c.GetQueueRuntimeProperties(ctx, q, nil)
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", q, err))
		case resp == nil:
			failed = append(failed, q+": no such queue")
		default:
			out[q] = int64(resp.DeadLetterMessageCount)
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("dead letters: %s", strings.Join(failed, "; "))
	}
	return out, nil
}
