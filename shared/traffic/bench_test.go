package traffic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks: each format's decode over a generated batch of 1000 realistic records,
// next to the same decode done with the standard library (encoding/json into structs,
// regexp for combined lines) so a ratio can be quoted. Run with
//
//	go test -run=NONE -bench=. -benchmem ./shared/traffic/
//
// records/s and allocs/record are reported per benchmark.

const benchRecords = 1000

var (
	benchAPIs = []struct{ api, op, path string }{
		{"orders-api", "get-customer-orders", "orders/v1/customers/%d/orders?status=open&page=%d"},
		{"orders-api", "get-order", "orders/v1/orders/%d?expand=items,payments&trace=%d"},
		{"accounts-api", "update-user", "accounts/v2/users/%08x-9a4d-4e1b-8f3c-5d6e7a8b%04x/profile"},
		{"search-api", "query", "search/v1/products?q=running+shoes&size=%d&from=%d"},
		{"auth-api", "token", "auth/oauth2/v2.0/token?tenant=%d&attempt=%d"},
	}
	benchMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	benchAgents  = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"python-requests/2.31.0",
		"okhttp/4.12.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
	}
)

func benchPath(i int) (api, op, path string) {
	a := benchAPIs[i%len(benchAPIs)]
	return a.api, a.op, fmt.Sprintf(a.path, 40000+i*7, i%13)
}

func benchIP(i int) string {
	return fmt.Sprintf("%d.%d.%d.%d", 20+i%200, (i*7)%256, (i*13)%256, 1+i%250)
}

// genDiagnostic builds a GatewayLogs batch as Azure Monitor delivers it: about 1 KB
// per record, every tenth one with a lastError.
func genDiagnostic(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		api, op, path := benchPath(i)
		method := benchMethods[i%len(benchMethods)]
		status := []int{200, 200, 201, 204, 401, 404, 429, 500}[i%8]
		lastError := ""
		if i%10 == 0 {
			lastError = `,"lastError":{"elapsed":3,"source":"rate-limit-by-key","scope":"product","section":"inbound","reason":"RateLimitExceeded","message":"Rate limit is exceeded. Try again in 12 seconds."}`
		}
		fmt.Fprintf(&b, `{"time":"2026-01-05T10:%02d:%02d.%07dZ","resourceId":"/SUBSCRIPTIONS/6F2C1A0B-1F2E-4D3C-9B8A-7E6D5C4B3A21/RESOURCEGROUPS/RG-API-PROD-WESTEUROPE/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO-APIM-PROD",`+
			`"operationName":"Microsoft.ApiManagement/GatewayLogs","category":"GatewayLogs","durationMs":%d,"callerIpAddress":"%s",`+
			`"correlationId":"%08x-4c1d-4a8e-9f3b-%012x","location":"West Europe","isRequestSuccess":%v,"httpStatusCodeCategory":"%dxx",`+
			`"properties":{"method":"%s","url":"https://contoso-apim.azure-api.net/%s","clientProtocol":"HTTP/1.1","responseCode":%d,`+
			`"backendMethod":"%s","backendUrl":"https://backend.contoso.internal/%s","backendResponseCode":%d,"backendProtocol":"HTTP/1.1",`+
			`"requestSize":%d,"responseSize":%d,"cache":"none","cacheTime":0,"backendTime":%d,"clientTime":%d,"apiId":"%s","operationId":"%s",`+
			`"productId":"premium","userId":"%d","apimSubscriptionId":"%032x","backendId":"backend-%s","apiRevision":"3","clientTlsVersion":"1.3"%s}}`,
			i/60%60, i%60, i*7919%10_000_000, 5+i%300, benchIP(i), i*2654435761, i, status < 400, status/100,
			method, path, status, method, path, status, 300+i%900, 500+i*37%90000, 3+i%250, 1+i%5, api, op, i%50, i*2654435761, api, lastError)
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// genAnalytics builds an array of ApiManagementGatewayLogs rows with logged headers.
func genAnalytics(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		api, op, path := benchPath(i)
		fmt.Fprintf(&b, `{"TenantId":"5c4b3a21-6f2c-1a0b-1f2e-4d3c9b8a7e6d","TimeGenerated":"2026-01-06T09:%02d:%02d.%03dZ","OperationName":"Microsoft.ApiManagement/GatewayLogs",`+
			`"CorrelationId":"%08x-4c1d-4a8e-9f3b-%012x","Region":"West Europe","IsRequestSuccess":true,"TotalTime":%d,"CallerIpAddress":"10.0.1.%d",`+
			`"Method":"%s","Url":"https://api.contoso.com/%s","ClientProtocol":"HTTP/1.1","ResponseCode":%d,"ResponseSize":%d,"RequestSize":%d,"Cache":"none",`+
			`"BackendTime":%d,"BackendResponseCode":200,"ApiId":"%s","ApiRevision":"1","OperationId":"%s","ProductId":"starter","UserId":"%d","ApimSubscriptionId":"%032x",`+
			`"RequestHeaders":{"X-Forwarded-For":"%s:%d","User-Agent":"%s","Host":"api.contoso.com"},"Type":"ApiManagementGatewayLogs",`+
			`"_ResourceId":"/subscriptions/6f2c1a0b-1f2e-4d3c-9b8a-7e6d5c4b3a21/resourcegroups/rg-api/providers/microsoft.apimanagement/service/contoso-apim"}`,
			i/60%60, i%60, i%1000, i*2654435761, i, 5+i%300, 4+i%4, benchMethods[i%len(benchMethods)], path, 200, 500+i*37%90000, 300+i%900,
			3+i%250, api, op, i%50, i*2654435761, benchIP(i), 1024+i, benchAgents[i%len(benchAgents)])
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// genCombined builds nginx combined lines.
func genCombined(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		_, _, path := benchPath(i)
		fmt.Fprintf(&b, `%s - - [17/May/2015:10:%02d:%02d +0000] "%s /%s HTTP/1.1" %d %d "https://www.contoso.com/start" "%s"`+"\n",
			benchIP(i), i/60%60, i%60, benchMethods[i%len(benchMethods)], path, 200, 500+i*37%90000, benchAgents[i%len(benchAgents)])
	}
	return b.Bytes()
}

// runDecode runs decode over data (benchRecords records) and reports records/s and
// allocs/record.
func runDecode(b *testing.B, data []byte, decode func([]byte) int) {
	b.Helper()
	if got := decode(data); got != benchRecords {
		b.Fatalf("%d records, want %d", got, benchRecords)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		decode(data)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	records := float64(b.N) * benchRecords
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
	b.ReportMetric(float64(len(data))/benchRecords, "bytes/record")
}

func decodeWith(opts Options) func([]byte) int {
	return func(data []byte) int {
		batch, err := Decode(data, opts)
		if err != nil {
			panic(err)
		}
		return len(batch.Records)
	}
}

func BenchmarkDecodeAPIMDiagnostic(b *testing.B) {
	runDecode(b, genDiagnostic(benchRecords), decodeWith(Options{}))
}

func BenchmarkDecodeAPIMLogAnalytics(b *testing.B) {
	trust := Trust{Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}}
	runDecode(b, genAnalytics(benchRecords), decodeWith(Options{Trust: trust}))
}

func BenchmarkDecodeCombined(b *testing.B) {
	runDecode(b, genCombined(benchRecords), decodeWith(Options{}))
}

// BenchmarkScanCombined is the replay path: the same lines through a Scanner.
func BenchmarkScanCombined(b *testing.B) {
	runDecode(b, genCombined(benchRecords), func(data []byte) int {
		s := NewScanner(bytes.NewReader(data), Options{Format: FormatCombined})
		n := 0
		for {
			if _, ok := s.Next(); !ok {
				return n
			}
			n++
		}
	})
}

// --- The standard library doing the same work: the yardsticks. ---

type stdDiagnostic struct {
	Records []struct {
		Time            string  `json:"time"`
		CallerIPAddress string  `json:"callerIpAddress"`
		DurationMs      float64 `json:"durationMs"`
		Properties      struct {
			Method             string `json:"method"`
			URL                string `json:"url"`
			ResponseCode       int    `json:"responseCode"`
			RequestSize        int64  `json:"requestSize"`
			ResponseSize       int64  `json:"responseSize"`
			APIID              string `json:"apiId"`
			OperationID        string `json:"operationId"`
			UserID             string `json:"userId"`
			APIMSubscriptionID string `json:"apimSubscriptionId"`
		} `json:"properties"`
	} `json:"records"`
}

// stdRecord finishes a record the way Decode does, with the standard library.
func stdRecord(t, peer, method, rawURL string) (Record, bool) {
	tm, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return Record{}, false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return Record{}, false
	}
	p, _ := netip.ParseAddr(peer)
	return Record{Time: tm.UTC(), Peer: p, Client: p, Method: method, Path: u.Path, Query: u.RawQuery, Host: u.Host, Template: Templatize(u.Path)}, true
}

func BenchmarkDecodeAPIMDiagnosticStdlib(b *testing.B) {
	runDecode(b, genDiagnostic(benchRecords), func(data []byte) int {
		var doc stdDiagnostic
		if err := json.Unmarshal(data, &doc); err != nil {
			panic(err)
		}
		out := make([]Record, 0, len(doc.Records))
		for _, r := range doc.Records {
			rec, ok := stdRecord(r.Time, r.CallerIPAddress, r.Properties.Method, r.Properties.URL)
			if !ok {
				continue
			}
			rec.Status, rec.RequestBytes, rec.ResponseBytes = r.Properties.ResponseCode, r.Properties.RequestSize, r.Properties.ResponseSize
			rec.Latency = time.Duration(r.DurationMs * float64(time.Millisecond))
			rec.API, rec.Operation, rec.User, rec.Subscription = r.Properties.APIID, r.Properties.OperationID, r.Properties.UserID, r.Properties.APIMSubscriptionID
			out = append(out, rec)
		}
		return len(out)
	})
}

// BenchmarkDecodeAPIMDiagnosticStdlibMap is the generic variant: a map per record.
func BenchmarkDecodeAPIMDiagnosticStdlibMap(b *testing.B) {
	runDecode(b, genDiagnostic(benchRecords), func(data []byte) int {
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			panic(err)
		}
		n := 0
		for _, v := range doc["records"].([]any) {
			r := v.(map[string]any)
			props, _ := r["properties"].(map[string]any)
			t, _ := r["time"].(string)
			peer, _ := r["callerIpAddress"].(string)
			method, _ := props["method"].(string)
			u, _ := props["url"].(string)
			if _, ok := stdRecord(t, peer, method, u); ok {
				n++
			}
		}
		return n
	})
}

type stdAnalyticsRow struct {
	TimeGenerated      string          `json:"TimeGenerated"`
	CallerIPAddress    string          `json:"CallerIpAddress"`
	Method             string          `json:"Method"`
	URL                string          `json:"Url"`
	ResponseCode       int             `json:"ResponseCode"`
	ResponseSize       int64           `json:"ResponseSize"`
	RequestSize        int64           `json:"RequestSize"`
	TotalTime          float64         `json:"TotalTime"`
	APIID              string          `json:"ApiId"`
	OperationID        string          `json:"OperationId"`
	UserID             string          `json:"UserId"`
	APIMSubscriptionID string          `json:"ApimSubscriptionId"`
	RequestHeaders     json.RawMessage `json:"RequestHeaders"`
}

func BenchmarkDecodeAPIMLogAnalyticsStdlib(b *testing.B) {
	trust := Trust{Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}}
	runDecode(b, genAnalytics(benchRecords), func(data []byte) int {
		var rows []stdAnalyticsRow
		if err := json.Unmarshal(data, &rows); err != nil {
			panic(err)
		}
		out := make([]Record, 0, len(rows))
		for _, r := range rows {
			rec, ok := stdRecord(r.TimeGenerated, r.CallerIPAddress, r.Method, r.URL)
			if !ok {
				continue
			}
			var h map[string]string
			_ = json.Unmarshal(r.RequestHeaders, &h)
			rec.Forwarded, rec.UserAgent = h["X-Forwarded-For"], h["User-Agent"]
			rec.Client, _ = trust.Attribute(rec.Peer, rec.Forwarded)
			rec.Status, rec.RequestBytes, rec.ResponseBytes = r.ResponseCode, r.RequestSize, r.ResponseSize
			rec.API, rec.Operation, rec.User, rec.Subscription = r.APIID, r.OperationID, r.UserID, r.APIMSubscriptionID
			out = append(out, rec)
		}
		return len(out)
	})
}

var combinedRE = regexp.MustCompile(`^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (.*?)(?: (HTTP/[0-9.]+))?" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?`)

func BenchmarkDecodeCombinedStdlib(b *testing.B) {
	runDecode(b, genCombined(benchRecords), func(data []byte) int {
		var out []Record
		for line := range strings.SplitSeq(string(data), "\n") {
			m := combinedRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			tm, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[4])
			if err != nil {
				continue
			}
			p, _ := netip.ParseAddr(m[1])
			path, query, _ := strings.Cut(m[6], "?")
			status, _ := strconv.Atoi(m[8])
			size, _ := strconv.ParseInt(m[9], 10, 64)
			out = append(out, Record{Time: tm.UTC(), Peer: p, Client: p, Method: m[5], Path: path, Query: query,
				Template: Templatize(path), Status: status, ResponseBytes: size, UserAgent: m[11]})
		}
		return len(out)
	})
}

// BenchmarkDecodeCases runs every testdata case, so each shape's cost is visible.
func BenchmarkDecodeCases(b *testing.B) {
	for _, c := range loadCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(c.body, c.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
