package flow

import "testing"

func TestAuditSubjectAbout(t *testing.T) {
	for _, c := range []struct {
		subject, target string
		want            bool
	}{
		{"block_waf:45.153.160.201", "45.153.160.201", true},
		{"block_waf:45.153.160.201", "45.153.160.2", false},
		{"block_waf:2001:db8::1", "2001:db8::1", true},
		{"block_waf:2001:db8::10", "2001:db8::1", false},
		{"inc-abc", "inc-abc", true},
		{"inc-abc.0", "inc-abc", true},
		{"inc-abcd.0", "inc-abc", false},
		{"dir:local/apim global", "dir:local/apim", true},
		{"45.153.160.0/24", "45.153.160.0/24", true},
		{"throttle:sub-1", "sub-1", true},
		{"throttle:sub-10", "sub-1", false},
		{"198.51.100.7/32", "198.51.100.7", true},
		{"2001:db8::1/128", "2001:db8::1", true},
		{"198.51.100.70/32", "198.51.100.7", false},
	} {
		if got := about(c.subject, c.target); got != c.want {
			t.Errorf("about(%q, %q) = %v", c.subject, c.target, got)
		}
	}
}
