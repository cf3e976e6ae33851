package azureapim_test

import (
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/azureapim/apimfake"
	"github.com/apiguard/apiguard/shared/enforce/backendtest"
)

// apimSubject is backend over svc; stored reads the document behind it, change writes
// it as someone in the portal would.
func apimSubject(svc *apimfake.Service, b enforce.Backend, stored func() ([]byte, string, bool), change func(doc []byte)) backendtest.Subject {
	return backendtest.Subject{
		Backend: b,
		Stored: func() []byte {
			doc, _, ok := stored()
			if !ok {
				return nil
			}
			return doc
		},
		Change:   change,
		Throttle: func(d time.Duration) { svc.ThrottleNext(1, d) },
		Discard:  func() { svc.DiscardNext(1) },
	}
}

func policySubject(t *testing.T, svc *apimfake.Service, sc azureapim.Scope) backendtest.Subject {
	return apimSubject(svc, policyBackend(t, svc, sc),
		func() ([]byte, string, bool) { return svc.Policy(sc) },
		func(doc []byte) { svc.Mutate(sc, func([]byte) []byte { return doc }) })
}

// The policy at every kind of scope; the service keeps the bytes it is sent.
func TestPolicyBackendContract(t *testing.T) {
	eachScope(t, func(t *testing.T, sc azureapim.Scope) {
		backendtest.Run(t, backendtest.Harness{
			Present: func(t *testing.T) backendtest.Subject { return policySubject(t, served(t, sc), sc) },
			Absent: func(t *testing.T) backendtest.Subject {
				svc := apimfake.New(service)
				svc.SetPolicy(sc, nil) // the global policy exists on a new service
				return policySubject(t, svc, sc)
			},
			Absence: backendtest.Creates,
			Fresh:   withInclude(t, customer(t)),
			Format:  backendtest.XML,
		})
	})
}

// The fragment apiguard owns, written by a long-running operation, on a service that
// reformats what it stores (CRLF), so the suite compares by meaning.
func TestFragmentBackendContract(t *testing.T) {
	serve := func(doc []byte) *apimfake.Service {
		svc := apimfake.New(service)
		svc.Reserialize(true)
		if doc != nil {
			svc.SetFragment(fragmentID, doc)
		}
		return svc
	}
	subject := func(t *testing.T, svc *apimfake.Service) backendtest.Subject {
		return apimSubject(svc, fragmentBackend(t, svc),
			func() ([]byte, string, bool) { return svc.Fragment(fragmentID) },
			func(doc []byte) { svc.MutateFragment(fragmentID, func([]byte) []byte { return doc }) })
	}
	backendtest.Run(t, backendtest.Harness{
		Present: func(t *testing.T) backendtest.Subject { return subject(t, serve(testdata(t, "fragment.xml"))) },
		Absent:  func(t *testing.T) backendtest.Subject { return subject(t, serve(nil)) },
		Absence: backendtest.Creates,
		Fresh:   testdata(t, "fragment.xml"),
		Format:  backendtest.XML,
	})
}
