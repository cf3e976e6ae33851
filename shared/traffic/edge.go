package traffic

import "time"

// Application Gateway and Front Door access logs. Both arrive as Azure Monitor
// records ({"records":[...]}, or one per line) with the request in properties; the
// members of properties are also accepted at the top level, which reads the flat
// rows of the resource-specific Log Analytics tables (AGWAccessLogs) the same way.

// appGatewayTop reads one member of an ApplicationGatewayAccessLog record.
func (d *decoder) appGatewayTop(c *cursor, key []byte) {
	switch string(key) {
	case "time", "timestamp", "timegenerated":
		d.f.time = d.text(c)
	case "properties":
		d.walkNested(c, d.appGatewayProperty)
	default:
		d.appGatewayProperty(c, key)
	}
}

// appGatewayProperty reads one member of an Application Gateway record's properties.
// clientIP is the address the gateway saw (its TCP peer); the log has no
// X-Forwarded-For, so the peer is the client unless it is a trusted proxy.
func (d *decoder) appGatewayProperty(c *cursor, key []byte) {
	f := &d.f
	switch string(key) {
	case "clientip":
		f.peer = d.text(c)
	case "httpmethod":
		f.method = d.text(c)
	case "requesturi":
		f.target = d.text(c)
	case "originalrequesturiwithargs":
		f.origURI = d.text(c) // the URI as the client sent it, before any rewrite
	case "httpstatus":
		f.status = d.number(c)
	case "sentbytes":
		f.respBytes = d.number(c)
	case "receivedbytes":
		f.reqBytes = d.number(c)
	case "timetaken":
		f.latency, f.hasLat = parseDuration(d.text(c), time.Second), true
	case "useragent":
		f.userAgent = d.text(c)
	case "host":
		f.host = d.text(c)
	case "originalhost":
		f.hostHdr = d.text(c) // the Host the client sent, before any rewrite
	default:
		c.skip()
	}
}

// frontDoorTop reads one member of a FrontDoorAccessLog record.
func (d *decoder) frontDoorTop(c *cursor, key []byte) {
	switch string(key) {
	case "time", "timegenerated":
		d.f.time = d.text(c)
	case "properties":
		d.walkNested(c, d.frontDoorProperty)
	default:
		d.frontDoorProperty(c, key)
	}
}

// frontDoorProperty reads one member of a Front Door record's properties. Counts
// and times are strings there; number reads both.
func (d *decoder) frontDoorProperty(c *cursor, key []byte) {
	f := &d.f
	switch string(key) {
	case "socketip":
		f.peer = d.text(c)
	case "clientip":
		f.azClient = d.text(c)
	case "httpmethod":
		f.method = d.text(c)
	case "requesturi":
		f.target = d.text(c)
	case "httpstatuscode":
		f.status = d.number(c)
	case "responsebytes":
		f.respBytes = d.number(c)
	case "requestbytes":
		f.reqBytes = d.number(c)
	case "timetaken":
		f.latency, f.hasLat = parseDuration(d.text(c), time.Second), true
	case "useragent":
		f.userAgent = d.text(c)
	case "hostname":
		f.host = d.text(c)
	default:
		c.skip()
	}
}
