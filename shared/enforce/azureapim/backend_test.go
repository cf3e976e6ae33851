package azureapim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/apiguard/apiguard/shared/enforce"
	"github.com/apiguard/apiguard/shared/enforce/azureapim"
	"github.com/apiguard/apiguard/shared/enforce/azureapim/apimfake"
	"github.com/apiguard/apiguard/shared/fault"
)

var service = azureapim.Service{Subscription: "00000000-0000-0000-0000-000000000001", ResourceGroup: "rg-api", Name: "apim-prod"}

const fragmentID = "apiguard-blocks"

// scopeCase runs a test at one scope kind.
type scopeCase struct {
	kind  string
	scope azureapim.Scope
}

var scopes = []scopeCase{
	{"global", azureapim.Global},
	{"product", azureapim.Scope{Product: "starter"}},
	{"api", azureapim.Scope{API: "echo-api"}},
	{"operation", azureapim.Scope{API: "echo-api", Operation: "retrieve-resource"}},
}

func eachScope(t *testing.T, f func(t *testing.T, sc azureapim.Scope)) {
	for _, c := range scopes {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			f(t, c.scope)
		})
	}
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// customer is a real-looking policy: C# expressions, => and &&, {{named values}}, not
// well-formed XML.
func customer(t testing.TB) []byte { return testdata(t, "customer-api-policy.xml") }

// withInclude is the caller's edit: the include line right after <base /> in inbound.
func withInclude(t testing.TB, doc []byte) []byte {
	t.Helper()
	const anchor = "<inbound>\n\t\t<base />\n"
	i := bytes.Index(doc, []byte(anchor))
	if i < 0 {
		t.Fatalf("no anchor in\n%s", doc)
	}
	at := i + len(anchor)
	return slices.Concat(doc[:at], []byte("\t\t<include-fragment fragment-id=\""+fragmentID+"\" />\n"), doc[at:])
}

// served is a fake service with the customer's policy at sc.
func served(t *testing.T, sc azureapim.Scope) *apimfake.Service {
	t.Helper()
	svc := apimfake.New(service)
	svc.SetPolicy(sc, customer(t))
	return svc
}

func policyBackend(t *testing.T, svc *apimfake.Service, sc azureapim.Scope) enforce.Backend {
	t.Helper()
	b, err := azureapim.NewPolicyBackend(svc.Service(), sc, svc.Credential(), svc.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fragmentBackend(t *testing.T, svc *apimfake.Service) enforce.Backend {
	t.Helper()
	b, err := azureapim.NewFragmentBackend(svc.Service(), fragmentID, svc.Credential(), svc.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// explicit returns the disposition err was given, failing when it has none (fault.Of
// would call that Retry, hiding a missing mapping).
func explicit(t *testing.T, err error) *fault.Error {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error has no fault disposition: %v", err)
	}
	return fe
}

func responseCode(t *testing.T, err error, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Fatalf("want the service's %s in the chain, got %v", code, err)
	}
	if !strings.Contains(err.Error(), code) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one line naming %s: %q", code, err)
	}
}

// The global policy exists on a new service (APIM's default), and scopes below it
// have none until written.
func TestAbsentPolicyIsNilNotError(t *testing.T) {
	eachScope(t, func(t *testing.T, sc azureapim.Scope) {
		svc := apimfake.New(service)
		if sc.IsGlobal() {
			svc.SetPolicy(sc, nil)
		} else {
			svc.AddScope(sc)
		}
		p, err := policyBackend(t, svc, sc).Get(context.Background())
		if err != nil || p.Doc != nil || p.ETag != "" {
			t.Fatalf("absent policy: %q %q %v", p.Doc, p.ETag, err)
		}
	})
	svc := apimfake.New(service)
	p, err := policyBackend(t, svc, azureapim.Global).Get(context.Background())
	if err != nil || string(p.Doc) != apimfake.DefaultGlobalPolicy {
		t.Fatalf("a new service's global policy: %q %v", p.Doc, err)
	}
}

func TestStaleETagIsPrecondition(t *testing.T) {
	eachScope(t, func(t *testing.T, sc azureapim.Scope) {
		svc := served(t, sc)
		b := policyBackend(t, svc, sc)
		ctx := context.Background()
		cur, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		svc.Mutate(sc, func(doc []byte) []byte { // drift: an edit in the portal
			return bytes.Replace(doc, []byte(`calls="100"`), []byte(`calls="50"`), 1)
		})
		_, err = b.Put(ctx, withInclude(t, cur.Doc), cur.ETag)
		if !errors.Is(err, enforce.ErrPrecondition) {
			t.Fatalf("want ErrPrecondition, got %v", err)
		}
		responseCode(t, err, "PreconditionFailed")
		if c := svc.Counts(); c.Conflicts != 1 || c.Writes != 0 || c.Puts != 1 {
			t.Fatalf("counts %+v", c)
		}
	})
}

// A 429 is left to the caller (the contract suites' throttled write, and the "429" row
// of TestServiceFaultDispositions). The control: the fake's 429 is retryable, so when
// the caller asks for 429 retries, azcore does retry, and the backend keeps the
// caller's codes.
func TestCallerRetryCodesKept(t *testing.T) {
	svc := apimfake.New(service)
	opts := svc.ClientOptions()
	opts.Retry.StatusCodes = []int{http.StatusTooManyRequests}
	b, err := azureapim.NewPolicyBackend(service, azureapim.Global, svc.Credential(), opts)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := b.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	svc.ThrottleNext(1, 2*time.Millisecond)
	if _, err := b.Put(context.Background(), cur.Doc, cur.ETag); err != nil {
		t.Fatal(err)
	}
	if c := svc.Counts(); c.Puts != 2 || c.Writes != 1 {
		t.Fatalf("want azcore to retry the 429 once: %+v", c)
	}
	if !slices.Equal(opts.Retry.StatusCodes, []int{http.StatusTooManyRequests}) {
		t.Fatalf("caller's options changed: %v", opts.Retry.StatusCodes)
	}
}

// What the contract suite (TestFragmentBackendContract) cannot know: the write is one
// PUT answered in progress and two polls paced by the service's Retry-After, not the
// default 5 s; Put returns the ETag stored; the description says who owns the fragment.
func TestFragmentLongRunningWrite(t *testing.T) {
	svc := apimfake.New(service)
	b := fragmentBackend(t, svc) // default poll frequency: the service's Retry-After paces it
	doc := testdata(t, "fragment.xml")
	start := time.Now()
	etag, err := b.Put(context.Background(), doc, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("write took %s: Retry-After on in-progress responses was not honoured", d)
	}
	if _, now, ok := svc.Fragment(fragmentID); !ok || etag != now || etag == "" {
		t.Fatalf("created %v, ETag %q / service %q", ok, etag, now)
	}
	if got := svc.Description(fragmentID); got != azureapim.FragmentDescription {
		t.Fatalf("description %q", got)
	}
	if c := svc.Counts(); c.Puts != 1 || c.Polls != 2 || c.Writes != 1 {
		t.Fatalf("want 1 PUT answered in progress, then 2 polls (one in progress, one done): %+v", c)
	}
}

// The service re-serializes what it stores: what comes back differs in bytes (CRLF)
// but not in meaning, and the new ETag still works for the next write.
func TestReserializedDocumentComesBackCRLF(t *testing.T) {
	svc := apimfake.New(service)
	svc.Reserialize(true)
	sc := azureapim.Scope{Product: "starter"}
	svc.AddScope(sc)
	ctx := context.Background()
	b := policyBackend(t, svc, sc)
	doc := withInclude(t, customer(t))
	etag, err := b.Put(ctx, doc, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got.Doc, doc) || !bytes.Contains(got.Doc, []byte("\r\n")) || got.ETag != etag {
		t.Fatalf("want CRLF content back under the write's ETag, got %q", got.Doc)
	}
	if !bytes.Equal(bytes.ReplaceAll(got.Doc, []byte("\r\n"), []byte("\n")), doc) {
		t.Fatalf("only line endings may differ:\n%q\n%q", got.Doc, doc)
	}

	f := fragmentBackend(t, svc)
	if _, err := f.Put(ctx, testdata(t, "fragment.xml"), ""); err != nil {
		t.Fatal(err)
	}
	fp, err := f.Get(ctx)
	if err != nil || !bytes.Contains(fp.Doc, []byte("\r\n")) {
		t.Fatalf("fragment: %q %v", fp.Doc, err)
	}
}

func TestServiceFaultDispositions(t *testing.T) {
	sc := azureapim.Scope{API: "echo-api"}
	cases := []struct {
		name     string
		program  func(*apimfake.Service)
		backend  func(t *testing.T, svc *apimfake.Service) enforce.Backend // default: the policy at sc
		put      []byte                                                    // nil: Get
		want     fault.Disposition
		status   int    // for rejections
		code     string // expected in the chain and the message ("" for network errors)
		requests int    // GETs+PUTs the service saw: azcore retries 408/5xx/network (3 retries), nothing else, not even 429
	}{
		{name: "503 on read", program: func(s *apimfake.Service) { s.FailNext(10, 503, "ServiceUnavailable") }, want: fault.Retry, code: "ServiceUnavailable", requests: 4},
		{name: "500 on write", put: customer(t), program: func(s *apimfake.Service) { s.FailNext(10, 500, "InternalServerError") }, want: fault.Retry, code: "InternalServerError", requests: 4},
		{name: "408 on read", program: func(s *apimfake.Service) { s.FailNext(10, 408, "RequestTimeout") }, want: fault.Retry, code: "RequestTimeout", requests: 4},
		{name: "connection reset", program: func(s *apimfake.Service) { s.DropNext(10) }, want: fault.Retry, requests: 4},
		{name: "409 busy", put: customer(t), program: func(s *apimfake.Service) { s.FailNext(1, 409, "AnotherOperationInProgress") }, want: fault.Retry, code: "AnotherOperationInProgress", requests: 1},
		{name: "429 left to the caller", put: customer(t), program: func(s *apimfake.Service) { s.FailNext(1, 429, "SubscriptionRequestsThrottled") }, want: fault.Retry, code: "SubscriptionRequestsThrottled", requests: 1},
		{name: "403 no role", program: func(s *apimfake.Service) { s.FailNext(1, 403, "AuthorizationFailed") }, want: fault.Reject, status: 403, code: "AuthorizationFailed", requests: 1},
		{name: "400 programmed", put: customer(t), program: func(s *apimfake.Service) { s.FailNext(1, 400, "ValidationError") }, want: fault.Reject, status: 400, code: "ValidationError", requests: 1},
		{name: "400 not a policy document", put: []byte("<policy><inbound /></policy>"), want: fault.Reject, status: 400, code: "ValidationError", requests: 1},
		{name: "400 fragment too large", backend: fragmentBackend,
			put: []byte("<fragment>" + strings.Repeat("<!-- padding -->", 3000) + "</fragment>"), want: fault.Reject, status: 400, code: "ValidationError", requests: 1},
		{name: "404 write to a missing API", put: customer(t),
			backend: func(t *testing.T, svc *apimfake.Service) enforce.Backend {
				return policyBackend(t, svc, azureapim.Scope{API: "no-such-api"})
			}, want: fault.Reject, status: 404, code: "ResourceNotFound", requests: 1},
		{name: "404 programmed on write", put: customer(t), program: func(s *apimfake.Service) { s.FailNext(1, 404, "ResourceNotFound") }, want: fault.Reject, status: 404, code: "ResourceNotFound", requests: 1},
		{name: "404 read in a missing resource group",
			backend: func(t *testing.T, svc *apimfake.Service) enforce.Backend {
				other := service
				other.ResourceGroup = "rg-other"
				b, err := azureapim.NewPolicyBackend(other, sc, svc.Credential(), svc.ClientOptions())
				if err != nil {
					t.Fatal(err)
				}
				return b
			}, want: fault.Reject, status: 404, code: "ResourceGroupNotFound", requests: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			svc := served(t, sc)
			b := policyBackend(t, svc, sc)
			if c.backend != nil {
				b = c.backend(t, svc)
			}
			if c.program != nil {
				c.program(svc)
			}
			var err error
			if c.put != nil {
				_, err = b.Put(context.Background(), c.put, "")
			} else {
				_, err = b.Get(context.Background())
			}
			fe := explicit(t, err)
			if fe.Disposition != c.want || (c.status != 0 && fe.Status != c.status) {
				t.Fatalf("got %s/%d: %v", fe.Disposition, fe.Status, err)
			}
			if c.code != "" {
				responseCode(t, err, c.code)
			} else {
				var op *net.OpError
				if !errors.As(err, &op) {
					t.Fatalf("want the network error in the chain: %v", err)
				}
			}
			if cnt := svc.Counts(); cnt.Gets+cnt.Puts != c.requests {
				t.Fatalf("service saw %d requests, want %d", cnt.Gets+cnt.Puts, c.requests)
			}
		})
	}
}

// A 404 on a write says what must exist.
func TestWriteNotFoundSaysWhy(t *testing.T) {
	svc := apimfake.New(service)
	b := policyBackend(t, svc, azureapim.Scope{Product: "gold"})
	if p, err := b.Get(context.Background()); err != nil || p.Doc != nil {
		t.Fatalf("a missing product reads as no policy: %q %v", p.Doc, err)
	}
	_, err := b.Put(context.Background(), customer(t), "")
	if fe := explicit(t, err); fe.Status != http.StatusNotFound || !strings.Contains(err.Error(), "must exist") {
		t.Fatalf("%v", err)
	}
}

func TestPutRefusesWithoutRequest(t *testing.T) {
	svc := served(t, azureapim.Global)
	for name, b := range map[string]enforce.Backend{"policy": policyBackend(t, svc, azureapim.Global), "fragment": fragmentBackend(t, svc)} {
		for _, doc := range [][]byte{nil, {}, []byte("<policies>\xff</policies>")} {
			_, err := b.Put(context.Background(), doc, `"AAAAAAAAAAE="`)
			if fe := explicit(t, err); fe.Disposition != fault.Reject || fe.Status != http.StatusBadRequest {
				t.Fatalf("%s %q: %v", name, doc, err)
			}
		}
	}
	if c := svc.Counts(); c.Puts != 0 {
		t.Fatalf("nothing should have been sent: %+v", c)
	}
}

func TestNewBackendValidates(t *testing.T) {
	svc := apimfake.New(service)
	cred := svc.Credential()
	bad := []struct {
		name string
		new  func() (enforce.Backend, error)
	}{
		{"zero service", func() (enforce.Backend, error) {
			return azureapim.NewPolicyBackend(azureapim.Service{}, azureapim.Global, cred, nil)
		}},
		{"product and API", func() (enforce.Backend, error) {
			return azureapim.NewPolicyBackend(service, azureapim.Scope{Product: "p", API: "a"}, cred, nil)
		}},
		{"operation without API", func() (enforce.Backend, error) {
			return azureapim.NewPolicyBackend(service, azureapim.Scope{Operation: "o"}, cred, nil)
		}},
		{"slash in API id", func() (enforce.Backend, error) {
			return azureapim.NewPolicyBackend(service, azureapim.Scope{API: "a/b"}, cred, nil)
		}},
		{"nil credential", func() (enforce.Backend, error) {
			return azureapim.NewPolicyBackend(service, azureapim.Global, nil, nil)
		}},
		{"bad fragment id", func() (enforce.Backend, error) {
			return azureapim.NewFragmentBackend(service, "not a fragment", cred, nil)
		}},
		{"fragment without credential", func() (enforce.Backend, error) {
			return azureapim.NewFragmentBackend(service, fragmentID, nil, nil)
		}},
	}
	for _, c := range bad {
		if _, err := c.new(); err == nil || fault.Of(err) != fault.Reject {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := azureapim.NewPolicyBackend(service, azureapim.Global, cred, nil); err != nil {
		t.Fatalf("nil options: %v", err)
	}
	if _, err := azureapim.NewFragmentBackend(service, fragmentID, cred, nil, azureapim.PollFrequency(time.Second)); err != nil {
		t.Fatalf("nil options: %v", err)
	}
}

// Writers racing on one document through read-modify-write with If-Match: every edit
// lands exactly once, whatever the interleaving (run with -race).
func TestRacingWritersAllLand(t *testing.T) {
	sc := azureapim.Scope{API: "echo-api"}
	svc := served(t, sc)
	const writers = 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			b := policyBackend(t, svc, sc)
			line := fmt.Sprintf("<!-- writer %d -->\n", i)
			for {
				cur, err := b.Get(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				_, err = b.Put(context.Background(), append([]byte(line), cur.Doc...), cur.ETag)
				if errors.Is(err, enforce.ErrPrecondition) {
					continue
				}
				if err != nil {
					t.Error(err)
				}
				return
			}
		})
	}
	wg.Wait()
	stored, _, _ := svc.Policy(sc)
	for i := range writers {
		if n := bytes.Count(stored, fmt.Appendf(nil, "<!-- writer %d -->", i)); n != 1 {
			t.Fatalf("writer %d's line is there %d times:\n%s", i, n, stored)
		}
	}
	if c := svc.Counts(); c.Writes != writers {
		t.Fatalf("counts %+v", c)
	}
}

// Racing fragment writes, each its own long-running operation.
func TestRacingFragmentWrites(t *testing.T) {
	svc := apimfake.New(service)
	svc.SetFragment(fragmentID, []byte("<fragment>\n</fragment>"))
	const writers = 6
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			b := fragmentBackend(t, svc)
			for {
				cur, err := b.Get(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				doc := bytes.Replace(cur.Doc, []byte("</fragment>"), fmt.Appendf(nil, "\t<!-- %d -->\n</fragment>", i), 1)
				etag, err := b.Put(context.Background(), doc, cur.ETag)
				if errors.Is(err, enforce.ErrPrecondition) {
					continue
				}
				if err != nil || etag == "" {
					t.Error(etag, err)
				}
				return
			}
		})
	}
	wg.Wait()
	stored, _, _ := svc.Fragment(fragmentID)
	for i := range writers {
		if !bytes.Contains(stored, fmt.Appendf(nil, "<!-- %d -->", i)) {
			t.Fatalf("write %d lost:\n%s", i, stored)
		}
	}
}

// stub answers every request with one canned 200.
type stub struct {
	body string
	etag string
}

func (s stub) Do(req *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	if s.etag != "" {
		h.Set("ETag", s.etag)
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(s.body)), Request: req,
	}, nil
}

// A read the backend could not safely edit is an error, not a document: an escaped
// (xml) value, or one without an ETag to make the update conditional.
func TestReadRefusesWhatItCannotEdit(t *testing.T) {
	svc := apimfake.New(service) // for the credential only
	cases := []struct {
		name string
		stub stub
		want fault.Disposition
	}{
		{"xml format", stub{body: `{"properties":{"format":"xml","value":"<policies>&amp;&amp;</policies>"}}`, etag: `"AAAAAAAAAAE="`}, fault.Reject},
		{"no ETag", stub{body: `{"properties":{"format":"rawxml","value":"<policies />"}}`}, fault.Retry},
	}
	for _, c := range cases {
		opts := svc.ClientOptions()
		opts.Transport = c.stub
		for _, b := range []enforce.Backend{
			must(azureapim.NewPolicyBackend(service, azureapim.Global, svc.Credential(), opts)),
			must(azureapim.NewFragmentBackend(service, fragmentID, svc.Credential(), opts)),
		} {
			p, err := b.Get(context.Background())
			if fe := explicit(t, err); fe.Disposition != c.want || p.Doc != nil {
				t.Errorf("%s: %s %v", c.name, fe.Disposition, err)
			}
		}
	}
	opts := svc.ClientOptions()
	opts.Transport = stub{body: `{"properties":{"format":"rawxml","value":""}}`, etag: `"AAAAAAAAAAE="`}
	p, err := must(azureapim.NewPolicyBackend(service, azureapim.Global, svc.Credential(), opts)).Get(context.Background())
	if err != nil || p.Doc == nil || len(p.Doc) != 0 {
		t.Fatalf("an empty policy is present, not absent: %#v %v", p.Doc, err)
	}
}

func must(b enforce.Backend, err error) enforce.Backend {
	if err != nil {
		panic(err)
	}
	return b
}
