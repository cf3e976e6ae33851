package trafficsim

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want []string // fields the error must name, one line each; none: valid
		also string   // a detail the message must carry
	}{
		{"default", func(*Config) {}, nil, ""},
		{"one hour, nothing but clients", func(c *Config) {
			*c = Config{Start: c.Start, Duration: time.Hour, Clients: 10, Mix: Mix{Mobile: 1}}
		}, nil, ""},
		{"24 hours", func(c *Config) { c.Duration = 24 * time.Hour }, nil, ""},
		{"no start", func(c *Config) { c.Start = time.Time{} }, []string{"start"}, ""},
		{"too short", func(c *Config) { c.Duration = 59 * time.Minute }, []string{"duration"}, ""},
		{"too long", func(c *Config) { c.Duration = 25 * time.Hour }, []string{"duration"}, ""},
		{"negative counts", func(c *Config) {
			c.Clients, c.NATUsers, c.ProxyUsers, c.Crawlers, c.Integrations = -1, -1, -1, -1, -1
			c.Monitors, c.BlogReaders, c.BlogAuthors, c.Deploys, c.Attackers = -1, -1, -1, -1, -1
		}, []string{"clients", "nat_users", "proxy_users", "crawlers", "integrations", "monitors", "blog_readers",
			"blog_authors", "deploys", "attackers"}, ""},
		{"count too large", func(c *Config) { c.Clients = 1_000_001 }, []string{"clients"}, ""},
		{"negative mix", func(c *Config) { c.Mix.Machine = -0.1 }, []string{"mix"}, ""},
		{"empty mix with clients", func(c *Config) { c.Mix = Mix{} }, []string{"mix"}, ""},
		{"unknown class", func(c *Config) { c.Attacks["ddos"] = 1 }, []string{"attacks"}, `"ddos"`},
		{"negative weight", func(c *Config) { c.Attacks[Flood] = -1 }, []string{"attacks"}, "flood"},
		{"attackers without weights", func(c *Config) { c.Attacks = map[Class]float64{Flood: 0} }, []string{"attacks"}, ""},
		{"edge proxy over 1", func(c *Config) { c.EdgeProxy = 1.5 }, []string{"edge_proxy"}, ""},
		{"edge proxy negative", func(c *Config) { c.EdgeProxy = -0.5 }, []string{"edge_proxy"}, ""},
		{"vary too large", func(c *Config) { c.Vary = 0.95 }, []string{"vary"}, ""},
		{"everything at once", func(c *Config) {
			c.Start, c.Duration, c.Monitors, c.Mix, c.Attacks, c.EdgeProxy, c.Vary = time.Time{}, 0, -3, Mix{}, nil, 2, -1
		}, []string{"start", "duration", "monitors", "mix", "attacks", "edge_proxy", "vary"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid config accepted: %v", c)
			}
			msg := err.Error()
			for _, f := range tc.want {
				if !strings.Contains(msg, "trafficsim: "+f+": ") {
					t.Errorf("error does not name %s:\n%s", f, msg)
				}
			}
			if !strings.Contains(msg, tc.also) {
				t.Errorf("error does not say %s:\n%s", tc.also, msg)
			}
			// Every problem at once: one line each.
			if lines := strings.Count(msg, "\n") + 1; lines != len(tc.want) {
				t.Errorf("%d problems reported, want %d:\n%s", lines, len(tc.want), msg)
			}
		})
	}
}

func TestGenerateRefusesInvalidConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Generate accepted a config without a start time")
		}
	}()
	c := DefaultConfig()
	c.Start = time.Time{}
	Generate(c, 1)
}
