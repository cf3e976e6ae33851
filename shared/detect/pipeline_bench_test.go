package detect

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/apiguard/apiguard/shared/traffic"
)

// diagnosticBatch writes records as Azure Monitor delivers APIM GatewayLogs: one
// {"records": [...]} document, about 1 KiB per record with every field the service logs.
func diagnosticBatch(recs []traffic.Record) []byte {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i, r := range recs {
		if i > 0 {
			b.WriteString(",\n")
		}
		url := "https://contoso-apim.azure-api.net" + r.Path
		if r.Query != "" {
			url += "?" + r.Query
		}
		fmt.Fprintf(&b, `{"time":"%s","resourceId":"/SUBSCRIPTIONS/6F2C1A0B-1F2E-4D3C-9B8A-7E6D5C4B3A21/RESOURCEGROUPS/RG-API-PROD-WESTEUROPE/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO-APIM-PROD",`+
			`"operationName":"Microsoft.ApiManagement/GatewayLogs","category":"GatewayLogs","durationMs":%d,"callerIpAddress":"%s",`+
			`"correlationId":"%08x-4c1d-4a8e-9f3b-%012x","location":"West Europe","isRequestSuccess":%v,"httpStatusCodeCategory":"%dxx",`+
			`"properties":{"method":"%s","url":"%s","clientProtocol":"HTTP/1.1","responseCode":%d,`+
			`"backendMethod":"%s","backendUrl":"https://backend.contoso.internal%s","backendResponseCode":%d,"backendProtocol":"HTTP/1.1",`+
			`"requestSize":%d,"responseSize":%d,"cache":"none","cacheTime":0,"backendTime":%d,"clientTime":2,"apiId":"%s","operationId":"%s",`+
			`"productId":"premium","userId":"%s","apimSubscriptionId":"%s","backendId":"backend-%s","apiRevision":"3","clientTlsVersion":"1.3"}}`,
			r.Time.UTC().Format(time.RFC3339Nano), r.Latency.Milliseconds(), r.Client, i*2654435761, i, r.Status < 400, r.Status/100,
			r.Method, url, r.Status, r.Method, r.Path, r.Status, r.RequestBytes, r.ResponseBytes, r.Latency.Milliseconds()-2,
			r.API, r.Method+" "+r.Template, r.User, r.Subscription, r.API)
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// BenchmarkDecodeAndDetect is the traffic function's work per core without storage:
// decode a 1,000-record APIM GatewayLogs batch of mixed traffic (about 1 KiB a record)
// and run every detector on it with the in-memory store. SetBytes is the real batch
// size, so MB/s is decode-and-detect throughput.
func BenchmarkDecodeAndDetect(b *testing.B) {
	const per, pool = 1000, 64
	batches := mixedTraffic(3, pool, per, t0)
	span := batches[pool-1][per-1].Time.Sub(batches[0][0].Time) + time.Second/100
	docs := make([][]byte, pool)
	size := 0
	for i, bt := range batches {
		docs[i] = diagnosticBatch(bt)
		size += len(docs[i])
	}
	e := testEngine(b, nil, NewMemoryStore(1_000_000, time.Hour))
	ctx := context.Background()
	opts := traffic.Options{Format: traffic.FormatAPIMDiagnostic}
	b.SetBytes(int64(size / pool))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch, err := traffic.Decode(docs[i%pool], opts)
		if err != nil || len(batch.Records) != per {
			b.Fatalf("decode: %v, %d records, %d set aside", err, len(batch.Records), len(batch.SetAside))
		}
		if _, err := e.Process(ctx, strconv.Itoa(i), batch.Records); err != nil {
			b.Fatal(err)
		}
		if i%pool == pool-1 { // next lap: the same traffic, later (event time moves on)
			b.StopTimer()
			for j, bt := range batches {
				for k := range bt {
					bt[k].Time = bt[k].Time.Add(span)
				}
				docs[j] = diagnosticBatch(bt)
			}
			b.StartTimer()
		}
	}
	// allocs/op over 1,000 is allocs per record.
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size/pool)/per, "bytes/record")
}
