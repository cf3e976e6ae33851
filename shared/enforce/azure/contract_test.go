package azure_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/enforce/azure/armfake"
	"github.com/apiguard/apiguard/shared/enforce/backendtest"
)

// wafSubject is the backend for id over svc. The fake holds one policy: for another
// id there is no document, unless the fake saw a write (which it never should).
func wafSubject(t *testing.T, svc *armfake.Service, id string) backendtest.Subject {
	return backendtest.Subject{
		Backend: backendFor(t, svc, id),
		Stored: func() []byte {
			doc, _ := svc.Current()
			if id != svc.ID() && svc.Writes() == 0 {
				return nil
			}
			return doc
		},
		Change:   func(doc []byte) { svc.Mutate(func([]byte) []byte { return doc }) },
		Throttle: func(d time.Duration) { svc.ThrottleNext(1, d) },
		Discard:  func() { svc.DiscardNext(1) },
	}
}

func TestBackendContract(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		seed, err := os.ReadFile(k.testdata)
		if err != nil {
			t.Fatal(err)
		}
		backendtest.Run(t, backendtest.Harness{
			Present: func(t *testing.T) backendtest.Subject { return wafSubject(t, k.serve(t), k.id) },
			Absent: func(t *testing.T) backendtest.Subject {
				return wafSubject(t, k.serve(t), k.id[:strings.LastIndex(k.id, "/")]+"/noSuchPolicy")
			},
			Absence: backendtest.Refuses, // apiguard never creates WAF policies
			Fresh:   seed,
			Format:  backendtest.JSON("etag"),
		})
	})
}
