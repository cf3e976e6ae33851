package trafficsim

import (
	"fmt"
	"math/rand/v2"
)

// User agents, built from the shapes browsers and libraries send, with versions drawn
// so that a population shows the spread a real one does.

func browserUA(r *rand.Rand) string {
	chrome := between(r, 118, 134)
	switch r.IntN(9) {
	case 0, 1, 2:
		return fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36", chrome)
	case 3:
		return fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36 Edg/%d.0.0.0", chrome, chrome)
	case 4:
		return fmt.Sprintf("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36", chrome)
	case 5:
		v := between(r, 115, 135)
		return fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:%d.0) Gecko/20100101 Firefox/%d.0", v, v)
	case 6:
		return fmt.Sprintf("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%d.%d Safari/605.1.15",
			between(r, 16, 18), between(r, 0, 6))
	case 7:
		ios := between(r, 16, 18)
		return fmt.Sprintf("Mozilla/5.0 (iPhone; CPU iPhone OS %d_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%d.%d Mobile/15E148 Safari/604.1",
			ios, between(r, 0, 6), ios, between(r, 0, 6))
	default:
		return fmt.Sprintf("Mozilla/5.0 (Linux; Android %d; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Mobile Safari/537.36",
			between(r, 11, 15), chrome)
	}
}

// officeUA is a managed corporate desktop: Edge or Chrome on Windows.
func officeUA(r *rand.Rand, chrome int) string {
	if chance(r, 0.6) {
		return fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36 Edg/%d.0.0.0", chrome, chrome)
	}
	return fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36", chrome)
}

// mobileAppUA is the shop's own app, on iOS or Android, in one of the versions out there.
func mobileAppUA(r *rand.Rand, app string) string {
	ver := fmt.Sprintf("%d.%d.%d", between(r, 4, 5), between(r, 0, 9), between(r, 0, 4))
	if chance(r, 0.45) {
		return fmt.Sprintf("%s/%s (iPhone; iOS %d.%d; Scale/3.00)", app, ver, between(r, 16, 18), between(r, 0, 6))
	}
	if chance(r, 0.5) {
		return fmt.Sprintf("%s/%s (Android %d; %s) okhttp/4.12.0", app, ver, between(r, 11, 15),
			pick(r, []string{"Pixel 8", "SM-S921B", "SM-A546B", "moto g84 5G", "2201117TY", "CPH2581"}))
	}
	return fmt.Sprintf("Dalvik/2.1.0 (Linux; U; Android %d; %s Build/UQ1A.240205.004)", between(r, 11, 15),
		pick(r, []string{"Pixel 7a", "SM-G991B", "SM-A256B", "M2101K6G"}))
}

var machineUAs = []string{
	"python-requests/2.32.3", "python-requests/2.31.0", "Go-http-client/2.0", "Go-http-client/1.1",
	"Apache-HttpClient/4.5.14 (Java/17.0.11)", "Apache-HttpClient/5.3.1 (Java/21.0.3)", "axios/1.7.7", "node-fetch/1.0",
	"okhttp/4.12.0", "curl/8.5.0", "Microsoft-Power-Automate", "PostmanRuntime/7.42.0", "RestSharp/110.2.0.0",
	"Azure-Logic-Apps/1.0", "Java-http-client/17.0.11",
}

// Scanner and tool identifications, as those tools announce themselves.
var (
	scannerUAs = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36 Nuclei",
		"Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
		"sqlmap/1.8.4#stable (https://sqlmap.org)",
		"Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:004213)",
		"Mozilla/5.0 zgrab/0.x",
		"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
		"WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
		"l9explore/1.2.2",
		"Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
		"masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
	}
	dirScannerUAs = []string{
		"gobuster/3.6", "Fuzz Faster U Fool v2.1.0-dev", "feroxbuster/2.10.4", "dirsearch/0.4.3",
		"DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
	}
	toolUAs = []string{
		"python-requests/2.31.0", "python-httpx/0.27.0", "Go-http-client/1.1", "curl/7.88.1", "Mozilla/5.0",
		"okhttp/3.14.9", "Mozilla/5.0 (Hydra)", "aiohttp/3.9.5", "Java/1.8.0_392", "",
	}
)
