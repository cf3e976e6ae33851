package traffic

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"
)

// fields is what one record's walk collects, as slices of the input (or of the
// decoder's scratch, for unescaped strings), before it becomes a Record.
type fields struct {
	time      []byte // event time, as written
	t         time.Time
	timeOK    bool // t is already parsed (combined lines)
	method    []byte
	target    []byte // request target: absolute URL or path?query
	bad       string // why the request is not HTTP (combined: judged by splitRequest)
	origURI   []byte // Application Gateway's originalRequestUriWithArgs, preferred to target
	host      []byte // host field of the log
	hostHdr   []byte // Host request header / Application Gateway originalHost: preferred
	peer      []byte // the immediate caller as the gateway saw it
	forwarded []byte // the configured forwarded header (or the combined log's trailing field)
	azSocket  []byte // X-Azure-SocketIP request header
	azClient  []byte // X-Azure-ClientIP request header, or Front Door's clientIp
	userAgent []byte
	api       []byte
	operation []byte
	sub       []byte
	user      []byte
	status    int64
	reqBytes  int64
	respBytes int64
	latency   time.Duration
	partTime  time.Duration // APIM clientTime + backendTime, when durationMs is missing
	hasLat    bool
}

// decoder turns one format's items into Records and SetAsides. Decode uses one per
// batch; a Scanner keeps one for the whole stream.
type decoder struct {
	opts    Options
	format  Format
	proxies []netip.Prefix
	fwdKey  []byte // the forwarded header, lowercased

	topKeys    *keySet // memberOf's filter for a record's top level
	headerKeys *keySet // and for logged request headers

	out  Batch
	n    int  // items so far (records and set-asides)
	halt bool // the rest of the current input cannot be read

	// Line bookkeeping for SetAside.Line: a fixed line (line mode), or counted in src.
	line     int
	src      []byte
	lineOff  int
	lineSeen int

	f       fields
	cur     cursor // jsonLine's
	scratch []byte // unescaped strings of the current item
	keyBuf  []byte
	fold    [foldLen]byte
	blob    []byte // a record's strings, before the one string conversion
	toks    [][2]int
	parts   [][]byte
}

func newDecoder(opts Options, format Format) *decoder {
	d := &decoder{opts: opts}
	for _, p := range opts.Trust.Proxies {
		if p.IsValid() {
			d.proxies = append(d.proxies, normPrefix(p))
		}
	}
	d.fwdKey = bytes.ToLower([]byte(opts.Trust.ForwardedHeader))
	d.headerKeys = headerKeys.with(string(d.fwdKey))
	if len(d.fwdKey) == 0 {
		d.headerKeys = anyKey // header compares "" with the keys the filter blanks
	}
	d.setFormat(format)
	return d
}

// setFormat sets the format the decoder reads (a Scanner decides it after the first
// lines), with the key filter of its records.
func (d *decoder) setFormat(format Format) {
	d.format, d.out.Format = format, format
	switch format {
	case FormatAPIMDiagnostic:
		d.topKeys = diagTopKeys
	case FormatAPIMLogAnalytics:
		d.topKeys = analyticsKeys
	default:
		d.topKeys = anyKey
	}
}

// lineOf returns the 1-based line of offset off in the current input.
func (d *decoder) lineOf(off int) int {
	if d.src == nil {
		return d.line
	}
	if off < d.lineOff {
		d.lineOff, d.lineSeen = 0, 0
	}
	d.lineSeen += bytes.Count(d.src[d.lineOff:off], newline)
	d.lineOff = off
	return d.line + d.lineSeen
}

var newline = []byte{'\n'}

// setAside records why b[start:end] was not decoded.
func (d *decoder) setAside(b []byte, start, end int, reason string) {
	d.out.SetAside = append(d.out.SetAside, SetAside{
		Index:   d.n,
		Line:    d.lineOf(start),
		Reason:  reason,
		Excerpt: excerpt(b[start:end]),
	})
	d.n++
}

// excerptLen bounds SetAside.Excerpt.
const excerptLen = 120

// excerpt returns the first 120 bytes of b, cut on a rune boundary, with invalid
// UTF-8 as U+FFFD and control characters as '.', so it can be logged as is.
func excerpt(b []byte) string {
	if len(b) > excerptLen {
		b = b[:excerptLen]
		for k := 0; k < utf8.UTFMax && len(b) > 0; k++ {
			if r, _ := utf8.DecodeLastRune(b); r != utf8.RuneError {
				break
			}
			b = b[:len(b)-1]
		}
		if len(b) == 0 { // nothing but invalid bytes: keep them, they become U+FFFD
			b = b[:excerptLen]
		}
	}
	clean := true
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			r = utf8.RuneError
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			r = '.'
		}
		out = append(out, r)
		b = b[n:]
	}
	return string(out)
}

// reset clears the per-item state.
func (d *decoder) reset() {
	d.f = fields{}
	d.scratch = d.scratch[:0]
}

// finish validates the collected fields and appends the Record, or sets the item
// b[start:end] aside.
func (d *decoder) finish(b []byte, start, end int) {
	f := &d.f
	t, ok := f.t, f.timeOK
	if !ok {
		if len(f.time) == 0 {
			d.setAside(b, start, end, "no time")
			return
		}
		if t, ok = parseTime(f.time); !ok {
			d.setAside(b, start, end, fmt.Sprintf("time %q not understood (or outside 1970-9999)", clip(f.time)))
			return
		}
	}
	method, target := f.method, f.target
	if len(f.origURI) > 0 {
		target = f.origURI
	}
	bad := f.bad
	if d.format != FormatCombined { // combined lines were judged by splitRequest
		method, target, bad = judgeRequest(method, target)
	}
	urlHost, path, query := splitTarget(target)
	host := f.hostHdr
	if len(host) == 0 {
		host = f.host
	}
	if len(host) == 0 {
		host = urlHost
	}

	r := Record{
		Time:          t,
		Status:        int(min(max(f.status, 0), 999)),
		RequestBytes:  max(f.reqBytes, 0),
		ResponseBytes: max(f.respBytes, 0),
		Latency:       f.latency,
	}
	if !f.hasLat {
		r.Latency = f.partTime
	}

	// Attribution. Front Door: the peer is socketIp; clientIp is Front Door's own
	// derivation (possibly from a client-sent X-Forwarded-For), used only as the
	// chain behind a trusted socketIp.
	chain := f.forwarded
	frontDoor := d.format == FormatFrontDoor
	if frontDoor {
		chain = f.azClient
	} else if len(chain) == 0 {
		chain = f.azSocket
		if len(chain) == 0 {
			chain = f.azClient
		}
	}
	peer, _ := parseHost(f.peer)
	r.Peer = peer
	if frontDoor && !peer.IsValid() {
		r.Note = NoteFrontDoorNoSocket
	} else {
		r.Client, r.Note = attribute(d.proxies, peer, chain)
	}

	// A request that was not HTTP counts for its client as a malformed request, when
	// the log says who sent it and that the gateway answered; otherwise there is
	// nothing to count it for.
	if bad != "" {
		switch {
		case !r.Client.IsValid():
			d.setAside(b, start, end, bad+"; not counted as a malformed request: no client address")
			return
		case r.Status <= 0:
			d.setAside(b, start, end, bad+"; not counted as a malformed request: no status")
			return
		}
		r.Malformed = true
	}

	// All strings of the record share one allocation: the blob is filled, converted
	// once, and each field is a substring of the result.
	bl := d.blob[:0]
	var spans [11][2]int
	put := func(k int, v []byte) {
		spans[k][0] = len(bl)
		bl = append(bl, v...)
		spans[k][1] = len(bl)
	}
	name, interned := internMethod(method)
	if !interned {
		put(0, method)
	}
	put(1, path)
	put(2, query)
	mark := len(bl)
	templated := false
	if !r.Malformed { // a malformed request is no operation: no template, no baseline
		bl, templated = appendTemplated(bl, path)
	}
	if templated {
		spans[3] = [2]int{mark, len(bl)}
	} else {
		bl = bl[:mark] // the template is the path itself
	}
	put(4, chain)
	put(5, f.api)
	put(6, f.operation)
	put(7, f.sub)
	put(8, f.user)
	put(9, f.userAgent)
	put(10, host)
	s := string(bl)
	d.blob = bl
	at := func(k int) string { return s[spans[k][0]:spans[k][1]] }
	if !interned {
		name = at(0)
	}
	r.Method = name
	r.Path = at(1)
	r.Query = at(2)
	if !r.Malformed {
		r.Template = r.Path
	}
	if templated {
		r.Template = at(3)
	}
	r.Forwarded = at(4)
	r.API = at(5)
	r.Operation = at(6)
	r.Subscription = at(7)
	r.User = at(8)
	r.UserAgent = at(9)
	r.Host = at(10)
	d.out.Records = append(d.out.Records, r)
	d.n++
}

// judgeRequest checks a JSON record's method and request target as splitRequest does
// a request line's, keeping what reads as a method and as a target.
func judgeRequest(method, target []byte) ([]byte, []byte, string) {
	var bad string
	if string(method) == "-" { // what a log writes for a field it has no value for
		method = nil
	}
	if string(target) == "-" {
		target = nil
	}
	switch {
	case len(method) == 0:
		bad = "no method"
	case !isMethod(method):
		bad = fmt.Sprintf("method %q is not an HTTP method", clip(method))
		method = nil
	}
	switch {
	case len(target) == 0:
		if bad == "" {
			bad = "no path"
		}
	case !isTarget(method, target):
		if bad == "" {
			bad = fmt.Sprintf("request target %q is not a path", clip(target))
		}
		target = nil
	}
	return method, target, bad
}

// internMethod returns the common methods as constants, saving their bytes.
func internMethod(m []byte) (string, bool) {
	switch string(m) {
	case "GET":
		return "GET", true
	case "POST":
		return "POST", true
	case "PUT":
		return "PUT", true
	case "DELETE":
		return "DELETE", true
	case "PATCH":
		return "PATCH", true
	case "HEAD":
		return "HEAD", true
	case "OPTIONS":
		return "OPTIONS", true
	}
	return "", false
}

// clip shortens a value quoted in a reason.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
