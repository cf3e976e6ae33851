package detect

import (
	"math"
	"strings"
	"unicode/utf8"
)

// compiled is a Config turned into the lookups Aggregate runs per record. It is built
// per call (a few microseconds), so a Config needs no hidden state.
type compiled struct {
	size, lateness int64
	burstSpan      int64 // seconds
	probe, auth    statusSet
	static         map[string]struct{} // lower-case, dot included
	loginExact     []string            // trailing slash trimmed
	loginSuffix    []string            // entries of two or more segments
	loginWords     map[string]struct{} // path segment words that make a login endpoint
	loginFail      statusSet           // answers that fail a login attempt
	redirSuffix    []string            // RedirectOnSuccess, matched as a suffix
	ignore         map[string]struct{} // lower-case
	perAPI         map[string]int
	markers        *markerIndex
}

type statusSet [10]uint64 // 0..639

func (s *statusSet) add(code int) {
	if code >= 0 && code < 640 {
		s[code/64] |= 1 << (code % 64)
	}
}

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code/64]&(1<<(code%64)) != 0
}

func compile(cfg *Config) *compiled {
	c := &compiled{
		size:     max(int64(cfg.Window.seconds()), 1),
		lateness: max(int64(cfg.AllowedLateness.seconds()), 0),
		static:   make(map[string]struct{}, len(cfg.Probing.StaticExtensions)),
		ignore:   make(map[string]struct{}, len(cfg.Enumeration.IgnoreParams)),
		perAPI:   cfg.Flood.PerAPI,
		markers:  defaultMarkers(),
	}
	c.burstSpan = max(int64(cfg.Flood.BurstSpan.seconds()), 1)
	for _, s := range cfg.Probing.Statuses {
		c.probe.add(s)
	}
	for _, s := range cfg.BruteForce.AuthStatuses {
		c.auth.add(s)
	}
	for _, e := range cfg.Probing.StaticExtensions {
		c.static[strings.ToLower(e)] = struct{}{}
	}
	for _, s := range cfg.BruteForce.AuthStatuses {
		c.loginFail.add(s)
	}
	for _, s := range cfg.BruteForce.LoginFailureStatuses {
		c.loginFail.add(s)
	}
	c.loginExact, c.loginSuffix = splitPaths(cfg.BruteForce.LoginPaths)
	// A web application may live under any prefix (/blog/wp-login.php): these match as
	// a suffix at a segment boundary whatever their length.
	for _, p := range cfg.BruteForce.RedirectOnSuccess {
		if p = strings.TrimSuffix(p, "/"); p != "" {
			c.redirSuffix = append(c.redirSuffix, p)
		}
	}
	c.loginWords = make(map[string]struct{}, len(cfg.BruteForce.LoginWords))
	for _, w := range cfg.BruteForce.LoginWords {
		c.loginWords[strings.ToLower(w)] = struct{}{}
	}
	for _, p := range cfg.Enumeration.IgnoreParams {
		c.ignore[strings.ToLower(p)] = struct{}{}
	}
	return c
}

func (d Duration) seconds() int64 { return int64(d) / 1e9 }

// isStatic reports whether path names a static resource by its extension.
func (c *compiled) isStatic(path string, buf []byte) bool {
	seg := path[strings.LastIndexByte(path, '/')+1:]
	dot := strings.LastIndexByte(seg, '.')
	if dot < 0 || len(seg)-dot > 16 {
		return false
	}
	return has(c.static, lower(buf, seg[dot:]))
}

// splitPaths sorts configured paths into those compared whole and those (of two or
// more segments) compared as a suffix, trailing slashes trimmed.
func splitPaths(paths []string) (exact, suffix []string) {
	for _, p := range paths {
		p = strings.TrimSuffix(p, "/")
		if p == "" {
			continue
		}
		if strings.Count(p, "/") >= 2 {
			suffix = append(suffix, p)
		} else {
			exact = append(exact, p)
		}
	}
	return exact, suffix
}

// isLogin reports whether path (or the operation template) is a login endpoint: a
// configured login path, or a segment made of a login word.
func (c *compiled) isLogin(path, template string, buf []byte) bool {
	return c.matchLogin(path, buf) || (template != "" && c.matchLogin(template, buf))
}

func (c *compiled) matchLogin(p string, buf []byte) bool {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimSuffix(p, "/")
	return matchPath(p, c.loginExact, c.loginSuffix) || c.loginSegment(p, buf)
}

// isRedirectLogin reports whether a login template is one whose success is a redirect
// (BruteForce.RedirectOnSuccess).
func (c *compiled) isRedirectLogin(p string) bool {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return matchPath(strings.TrimSuffix(p, "/"), nil, c.redirSuffix)
}

func matchPath(p string, exact, suffix []string) bool {
	for _, e := range exact {
		if strings.EqualFold(p, e) {
			return true
		}
	}
	for _, e := range suffix {
		if len(p) >= len(e) && strings.EqualFold(p[len(p)-len(e):], e) {
			return true
		}
	}
	return false
}

// loginSegment reports whether a segment of p, at any depth, is a login word, or is
// made of words joined by "-", "_" or "." one of which is ("admin-login.php",
// "login_check"), "sign"+"in" and "log"+"on" joined counting as "signin", "logon".
func (c *compiled) loginSegment(p string, buf []byte) bool {
	if len(c.loginWords) == 0 {
		return false
	}
	for p != "" {
		var seg string
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			seg, p = p, ""
		}
		if seg == "" || len(seg) > 64 || strings.IndexByte(seg, '{') >= 0 {
			continue
		}
		low := lower(buf, seg)
		prev := -1
		for i := 0; i <= len(low); i++ {
			if i < len(low) && low[i] != '-' && low[i] != '_' && low[i] != '.' {
				continue
			}
			word := low[prev+1 : i]
			if has(c.loginWords, word) {
				return true
			}
			if prev >= 0 && (string(word) == "in" || string(word) == "on") {
				// "sign-in", "log_on": the word before and this one, joined.
				start := prev - 1
				for start >= 0 && low[start] != '-' && low[start] != '_' && low[start] != '.' {
					start--
				}
				joined := append(append(make([]byte, 0, 16), low[start+1:prev]...), word...)
				if has(c.loginWords, joined) {
					return true
				}
			}
			prev = i
		}
	}
	return false
}

// has looks a lower-cased byte key up without allocating.
func has(m map[string]struct{}, k []byte) bool {
	_, ok := m[string(k)]
	return ok
}

// lower writes the ASCII lower case of s into buf (at most its capacity).
func lower(buf []byte, s string) []byte {
	buf = buf[:0]
	for i := 0; i < len(s) && len(buf) < cap(buf); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// pathIDs hashes the object ids of path: the path segments aligned, from the right,
// with the template segments that hold a "{parameter}". /api/v1/users/42/orders/7 under
// /users/{uid}/orders/{oid} is the id (42, 7). ok is false when the template has no
// parameter or does not align with the path.
func pathIDs(path, template string) (h, num uint64, ok bool) {
	if i := strings.IndexByte(template, '?'); i >= 0 {
		template = template[:i]
	}
	t, p := strings.TrimSuffix(template, "/"), strings.TrimSuffix(path, "/")
	h, n := seedID, 0
	for t != "" {
		ti := strings.LastIndexByte(t, '/')
		tseg := t[ti+1:]
		t = t[:max(ti, 0)]
		if p == "" {
			return 0, 0, false
		}
		pi := strings.LastIndexByte(p, '/')
		pseg := p[pi+1:]
		p = p[:max(pi, 0)]
		if strings.IndexByte(tseg, '{') >= 0 {
			if pseg == "" {
				return 0, 0, false
			}
			h = mix64(h*31 + hashString(seedID, pseg))
			if n == 0 {
				num = numericID(pseg) // the last id segment: /orders/{id}/items/{item} walks items
			}
			n++
		} else if !strings.EqualFold(tseg, pseg) {
			return 0, 0, false
		}
	}
	return h, num, n > 0
}

// numericID is a decimal id plus one, 0 when v is not a number of at most 18 digits.
func numericID(v string) uint64 {
	if v == "" || len(v) > 18 {
		return 0
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n + 1
}

// looksLikeID reports whether a query value looks like an object id: a number, a UUID,
// hex of 16 digits or more, or a high-entropy token of letters and digits.
func looksLikeID(v string) bool {
	n := len(v)
	if n == 0 || n > 128 {
		return false
	}
	digits, hex, token := true, true, true
	var letter, digit bool
	for i := 0; i < n; i++ {
		c := v[i]
		isD := c >= '0' && c <= '9'
		isL := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		isH := isD || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
		digits = digits && isD
		hex = hex && isH
		token = token && (isD || isL || c == '-' || c == '_')
		letter, digit = letter || isL, digit || isD
	}
	switch {
	case digits:
		return n <= 20
	case hex && n >= 16:
		return true
	case n == 36 && isUUID(v):
		return true
	case token && letter && digit && n >= 16:
		return entropy(v) >= 3.5
	}
	return false
}

func isUUID(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var freq [256]uint8
	for i := 0; i < len(s); i++ {
		freq[s[i]]++
	}
	h := 0.0
	for _, f := range freq {
		if f > 0 {
			p := float64(f) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
