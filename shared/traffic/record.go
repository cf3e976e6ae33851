// Package traffic decodes gateway traffic logs (APIM GatewayLogs and
// ApiManagementGatewayLogs rows, Application Gateway and Front Door access logs,
// combined-format access logs) into one compact Record, and attributes each request to
// its client without trusting spoofable headers. See README.md.
package traffic

import (
	"net/netip"
	"time"
)

// Record is one request as the detectors see it, whatever log it came from.
type Record struct {
	Time   time.Time  // event time (UTC): when the gateway saw the request
	Client netip.Addr // the attributed client (see Attribution); invalid when unknown
	Peer   netip.Addr // the immediate caller as the gateway saw it (a proxy, when one is in front)
	// Forwarded is the raw forwarded chain (X-Forwarded-For, or Front Door's client
	// address) as logged, kept as evidence; never trusted beyond known proxies.
	Forwarded string
	Method    string
	Path      string // URL path, without query string
	Query     string // raw query string, without '?'
	// Template is the operation's path template when the log names it (APIM operation
	// url template) or else the path with id-like segments replaced by "{id}".
	Template     string
	API          string // APIM API id ("" when the log has none)
	Operation    string // APIM operation id ("" when the log has none)
	Status       int
	RequestBytes int64
	// ResponseBytes is what the gateway sent back.
	ResponseBytes int64
	Latency       time.Duration
	Subscription  string // APIM subscription id, "" when none
	User          string // APIM user id or token subject, "" when none
	UserAgent     string
	Host          string
	// Malformed is set when the request itself was not HTTP (a TLS handshake sent to the
	// HTTP port, binary bytes, an empty or truncated request line) while the log still
	// names the client and the status: it counts for that client as a probe. Method and
	// Path then hold what could be read, possibly nothing.
	Malformed bool
	// Note says why attribution fell back (Client is the proxy, or unknown) when it
	// did: a trusted proxy with no usable forwarded entry, an unparseable entry, a
	// Front Door record without socketIp. "" when attribution was clean.
	Note string
}
