package trafficsim

import (
	"bufio"
	"hash/fnv"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/apiguard/apiguard/shared/traffic"
)

// Writers turn records into the files apiguard reads, so that `apiguard replay` can
// be run (and timed) on generated traffic. Both keep the records' order.

// WriteCombined writes nginx/Apache combined lines with a trailing
// "$http_x_forwarded_for" field:
//
//	peer - user [02/Mar/2026:08:00:01 +0000] "GET /path?query HTTP/1.1" 200 5321 "-" "agent" "forwarded"
//
// The user field is Record.User ("-" when empty). A Malformed record's request field
// is non-HTTP junk (a TLS ClientHello, escaped as nginx escapes it) with its status
// and size. Not carried: host, API, operation, subscription, request size, latency,
// and the time's fraction of a second.
func WriteCombined(w io.Writer, recs []traffic.Record) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for i := range recs {
		r := &recs[i]
		line = line[:0]
		peer := r.Peer
		if !peer.IsValid() {
			peer = r.Client
		}
		if peer.IsValid() {
			line = peer.AppendTo(line)
		} else {
			line = append(line, '-')
		}
		line = append(line, " - "...)
		line = appendField(line, r.User)
		line = append(line, " ["...)
		line = r.Time.UTC().AppendFormat(line, "02/Jan/2006:15:04:05 -0700")
		line = append(line, "] \""...)
		if r.Malformed {
			line = append(line, tlsJunk(recordHash(r))...)
		} else {
			line = appendEscaped(line, r.Method)
			line = append(line, ' ')
			line = appendEscaped(line, r.Path)
			if r.Query != "" {
				line = append(line, '?')
				line = appendEscaped(line, r.Query)
			}
			line = append(line, " HTTP/1.1"...)
		}
		line = append(line, "\" "...)
		line = strconv.AppendInt(line, int64(r.Status), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, r.ResponseBytes, 10)
		line = append(line, ` "-" "`...)
		line = appendQuoted(line, r.UserAgent)
		line = append(line, `" "`...)
		line = appendQuoted(line, r.Forwarded)
		line = append(line, "\"\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendField writes a bare field: "-" when empty, spaces escaped.
func appendField(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c == '"' || c < 0x20 || c >= 0x7f {
			dst = appendHexEscape(dst, c)
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// appendQuoted writes the content of a quoted field, "-" when empty.
func appendQuoted(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return appendEscaped(dst, s)
}

// appendEscaped escapes as nginx does: '"', '\' and bytes outside printable ASCII
// become \xHH.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			dst = appendHexEscape(dst, c)
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

func appendHexEscape(dst []byte, c byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
}

// recordHash picks a malformed record's junk, the same for the same record.
func recordHash(r *traffic.Record) uint64 {
	h := fnv.New64a()
	var b [8]byte
	n := r.Time.UnixNano()
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	h.Write(b[:])
	h.Write(r.Client.AsSlice())
	return h.Sum64()
}

// diagBatch is how many records one {"records":[...]} document holds, as Azure
// Monitor batches them.
const diagBatch = 1000

// WriteAPIMDiagnostic writes Azure Monitor GatewayLogs documents, one per line, each
// {"records":[...]} of up to 1,000 records, with the request headers logged
// (User-Agent and, when set, X-Forwarded-For). Malformed records are left out: a
// request that is not HTTP never reaches API Management, which logs nothing for it.
func WriteAPIMDiagnostic(w io.Writer, recs []traffic.Record) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		buf = append(buf, "]}\n"...)
		_, err := bw.Write(buf)
		buf, n = buf[:0], 0
		return err
	}
	for i := range recs {
		r := &recs[i]
		if r.Malformed {
			continue
		}
		if n == 0 {
			buf = append(buf, `{"records":[`...)
		} else {
			buf = append(buf, ',')
		}
		buf = appendDiagRecord(buf, r)
		if n++; n == diagBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return bw.Flush()
}

const diagResource = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG-API/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APIM-GATEWAY"

func appendDiagRecord(b []byte, r *traffic.Record) []byte {
	ms := r.Latency.Milliseconds()
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.0000000Z")
	b = append(b, `","resourceId":"`+diagResource+`","operationName":"Microsoft.ApiManagement/GatewayLogs","category":"GatewayLogs","durationMs":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"callerIpAddress":"`...)
	if r.Peer.IsValid() {
		b = r.Peer.AppendTo(b)
	}
	b = append(b, `","correlationId":"`...)
	b = appendCorrelation(b, recordHash(r))
	b = append(b, `","location":"West Europe","isRequestSuccess":`...)
	b = strconv.AppendBool(b, r.Status > 0 && r.Status < 400)
	b = append(b, `,"httpStatusCodeCategory":"`...)
	b = append(b, byte('0'+r.Status/100%10), 'x', 'x')
	b = append(b, `","properties":{"method":`...)
	b = appendJSON(b, r.Method)
	host := r.Host
	if host == "" {
		host = "apim-gateway.azure-api.net"
	}
	b = append(b, `,"url":"https://`...)
	b = appendJSONBody(b, host)
	b = appendJSONBody(b, r.Path)
	if r.Query != "" {
		b = append(b, '?')
		b = appendJSONBody(b, r.Query)
	}
	b = append(b, `","clientProtocol":"HTTP/1.1","responseCode":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"requestSize":`...)
	b = strconv.AppendInt(b, r.RequestBytes, 10)
	b = append(b, `,"responseSize":`...)
	b = strconv.AppendInt(b, r.ResponseBytes, 10)
	b = append(b, `,"cache":"none","backendTime":`...)
	b = strconv.AppendInt(b, max(ms-2, 0), 10)
	b = append(b, `,"clientTime":`...)
	b = strconv.AppendInt(b, min(ms, 2), 10)
	b = append(b, `,"apiId":`...)
	b = appendJSON(b, r.API)
	b = append(b, `,"operationId":`...)
	b = appendJSON(b, r.Operation)
	b = append(b, `,"userId":`...)
	b = appendJSON(b, r.User)
	b = append(b, `,"apimSubscriptionId":`...)
	b = appendJSON(b, r.Subscription)
	b = append(b, `,"requestHeaders":{"User-Agent":`...)
	b = appendJSON(b, r.UserAgent)
	if r.Forwarded != "" {
		b = append(b, `,"X-Forwarded-For":`...)
		b = appendJSON(b, r.Forwarded)
	}
	return append(b, "}}}"...)
}

// WriteAPIMLogAnalytics writes ApiManagementGatewayLogs rows as a Log Analytics
// workspace exports them (a data export rule, or a query piped to a file): one JSON
// row per line, with every column the table carries for a request, not only those
// apiguard reads, so that a benchmark reads what a real export holds. Request headers
// are logged (User-Agent, Host, Accept, X-Forwarded-For when set), response headers
// too. Malformed records are left out, as in WriteAPIMDiagnostic.
func WriteAPIMLogAnalytics(w io.Writer, recs []traffic.Record) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	for i := range recs {
		r := &recs[i]
		if r.Malformed {
			continue
		}
		buf = appendAnalyticsRow(buf[:0], r)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

const (
	analyticsTenant   = "5c4b3a21-6f2c-1a0b-1f2e-4d3c9b8a7e6d"
	analyticsResource = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-api/providers/microsoft.apimanagement/service/apim-gateway"
)

func appendAnalyticsRow(b []byte, r *traffic.Record) []byte {
	ms := r.Latency.Milliseconds()
	backend := max(ms-2, 0)
	h := recordHash(r)
	host := r.Host
	if host == "" {
		host = "apim-gateway.azure-api.net"
	}
	b = append(b, `{"TenantId":"`+analyticsTenant+`","TimeGenerated":"`...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.0000000Z")
	b = append(b, `","OperationName":"Microsoft.ApiManagement/GatewayLogs","CorrelationId":"`...)
	b = appendCorrelation(b, h)
	b = append(b, `","Region":"West Europe","IsRequestSuccess":`...)
	b = strconv.AppendBool(b, r.Status > 0 && r.Status < 400)
	b = append(b, `,"Category":"GatewayLogs","TotalTime":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"CallerIpAddress":"`...)
	if r.Peer.IsValid() {
		b = r.Peer.AppendTo(b)
	}
	b = append(b, `","Method":`...)
	b = appendJSON(b, r.Method)
	b = append(b, `,"Url":"https://`...)
	b = appendJSONBody(b, host)
	b = appendJSONBody(b, r.Path)
	if r.Query != "" {
		b = append(b, '?')
		b = appendJSONBody(b, r.Query)
	}
	b = append(b, `","ClientProtocol":"HTTP/1.1","ResponseCode":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"BackendMethod":`...)
	b = appendJSON(b, r.Method)
	b = append(b, `,"BackendUrl":"https://backend.internal.contoso.com`...)
	b = appendJSONBody(b, r.Path)
	b = append(b, `","BackendResponseCode":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"BackendProtocol":"HTTP/1.1","RequestSize":`...)
	b = strconv.AppendInt(b, r.RequestBytes, 10)
	b = append(b, `,"ResponseSize":`...)
	b = strconv.AppendInt(b, r.ResponseBytes, 10)
	b = append(b, `,"Cache":"none","CacheTime":0,"BackendTime":`...)
	b = strconv.AppendInt(b, backend, 10)
	b = append(b, `,"ClientTime":`...)
	b = strconv.AppendInt(b, ms-backend, 10)
	b = append(b, `,"ApiId":`...)
	b = appendJSON(b, r.API)
	b = append(b, `,"OperationId":`...)
	b = appendJSON(b, r.Operation)
	b = append(b, `,"ProductId":`...)
	if r.Subscription != "" {
		b = append(b, `"starter"`...)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"UserId":`...)
	b = appendJSON(b, r.User)
	b = append(b, `,"ApimSubscriptionId":`...)
	b = appendJSON(b, r.Subscription)
	b = append(b, `,"BackendId":`...)
	b = appendJSON(b, r.API)
	source, reason, message := analyticsError(r.Status)
	b = append(b, `,"LastErrorElapsed":`...)
	if source != "" {
		b = strconv.AppendInt(b, backend, 10)
	} else {
		b = append(b, '0')
	}
	b = append(b, `,"LastErrorSource":"`+source+`","LastErrorScope":"","LastErrorSection":"","LastErrorReason":"`+reason+
		`","LastErrorMessage":"`+message+`","ApiRevision":"1","ClientTlsVersion":"1.3","RequestHeaders":{"Host":`...)
	b = appendJSON(b, host)
	b = append(b, `,"User-Agent":`...)
	b = appendJSON(b, r.UserAgent)
	b = append(b, `,"Accept":"application/json, text/plain, */*"`...)
	if r.Forwarded != "" {
		b = append(b, `,"X-Forwarded-For":`...)
		b = appendJSON(b, r.Forwarded)
	}
	b = append(b, `},"ResponseHeaders":{"Content-Type":"application/json; charset=utf-8","Content-Length":"`...)
	b = strconv.AppendInt(b, r.ResponseBytes, 10)
	b = append(b, `","Request-Context":"appId=cid-v1:`...)
	b = appendCorrelation(b, h>>7)
	b = append(b, `"},"Errors":null,"IsMasterTrace":false,"IsTraceAllowed":false,"IsTraceExpired":false,"IsTraceRequested":false,`+
		`"TraceRecords":null,"SourceSystem":"Azure","Type":"ApiManagementGatewayLogs","_ResourceId":"`+analyticsResource+`"}`...)
	return b
}

// analyticsError is what API Management logs as the last error of a failed request:
// the gateway's own errors (rate limit, backend unreachable), nothing for an error
// the backend answered.
func analyticsError(status int) (source, reason, message string) {
	switch {
	case status == 429:
		return "rate-limit-by-key", "RateLimitExceeded", "Rate limit is exceeded."
	case status == 502 || status == 504:
		return "forward-request", "BackendConnectionFailure", "The backend did not answer in time."
	}
	return "", "", ""
}

// appendCorrelation writes a UUID-shaped correlation id from h.
func appendCorrelation(b []byte, h uint64) []byte {
	const hexDigits = "0123456789abcdef"
	x := h ^ h<<29 ^ 0x9e3779b97f4a7c15
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b = append(b, '-')
		}
		v := h
		if i >= 16 {
			v = x
		}
		b = append(b, hexDigits[v>>(4*(i%16))&15])
	}
	return b
}

func appendJSON(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONBody(b, s)
	return append(b, '"')
}

// appendJSONBody escapes s for a JSON string: quotes, backslashes and control
// characters; invalid UTF-8 becomes U+FFFD.
func appendJSONBody(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
