package collect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/apiguard/apiguard/shared/fault"
	"github.com/apiguard/apiguard/shared/triage"
	"github.com/apiguard/apiguard/shared/triage/collect"
	"github.com/apiguard/apiguard/shared/triage/triagetest"
)

// capture keeps the first body the world answered for each path, as sent.
type capture struct {
	inner  policy.Transporter
	mu     sync.Mutex
	bodies map[string][]byte
}

func (c *capture) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	defer c.mu.Unlock()
	k := strings.ToLower(strings.TrimPrefix(req.URL.Path, "/"))
	if _, ok := c.bodies[k]; !ok {
		c.bodies[k] = body
	}
	return resp, nil
}

// snapshot collects w through a Recorder and writes the snapshot folder as the
// snapshot command does: the ARM reads, then apiguard's own data.
func snapshot(t *testing.T, w *triagetest.World) (string, triage.Inventory, *capture) {
	t.Helper()
	o := w.Options()
	cp := &capture{inner: o.ClientOptions.Transport, bodies: map[string][]byte{}}
	rec := collect.NewRecorder(cp)
	o.ClientOptions.Transport = rec
	inv, err := collect.Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "snapshot")
	if err := rec.WriteSnapshot(dir); err != nil {
		t.Fatal(err)
	}
	if err := collect.SeenOf(inv, o.Scopes).Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir, inv, cp
}

func replay(t *testing.T, dir string) (triage.Inventory, error) {
	t.Helper()
	o, err := collect.SnapshotOptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	return collect.Collect(t.Context(), o)
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Recording, then replaying the snapshot offline, gives the same Inventory, stamped with
// the snapshot's time; the files hold the bodies byte for byte, lists merged.
func TestSnapshotReplaysTheSameInventory(t *testing.T) {
	for _, w := range []*triagetest.World{triagetest.Scenario(), triagetest.ScenarioNextMonth()} {
		t.Run(w.Name, func(t *testing.T) {
			dir, online, cp := snapshot(t, w)
			offline, err := replay(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := asJSON(t, online), asJSON(t, offline); a != b {
				t.Errorf("offline inventory differs\nonline  %.2000s\noffline %.2000s", a, b)
			}
			if !offline.Collected.Equal(w.Collected) {
				t.Errorf("offline collected %s, want the snapshot's %s", offline.Collected, w.Collected)
			}

			merged, verbatim := 0, 0
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, path)
				if strings.HasPrefix(rel, "apiguard"+string(filepath.Separator)) {
					return nil
				}
				key := strings.TrimSuffix(filepath.ToSlash(rel), ".json")
				got, _ := os.ReadFile(path)
				sent, ok := cp.bodies[key]
				if !ok {
					t.Errorf("%s: the world never answered it", key)
					return nil
				}
				if bytes.Contains(sent, []byte(`"nextLink":"`)) {
					merged++
					var list struct {
						Next  *string           `json:"nextLink"`
						Value []json.RawMessage `json:"value"`
					}
					if err := json.Unmarshal(got, &list); err != nil || list.Next != nil {
						t.Errorf("%s: merged list %s (%v)", key, got, err)
					}
					return nil
				}
				verbatim++
				if !bytes.Equal(got, sent) {
					t.Errorf("%s: not byte for byte\n got %s\nsent %s", key, got, sent)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if merged < 3 || verbatim < 50 {
				t.Errorf("%d merged lists, %d verbatim bodies", merged, verbatim)
			}
			apis := readList(t, dir, triagetest.ShopID+"/apis")
			if len(apis) != len(findService(t, online, triagetest.ShopService).APIs) {
				t.Errorf("shop apis.json holds %d items", len(apis))
			}
		})
	}
}

func keyFile(dir, armPath string) string {
	return filepath.Join(dir, filepath.FromSlash(strings.ToLower(strings.TrimPrefix(armPath, "/")))+".json")
}

func readList(t *testing.T, dir, armPath string) []map[string]any {
	t.Helper()
	body, err := os.ReadFile(keyFile(dir, armPath))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	return list.Value
}

func writeList(t *testing.T, dir, armPath string, items []map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"value": items})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile(dir, armPath), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A scope whose file is missing answers 404, as ARM does for a scope without a policy:
// "no policy", not an error and not a gap.
func TestSnapshotMissingFileIsNoPolicy(t *testing.T) {
	dir, online, _ := snapshot(t, triagetest.Scenario())
	returns := triagetest.ShopID + "/apis/returns/policies/policy"
	if err := os.Remove(keyFile(dir, returns)); err != nil {
		t.Fatal(err)
	}
	offline, err := replay(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := findAPI(t, findService(t, offline, triagetest.ShopService), "returns").Policy; p.Found || p.Unread {
		t.Errorf("returns policy %+v, want none", p)
	}
	if asJSON(t, offline.Gaps) != asJSON(t, online.Gaps) {
		t.Errorf("gaps changed: %v", offline.Gaps)
	}

	req, _ := http.NewRequest(http.MethodGet, "https://management.azure.com"+returns+"?api-version=2024-05-01&format=rawxml", nil)
	resp, err := collect.Snapshot(dir).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"code":"ResourceNotFound"`) {
		t.Errorf("missing file: %d %s", resp.StatusCode, body)
	}
}

// A hand-edited list may hold what the service was asked to leave out: non-current
// revisions are dropped all the same.
func TestNonCurrentRevisionsAreIgnored(t *testing.T) {
	dir, online, _ := snapshot(t, triagetest.Scenario())
	apisPath := triagetest.ShopID + "/apis"
	items := readList(t, dir, apisPath)
	var orders map[string]any
	for _, it := range items {
		if it["name"] == "orders" {
			orders = it
		}
	}
	rev := map[string]any{}
	for k, v := range orders {
		rev[k] = v
	}
	rev["name"] = "orders;rev=3"
	props := map[string]any{}
	for k, v := range orders["properties"].(map[string]any) {
		props[k] = v
	}
	props["isCurrent"], props["apiRevision"] = false, "3"
	rev["properties"] = props
	beta := map[string]any{"name": "orders-beta", "properties": map[string]any{"path": "orders-beta", "isCurrent": false}}
	writeList(t, dir, apisPath, append(items, rev, beta))

	offline, err := replay(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if asJSON(t, offline) != asJSON(t, online) {
		t.Error("a non-current revision in the list changed the inventory")
	}
}

func refused(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, collect.ErrRefused) {
		t.Fatalf("error %v, want a refusal", err)
	}
}

// A snapshot folder is input: nothing in it may read outside it, make it read a huge
// file, or turn a read into a write.
func TestSnapshotRefusesAHostileFolder(t *testing.T) {
	dir, _, _ := snapshot(t, triagetest.Scenario())
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, "https://management.azure.com"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return collect.Snapshot(dir).Do(req)
	}

	t.Run("traversal in the path", func(t *testing.T) {
		for _, p := range []string{
			"/subscriptions/x/../../../etc/passwd",
			"/subscriptions/x/resourceGroups/rg/providers/Microsoft.ApiManagement/service/s/apis/..%2F..%2F..%2F..%2Fetc/policies/policy",
			"/subscriptions/x/apis/a%5C..%5Cb",
			"/etc/passwd",
			"/subscriptions//x",
		} {
			_, err := get(p)
			refused(t, err)
		}
	})

	t.Run("traversal in a name it lists", func(t *testing.T) {
		d, online, _ := snapshot(t, triagetest.Scenario())
		apisPath := triagetest.ShopID + "/apis"
		items := readList(t, d, apisPath)
		evil := map[string]any{"name": "../../../../../../../../tmp/evil", "properties": map[string]any{"path": "evil", "isCurrent": true}}
		writeList(t, d, apisPath, append(items, evil))
		offline, err := replay(t, d)
		if err != nil {
			t.Fatal(err)
		}
		if len(offline.Gaps) != len(online.Gaps)+1 {
			t.Fatalf("gaps %v", offline.Gaps)
		}
		for _, g := range offline.Gaps {
			if strings.Contains(g.What, "evil") && (g.Error != "name refused" || g.Scope != triagetest.ShopID) {
				t.Errorf("gap %+v", g)
			}
		}
		if len(findService(t, offline, triagetest.ShopService).APIs) != len(findService(t, online, triagetest.ShopService).APIs) {
			t.Error("the refused API is in the inventory")
		}
	})

	t.Run("a link out of the folder", func(t *testing.T) {
		d, _, _ := snapshot(t, triagetest.Scenario())
		outside := filepath.Join(t.TempDir(), "outside.json")
		if err := os.WriteFile(outside, []byte(`{"properties":{"format":"rawxml","value":"<policies/>"}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		f := keyFile(d, triagetest.ShopID+"/policies/policy")
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, f); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
		_, err := replay(t, d)
		refused(t, err)
		if fault.Of(err) != fault.Reject {
			t.Errorf("disposition %v, want reject", fault.Of(err))
		}
	})

	t.Run("a huge file", func(t *testing.T) {
		d, _, _ := snapshot(t, triagetest.Scenario())
		if err := os.Truncate(keyFile(d, triagetest.ShopID+"/apis"), collect.MaxSnapshotFile+1); err != nil {
			t.Fatal(err)
		}
		_, err := replay(t, d)
		refused(t, err)
		if fault.Of(err) != fault.Reject {
			t.Errorf("disposition %v, want reject", fault.Of(err))
		}
	})

	t.Run("a write", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, "https://management.azure.com"+triagetest.ShopID+"/policies/policy", strings.NewReader("{}"))
		_, err := collect.Snapshot(dir).Do(req)
		refused(t, err)
	})

	t.Run("no last-seen file", func(t *testing.T) {
		d, _, _ := snapshot(t, triagetest.Scenario())
		if err := os.Remove(filepath.Join(d, filepath.FromSlash(collect.SeenFileName))); err != nil {
			t.Fatal(err)
		}
		if _, err := collect.SnapshotOptions(d); fault.Of(err) != fault.Reject {
			t.Errorf("error %v, want a rejection", err)
		}
	})

	t.Run("a folder that is not empty", func(t *testing.T) {
		rec := collect.NewRecorder(triagetest.Scenario().Transport())
		if err := rec.WriteSnapshot(dir); err == nil {
			t.Error("wrote over an existing snapshot")
		}
	})
}

// Errors keep their status and body in apiguard/errors.json, so the offline run meets
// the same 403, 409 and 500.
func TestSnapshotKeepsFailures(t *testing.T) {
	dir, _, _ := snapshot(t, triagetest.Scenario())
	body, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(collect.ErrorsFileName)))
	if err != nil {
		t.Fatal(err)
	}
	var errs map[string]struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal(body, &errs); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		strings.ToLower(strings.TrimPrefix(triagetest.ShopID, "/") + "/apis/invoices/operations/get-invoice/policies/policy"): 500,
		"subscriptions/" + triagetest.SubPartner + "/providers/microsoft.security/assessments":                                403,
		strings.ToLower(strings.TrimPrefix(triagetest.PartnerID, "/") + "/providers/microsoft.security/apicollections"):       409,
	}
	if len(errs) != len(want) {
		t.Errorf("errors.json holds %v", errs)
	}
	for k, status := range want {
		if errs[k].Status != status {
			t.Errorf("%s: %d, want %d", k, errs[k].Status, status)
		}
	}
	// The deleted service's 404 is an absent file, as any "nothing here".
	if _, err := os.Stat(keyFile(dir, triagetest.RetiredID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("retired service: %v", err)
	}
}

// TakeSnapshot is what the snapshot command runs: the folder it writes replays to the
// same inventory; a folder in use is refused before a single ARM read; a run that fails
// leaves nothing behind.
func TestTakeSnapshot(t *testing.T) {
	w := triagetest.Scenario()
	dir := filepath.Join(t.TempDir(), "snap")
	stats, err := collect.TakeSnapshot(t.Context(), w.Options(), dir)
	if err != nil || stats.Calls == 0 {
		t.Fatalf("%d calls: %v", stats.Calls, err)
	}
	online, err := collect.Collect(t.Context(), w.Options())
	if err != nil {
		t.Fatal(err)
	}
	offline, err := replay(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := asJSON(t, online), asJSON(t, offline); a != b {
		t.Errorf("the snapshot replays to another inventory\n got %.400s\nwant %.400s", b, a)
	}

	stats, err = collect.TakeSnapshot(t.Context(), w.Options(), dir)
	if err == nil || !strings.Contains(err.Error(), "not empty") || stats.Calls != 0 {
		t.Errorf("into a folder in use: %d calls, %v", stats.Calls, err)
	}

	failing := filepath.Join(t.TempDir(), "failing")
	o := w.Options()
	o.ClientOptions.Transport = failingTransport{}
	o.ClientOptions.Retry.MaxRetries = -1
	if _, err := collect.TakeSnapshot(t.Context(), o, failing); err == nil {
		t.Fatal("a run with every read failing wrote a snapshot")
	}
	if _, err := os.Stat(failing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed run left %s behind (%v)", failing, err)
	}
}

// failingTransport answers every read with a 503, which fails the run.
type failingTransport struct{}

func (failingTransport) Do(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Request: req, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"error":{"code":"ServiceUnavailable","message":"try later"}}`))}, nil
}
