package record

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/hungtest"
	"github.com/apiguard/apiguard/shared/record/azuritetest"
)

const devConn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:%d/devstoreaccount1;"

type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestNewValidatesOptions(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want []string // every problem is named
	}{
		{"nothing", Options{}, []string{"ConnectionString or ServiceURL"}},
		{"both", Options{ConnectionString: "x", ServiceURL: "https://a.table.core.windows.net"}, []string{"not both"}},
		{"url without credential", Options{ServiceURL: "https://a.table.core.windows.net"}, []string{"Credential"}},
		{"plain http with a token", Options{ServiceURL: "http://a.table.core.windows.net", Credential: fakeCredential{}}, []string{"https"}},
		{"bad url and prefix", Options{ServiceURL: "a.table", Credential: fakeCredential{}, TablePrefix: "dev-1"}, []string{"ServiceURL", "TablePrefix"}},
		{"prefix starts with digit", Options{ConnectionString: "x", TablePrefix: "1dev"}, []string{"TablePrefix"}},
		{"prefix too long", Options{ConnectionString: "x", TablePrefix: "a" + strings.Repeat("b", 60)}, []string{"too long"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			if err == nil {
				t.Fatal("New accepted invalid options")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := New(Options{ConnectionString: "AccountName=x;NoKey"}); err == nil {
		t.Error("malformed connection string accepted")
	}
	if _, err := New(Options{ServiceURL: "https://acct.table.core.windows.net", Credential: fakeCredential{}, TablePrefix: "dev1"}); err != nil {
		t.Errorf("managed identity options rejected: %v", err)
	}
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestNewDoesNoIOAndUnreachableIsTransient(t *testing.T) {
	conn := strings.Replace(devConn, "%d", strconv.Itoa(closedPort(t)), 1)
	s, err := New(Options{
		ConnectionString: conn,
		TablePrefix:      "unreachable",
		ClientOptions:    &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}},
	})
	if err != nil {
		t.Fatalf("New must not touch the network, got %v", err)
	}
	_, _, err = s.GetBlock(testContext(t), "block_waf", "203.0.113.7")
	if err == nil {
		t.Fatal("read from a closed port succeeded")
	}
	var fe *fault.Error
	if !errors.As(err, &fe) || fault.Of(err) != fault.Retry {
		t.Errorf("unreachable endpoint: want an explicit transient fault, got %T %v", err, err)
	}
	// The failed creation is not remembered as done.
	if s.blocks.created.Load() {
		t.Error("table marked created after a failed create")
	}
}

func TestTablesCreatedOnFirstUse(t *testing.T) {
	conn := azuritetest.ConnectionString(t)
	prefix := azuritetest.TablePrefix(t)
	s, err := New(Options{ConnectionString: conn, TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if got := listTables(t, conn, prefix); len(got) != 0 {
		t.Fatalf("New created tables: %v", got)
	}
	// Many first uses at once: one creation, no errors (TableAlreadyExists is success).
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := s.ListBlocks(ctx, "block_waf")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("first use: %v", err)
		}
	}
	if got := listTables(t, conn, prefix); len(got) != 1 || got[0] != prefix+"Blocks" {
		t.Fatalf("tables after ListBlocks = %v, want only %sBlocks", got, prefix)
	}
	// A second Store on the same tables meets TableAlreadyExists and carries on.
	s2, _ := New(Options{ConnectionString: conn, TablePrefix: prefix})
	if _, err := s2.ListBlocks(ctx, "block_waf"); err != nil {
		t.Fatalf("existing table: %v", err)
	}
	if err := s.AppendAudit(ctx, []AuditEvent{{ID: "a", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got := listTables(t, conn, prefix); len(got) != 2 {
		t.Fatalf("tables = %v, want Audit and Blocks", got)
	}
}

func listTables(t *testing.T, conn, prefix string) []string {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	filter := "TableName ge '" + prefix + "' and TableName lt '" + prefix + "~'"
	pager := svc.NewListTablesPager(&aztables.ListTablesOptions{Filter: &filter})
	var names []string
	for pager.More() {
		page, err := pager.NextPage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range page.Tables {
			names = append(names, *tb.Name)
		}
	}
	return names
}

// A storage endpoint that accepts and never answers fails each try after CallTimeout
// and the operation as transient once the SDK's retries are spent, with no deadline
// on the caller's context; with one, the context's deadline ends it first.
func TestHungEndpointFailsWithinCallTimeout(t *testing.T) {
	hung := hungtest.Listen(t)
	const call = 200 * time.Millisecond
	retries := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}}}
	for _, tc := range []struct {
		name     string
		deadline time.Duration // on the caller's context; 0: none
		within   time.Duration // two tries and a pause, or the deadline, plus scheduling slack
	}{
		{"call timeout, two tries", 0, 2*call + time.Second},
		{"caller's deadline first", 100 * time.Millisecond, 100*time.Millisecond + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Options{ConnectionString: strings.Replace(devConn, "%d", strconv.Itoa(hung.Port()), 1),
				TablePrefix: "hung", ClientOptions: retries, CallTimeout: call})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start := time.Now()
			_, _, err = s.GetBlock(ctx, "block_waf", "203.0.113.7")
			took := time.Since(start)
			t.Logf("hung storage: GetBlock failed after %v (call timeout %v, caller deadline %v)", took.Round(time.Millisecond), call, tc.deadline)
			if err == nil || fault.Of(err) != fault.Retry || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a transient deadline fault, got %v", err)
			}
			if took > tc.within {
				t.Errorf("took %v, want at most %v", took, tc.within)
			}
			if hung.Accepted() == 0 {
				t.Error("the store never reached the endpoint")
			}
		})
	}
}
