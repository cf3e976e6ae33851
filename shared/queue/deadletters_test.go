package queue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
)

type fakeProperties map[string]int32

func (f fakeProperties) GetQueueRuntimeProperties(_ context.Context, q string, _ *admin.GetQueueRuntimePropertiesOptions) (*admin.GetQueueRuntimePropertiesResponse, error) {
	n, ok := f[q]
	switch {
	case q == "broken":
		return nil, errors.New("403 Unauthorized")
	case !ok:
		return nil, nil // the SDK's answer for a queue that does not exist
	}
	var r admin.GetQueueRuntimePropertiesResponse
	r.DeadLetterMessageCount = n
	return &r, nil
}

func TestDeadLetterCounts(t *testing.T) {
	d := NewDeadLetterCounter([]string{"apiguard-reconcile", "apiguard-traffic", "gone", "broken"}, "", "")
	d.once.Do(func() {}) // the fake stands in for the admin client
	d.client = fakeProperties{"apiguard-reconcile": 0, "apiguard-traffic": 3}
	got, err := d.DeadLetters(t.Context())
	if got["apiguard-reconcile"] != 0 || got["apiguard-traffic"] != 3 || len(got) != 2 {
		t.Errorf("counts %v", got)
	}
	if err == nil || !strings.Contains(err.Error(), "gone: no such queue") || !strings.Contains(err.Error(), "broken: 403") {
		t.Errorf("error %v, want both unreadable queues named", err)
	}
	if _, err := NewDeadLetterCounter([]string{"q"}, "", "").DeadLetters(t.Context()); err == nil {
		t.Error("no connection: no error")
	}
}
